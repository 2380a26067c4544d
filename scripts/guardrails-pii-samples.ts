/**
 * Generates tests/fixtures/guardrails/pii-samples.json, the labelled set scripts/guardrails-precision.ts
 * measures the personal-data detector on: realistic French, German and English sentences whose
 * identifiers are drawn from a seeded random source and given computed check digits (or deliberately
 * broken ones), so no real person's data is in it. Rerun only to change the set: `npx tsx scripts/guardrails-pii-samples.ts`.
 */
import { writeFileSync } from "node:fs";
import { composeIBAN, isValidIBAN, friendlyFormatIBAN } from "ibantools";
import { checkVAT, germany, italy, spain, belgium, netherlands, austria } from "jsvat";
import { parsePhoneNumberFromString } from "libphonenumber-js/max";
import * as C from "../server/guardrails/pii-checksums";

let seed = 20261202;
const rnd = () => { seed |= 0; seed = (seed + 0x6d2b79f5) | 0; let t = Math.imul(seed ^ (seed >>> 15), 1 | seed); t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t; return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
const int = (n: number) => Math.floor(rnd() * n);
const digits = (n: number) => Array.from({ length: n }, () => int(10)).join("");
const pick = <T,>(a: T[]) => a[int(a.length)];
const pad = (n: number, w: number) => String(n).padStart(w, "0");
const group = (s: string, sizes: number[], sep = " ") => { const out: string[] = []; let i = 0; for (const z of sizes) { out.push(s.slice(i, i + z)); i += z; } if (i < s.length) out.push(s.slice(i)); return out.join(sep); };

function iban(cc: string, len: number, bank = "") { for (;;) { const v = composeIBAN({ countryCode: cc, bban: bank + digits(len) }); if (v && isValidIBAN(v)) return v; } }
function badIban(v: string) { for (;;) { const i = 4 + int(v.length - 4); const c = v[i]; if (!/\d/.test(c)) continue; const w = v.slice(0, i) + ((Number(c) + 1 + int(8)) % 10) + v.slice(i + 1); if (!isValidIBAN(w)) return w; } }
const fmtIban = (v: string) => friendlyFormatIBAN(v)!;
function card(prefix: string, len: number) { const body = prefix + digits(len - prefix.length - 1); return body + C.luhnCheckDigit(body); }
function badLuhn(v: string) { const last = Number(v[v.length - 1]); return v.slice(0, -1) + ((last + 1 + int(8)) % 10); }
function siren() { const b = String(1 + int(9)) + digits(7); return b + C.luhnCheckDigit(b); }
function siret(s = siren()) { const b = s + digits(4); return b + C.luhnCheckDigit(b); }
function nir(corsica = false) { const body = String(pick([1, 2])) + pad(50 + int(50), 2) + pad(1 + int(12), 2) + (corsica ? pick(["2A", "2B"]) : pad(pick([75, 69, 13, 33, 59, 67, 31, 44, 6, 34]), 2)) + pad(1 + int(900), 3) + pad(1 + int(999), 3); return body + pad(C.nirKey(body)!, 2); }
const fmtNir = (v: string) => group(v, [1, 2, 2, 2, 3, 3, 2]);
function frVat(s = siren()) { return "FR" + pad((12 + 3 * (Number(s) % 97)) % 97, 2) + s; }
function vatBy(prefix: string, gen: () => string, country: any) { for (;;) { const v = prefix + gen(); if (checkVAT(v, [country]).isValid) return v; } }
function deTaxId() { for (;;) { const b = String(1 + int(9)) + digits(9); const v = b + C.iso7064Mod11_10(b); if (C.deTaxIdValid(v)) return v; } }
function bsn() { for (;;) { const v = digits(9); if (v[0] !== "0" && C.nlBsnValid(v)) return v; } }
function beNn() { const yy = pad(50 + int(49), 2), mm = pad(1 + int(12), 2), dd = pad(1 + int(28), 2), seq = pad(1 + int(997), 3); const body = yy + mm + dd + seq; return body + pad(97 - (Number(body) % 97), 2); }
const fmtBe = (v: string) => `${v.slice(0, 2)}.${v.slice(2, 4)}.${v.slice(4, 6)}-${v.slice(6, 9)}.${v.slice(9)}`;
function dni() { const n = 10000000 + int(89999999); return pad(n, 8) + C.dniLetter(n); }
function nie() { const p = int(3); const n = int(9999999); return "XYZ"[p] + pad(n, 7) + C.dniLetter(Number(String(p) + pad(n, 7))); }
function cf() { const L = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"; const l = (n: number) => Array.from({ length: n }, () => L[int(26)]).join(""); const b = l(6) + pad(50 + int(49), 2) + pick([..."ABCDEHLMPRST"]) + pad(1 + int(70), 2) + pick([..."ABCDEFGHILM"]) + pad(1 + int(999), 3); return b + C.itFiscalCodeCheck(b); }
function phone(country: any, gen: () => string) { for (;;) { const v = gen(); if (parsePhoneNumberFromString(v, country)?.isValid()) return v; } }
const frMobile = () => phone("FR", () => `0${pick([6, 7])} ${digits(2)} ${digits(2)} ${digits(2)} ${digits(2)}`);
const frIntl = () => phone("FR", () => `+33 ${pick([6, 7])} ${digits(2)} ${digits(2)} ${digits(2)} ${digits(2)}`);
const frLand = () => phone("FR", () => `0${pick([1, 2, 3, 4, 5])}.${digits(2)}.${digits(2)}.${digits(2)}.${digits(2)}`);
const deLand = () => phone("DE", () => `030 ${pick([2, 3, 4, 6, 8])}${digits(6)}`);
const deIntl = () => phone("DE", () => `+49 ${pick(["30", "89", "40", "221"])} ${pick([2, 3, 4, 5])}${digits(6)}`);
const deMobile = () => phone("DE", () => `0${pick(["151", "160", "171", "176"])} ${digits(8)}`);
const gbPhone = () => phone("GB", () => `+44 20 7946 0${digits(3)}`);
const gbNat = () => phone("GB", () => `020 7946 0${digits(3)}`);
// Numbers that fail every check of their length (negatives); re-drawn until they do.
function failing(len: number, first = "123456789") { for (;;) { const v = pick([...first]) + digits(len - 1); if (!C.luhnValid(v) && !C.nlBsnValid(v) && !C.deTaxIdValid(v) && !C.beNationalNumberValid(v) && !C.nirValid(v) && !C.siretValid(v)) return v; } }

type Exp = { type: string; text: string };
const samples: { id: string; language: string; text: string; expected: Exp[] }[] = [];
let n = 0;
function add(language: string, kind: string, parts: (string | number | [string, string])[]) {
  let text = ""; const expected: Exp[] = [];
  for (const p of parts) { if (!Array.isArray(p)) text += String(p); else { text += p[1]; expected.push({ type: p[0], text: p[1] }); } }
  samples.push({ id: `${language}-${kind}-${++n}`, language, text, expected });
}
const E = (type: string, text: string): [string, string] => [type, text];

for (let k = 0; k < 6; k++) {
  const fr = iban("FR", 23), de = iban("DE", 18);
  add("fr", "invoice", ["Facture n° 2024-", digits(5), " du ", pad(1 + int(28), 2), "/", pad(1 + int(12), 2), "/2024. Montant TTC : 1 ", digits(3), ",", digits(2), " €. Merci de régler par virement sur le compte ", E("IBAN", fmtIban(fr)), " (BIC BNPAFRPPXXX) avant le 15 du mois."]);
  add("de", "invoice", ["Rechnung Nr. ", digits(6), " vom ", pad(1 + int(28), 2), ".", pad(1 + int(12), 2), ".2025 — Betrag ", digits(3), ",", digits(2), " EUR. Bitte überweisen Sie auf ", E("IBAN", fmtIban(de)), ", Verwendungszweck ", digits(8), "."]);
  add("en", "invoice", ["Invoice INV-", digits(6), ": total £", digits(3), ".", digits(2), ". Please pay to IBAN ", E("IBAN", k % 2 ? iban("GB", 14, "WXYZ") : fmtIban(iban("GB", 14, "WXYZ"))), " quoting order #", digits(7), "."]);
  add("fr", "invoice-bad", ["Attention, l'IBAN ", fmtIban(badIban(fr)), " indiqué sur la facture précédente est erroné (clé invalide)."]);
  add("de", "invoice-bad", ["Die IBAN ", fmtIban(badIban(de)), " ist ungültig, bitte prüfen Sie die Prüfziffer."]);
}
for (let k = 0; k < 6; k++) {
  const s = siren(), t = siret(s), vat = frVat();
  // A broken SIRET whose SIREN part is broken too (a valid SIREN inside it would rightly be found).
  const badT = badLuhn(s) + t.slice(9, 13) + digits(1);
  add("fr", "company", ["La société ACME SAS, SIREN ", E("FR_SIREN", group(s, [3, 3, 3])), ", RCS Lyon, a son siège au 12 rue des Lilas, 69003 Lyon."]);
  add("fr", "company", ["Établissement principal — SIRET : ", E("FR_SIRET", group(t, [3, 3, 3, 5])), " ; code APE 6201Z ; capital social 10 000 €."]);
  add("fr", "company-vat", ["Numéro de TVA intracommunautaire : ", E("EU_VAT", k % 2 ? vat : "FR " + vat.slice(2, 4) + " " + group(vat.slice(4), [3, 3, 3])), ". Commande n° ", digits(9), " expédiée le ", pad(1 + int(28), 2), ".", pad(1 + int(12), 2), ".2024."]);
  add("fr", "company-bad", ["Le SIRET ", group(C.siretValid(badT) ? badLuhn(badT) : badT, [3, 3, 3, 5]), " renvoyé par le formulaire est invalide, et le SIREN ", group(badLuhn(s), [3, 3, 3]), " aussi."]);
}
add("fr", "company", ["La Poste, SIRET de l'agence : ", E("FR_SIRET", "35600000049837"), "."]);
for (let k = 0; k < 6; k++) {
  const v = nir(k === 2 || k === 5);
  add("fr", "patient", ["Madame, Monsieur, je vous adresse Mme Martin, née le ", pad(1 + int(28), 2), "/", pad(1 + int(12), 2), "/19", digits(2), ", n° de sécurité sociale ", E("FR_NIR", k % 3 === 0 ? v : fmtNir(v)), ", pour une consultation de cardiologie. Tél. : ", E("PHONE", frMobile()), "."]);
  const bad = v.slice(0, 13) + pad((Number(v.slice(13)) + 1 + int(90)) % 97, 2);
  add("fr", "patient-bad", ["Dossier ", digits(6), " : le numéro ", fmtNir(bad), " saisi par le secrétariat ne correspond pas à la clé."]);
}
for (let k = 0; k < 6; k++) {
  add("fr", "support", ["Client : bonjour, je n'arrive plus à me connecter. Mon adresse est ", E("EMAIL", pick(["claire.dubois", "j.moreau", "sophie_l", "paul.petit+enclave"]) + digits(2) + "@" + pick(["example.fr", "exemple.com", "mail.example.org"])), " et mon numéro ", E("PHONE", k % 2 ? frIntl() : frLand()), ". Ticket #", digits(6), ", version 2.", int(9), ".", int(20), "."]);
  add("de", "support", ["Kunde: Hallo, meine Bestellung ", digits(9), " ist nicht angekommen. Sie erreichen mich unter ", E("PHONE", pick([deLand, deIntl, deMobile])()), " oder ", E("EMAIL", pick(["max.mustermann", "erika.m", "k.schmidt"]) + "@" + pick(["example.de", "beispiel.de"])), ". Sendungsnummer ", digits(12), "."]);
  add("en", "support", ["User: hi, the dashboard at 10.", int(9), " shows an error since version 3.", int(9), ".", int(9), ". My login is ", E("EMAIL", pick(["alice", "bob.smith", "c.jones"]) + "@example.com"), ", call me on ", E("PHONE", k % 2 ? gbPhone() : gbNat()), "."]);
}
for (let k = 0; k < 6; k++) {
  const ip4 = pick(["192.0.2.", "198.51.100.", "203.0.113."]) + (1 + int(250));
  const ip6 = `2001:db8:${int(65535).toString(16)}::${int(65535).toString(16)}:${(1 + int(65534)).toString(16)}`;
  add("en", "logs", ["Failed login for user id ", digits(6), " from ", E("IP_ADDRESS", ip4), " at 2025-0", 1 + int(9), "-1", int(9), "T14:", pad(int(60), 2), ":00Z (build 4.", int(9), ".", int(99), ")."]);
  add("de", "logs", ["Zugriff von ", E("IP_ADDRESS", ip6), " um ", pad(int(24), 2), ":", pad(int(60), 2), " Uhr, Sitzung ", digits(10), " beendet."]);
  add("fr", "logs-neg", ["Le serveur 10.", int(9), " a redémarré à ", pad(int(24), 2), ":", pad(int(60), 2), ":", pad(int(60), 2), " ; paquet openssl 3.", int(9), ".", int(9), "-1ubuntu", int(9), ", adresse invalide 300.", int(255), ".1.", int(255), "."]);
}
for (let k = 0; k < 6; k++) {
  const visa = card("4970", 16), mc = card(pick(["51", "53", "55", "2221"]), 16), amex = card(pick(["34", "37"]), 15);
  add("en", "payment", ["Please charge my card ", E("PAYMENT_CARD", group(visa, [4, 4, 4, 4])), ", expiry 0", 1 + int(9), "/2", 7 + int(3), ", for order ", digits(8), "."]);
  add("fr", "payment", ["Paiement refusé pour la carte ", E("PAYMENT_CARD", k % 2 ? mc : group(mc, [4, 4, 4, 4], "-")), " ; montant 89,90 €."]);
  add("de", "payment", ["Kreditkarte (Amex): ", E("PAYMENT_CARD", group(amex, [4, 6, 5])), ", Betrag ", digits(3), ",00 EUR."]);
  add("en", "payment-bad", ["The number ", group(badLuhn(visa), [4, 4, 4, 4]), " was rejected as invalid, and so was ", badLuhn(mc), "."]);
}
for (let k = 0; k < 6; k++) {
  const id = deTaxId();
  add("de", "hr", ["Sehr geehrte Frau Becker, für die Lohnabrechnung benötigen wir Ihre Steuer-ID: ", E("DE_TAX_ID", k % 2 ? id : group(id, [2, 3, 3, 3])), ". Ihre Personalnummer ist ", digits(6), ", Eintritt am 01.0", 1 + int(9), ".2025."]);
  add("de", "hr-vat", ["Unsere USt-IdNr. lautet ", E("EU_VAT", vatBy("DE", () => String(1 + int(9)) + digits(8), germany)), ", Steuernummer ", digits(2), "/", digits(3), "/", digits(5), "."]);
  add("de", "hr-bad", ["Die angegebene Steuer-ID ", badLuhn(id).replace(/^0/, "1"), " ist leider nicht gültig; bitte senden Sie uns die richtige."]);
}
for (let k = 0; k < 5; k++) {
  add("en", "hr-es", ["New hire in Madrid: DNI ", E("ES_DNI", dni()), ", and her partner's NIE is ", E("ES_DNI", nie()), ". Start date 2025-0", 1 + int(9), "-01."]);
  const c = cf();
  add("en", "hr-it", ["Employee in Milan, codice fiscale ", E("IT_FISCAL_CODE", c), ", partita IVA ", E("EU_VAT", vatBy("IT", () => digits(11), italy)), "."]);
  add("en", "hr-nl", ["Dutch payroll: BSN ", E("NL_BSN", bsn()), " and VAT ", E("EU_VAT", vatBy("NL", () => digits(9) + "B0" + (1 + int(3)), netherlands)), "."]);
  add("fr", "hr-be", ["Collaborateur belge, numéro de registre national ", E("BE_NATIONAL_NUMBER", k % 2 ? fmtBe(beNn()) : beNn()), ", TVA ", E("EU_VAT", vatBy("BE", () => "0" + String(2 + int(7)) + digits(8), belgium)), "."]);
  const bc = c.slice(0, 15) + String.fromCharCode(65 + ((c.charCodeAt(15) - 65 + 1 + int(24)) % 26));
  add("en", "hr-bad", ["Rejected forms: DNI ", ((n) => pad(n, 8) + [..."ABCDEFGH"].find((l) => l !== C.dniLetter(n)))(10000000 + int(8999999)), " (wrong letter?), codice fiscale ", bc, ", BSN ", failing(9), "."]);
}
for (let k = 0; k < 4; k++) {
  add("de", "vat-at", ["Lieferant in Wien, UID ", E("EU_VAT", vatBy("ATU", () => digits(8), austria)), ", Spanish customer ", E("EU_VAT", vatBy("ES", () => pick([..."ABG"]) + digits(8), spain)), "."]);
}
// Harder cases, written as people write them, including ones the detector is known to miss.
{
  const fr = iban("FR", 23), de = iban("DE", 18), s = siren(), t = siret(s), v = nir(), id = deTaxId();
  add("fr", "hard", ["Merci de noter mon RIB : ", E("IBAN", fr.toLowerCase()), " (je l'ai tapé en minuscules)."]); // known miss: lower-case IBAN
  add("de", "hard", ["IBAN: ", E("IBAN", de), " BIC: COBADEFFXXX, Kontoinhaber siehe oben."]);
  add("fr", "hard", ["SIRET ", E("FR_SIRET", group(t, [3, 3, 3, 5])), " 12 rue de la Paix 75002 Paris"]);
  add("fr", "hard", ["Tu peux m'appeler au ", E("PHONE", frMobile().replace(/ /g, "")), " ce soir ?"]);
  add("fr", "hard", ["Réf. dossier 0", digits(9), " — à rappeler dans tout courrier."]);
  add("fr", "hard", ["Mon numéro de sécu c'est le ", E("FR_NIR", v.slice(0, 13) + " " + v.slice(13)), ", merci."]);
  add("en", "hard", ["Reach me at alice dot martin at example dot com or on WhatsApp."]); // obfuscated address: not an email
  add("en", "hard", ["Spanish office: ", E("PHONE", "612 34 56 78"), " (mobile, dialled from Spain)."]); // known miss: national format without a trunk 0
  add("de", "hard", ["Tel.: ", E("PHONE", "(030) " + pick([2, 3, 4]) + digits(6)), ", Fax: ", E("PHONE", "+49 (0)30 " + pick([2, 3, 4]) + digits(6)), "."]);
  add("de", "hard", ["Steuer-Identifikationsnummer ", E("DE_TAX_ID", id.slice(0, 2) + " " + id.slice(2, 5) + " " + id.slice(5, 8) + " " + id.slice(8)), " (siehe Lohnsteuerbescheinigung)."]);
  add("en", "hard", ["Server ", E("IP_ADDRESS", "198.51.100.23"), " and its IPv6 ", E("IP_ADDRESS", "2001:db8::1:42"), " run version 1.2.3.4-beta."]);
  add("de", "hard", ["Die Kartennummer lautet ", E("PAYMENT_CARD", group(card("4970", 16), [4, 4, 4, 4])), " gültig bis 12/27, Prüfnummer 123."]);
  add("fr", "hard", ["Le SIREN de l'entreprise est ", E("FR_SIREN", s), " et son code NAF 6201Z."]);
  add("en", "hard", ["Our supplier's SIREN-like reference ", digits(9).replace(/^0/, "1"), " is just a catalogue number, not a company id."]);
  add("fr", "hard", ["Appelez le ", E("PHONE", frMobile()), " ou le ", E("PHONE", frLand()), ", écrivez à ", E("EMAIL", "contact@example.fr"), "."]);
  add("de", "hard", ["Meine Nummer: ", E("PHONE", deMobile().replace(" ", "/")), " (abends)."]);
}
// Negatives that look like personal data.
for (let k = 0; k < 8; k++) {
  add("fr", "neg", ["Commande n° ", failing(9), " du ", pad(1 + int(28), 2), ".", pad(1 + int(12), 2), ".2024, référence ", failing(14), ", total 1 ", digits(3), ",", digits(2), " €, livraison au ", digits(5), " Paris."]);
  add("de", "neg", ["Auftragsnummer ", failing(11), ", Kundennummer ", failing(15), ", Version ", int(9), ".", int(20), ".", int(99), ", Preis ", digits(2), ".", digits(3), ",", digits(2), " €, PLZ ", digits(5), "."]);
  add("en", "neg", ["Order ", failing(16, "45"), " shipped on ", pad(1 + int(12), 2), "/", pad(1 + int(28), 2), "/2025; tracking ", failing(12), "; ISBN 978-", int(9), "-", digits(3), "-", digits(5), "-", int(9), "; build ", int(9), ".", int(9), ".", int(999), "."]);
}
add("en", "neg", ["The meeting is at 14:30 on 2025-03-12 in room 4.12; call the switchboard extension 4711."]);
add("fr", "neg", ["Le produit coûte 12 345 678 € HT, soit 14 814 813,60 € TTC ; référence interne AB-2024-000123."]);
add("de", "neg", ["Der Zug ICE 1234 fährt um 08:15 Uhr ab Gleis 7; Reservierung 123-456-789-0."]);
add("en", "neg", ["Release notes for v10.2.3: fixes bug #123456789 and CVE-2024-12345; checksum sha256:9f86d081884c7d65."]);
add("fr", "neg", ["Le colis 6A 123 456 789 01 est en cours d'acheminement ; contactez le service au 3631."]);
add("de", "neg", ["Die Sitzung dauerte von 9.30 bis 12.45 Uhr; Aktenzeichen 12 O 345/24."]);
add("en", "neg", ["GPS 48.8566, 2.3522; elevation 35 m; serial number SN-99887766554433."]);
add("fr", "neg", ["Bonjour, pourriez-vous me rappeler demain matin ? Je suis disponible entre 9 h et 11 h."]);
add("de", "neg", ["Vielen Dank für Ihre Nachricht, wir melden uns innerhalb von zwei Werktagen."]);
add("en", "neg", ["The model scored 98.7% on the benchmark with 1,234,567 parameters and 16 layers."]);
writeFileSync(new URL("../tests/fixtures/guardrails/pii-samples.json", import.meta.url), JSON.stringify({
  description: "Labelled personal-data samples (French, German, English) for server/guardrails/pii.ts. Every identifier is generated with a computed check digit (or deliberately broken one) from a seeded random source; none is a real person's. 'expected' lists each finding's type and exact text, in order of appearance.",
  samples,
}, null, 1) + "\n");
console.log(samples.length, samples.reduce((a, s) => a + s.expected.length, 0));
