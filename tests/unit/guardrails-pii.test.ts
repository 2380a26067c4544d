import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { detectPii, Redactor, StreamRedactor } from "@/server/guardrails/pii";
import {
  beNationalNumberValid,
  deTaxIdValid,
  esDniValid,
  itFiscalCodeCheck,
  itFiscalCodeValid,
  luhnCheckDigit,
  nirKey,
  nirValid,
  nlBsnValid,
} from "@/server/guardrails/pii-checksums";
import type { PiiFinding, PiiType } from "@/server/guardrails/types";
import { loadPiiSamples, measurePiiPrecision } from "@/scripts/guardrails-precision";

/** [type, exact text] of every finding, so offsets are checked against the text. */
const found = (text: string, types?: PiiType[]) => detectPii(text, types).map((f) => [f.type, text.slice(f.start, f.end)]);

// Identifiers built here with computed check digits (none is a real person's).
const siren = (b8: string) => b8 + luhnCheckDigit(b8);
const SIREN = siren("73282932"); // 732829320
const SIRET = ((b13: string) => b13 + luhnCheckDigit(b13))(SIREN + "0007");
const NIR_BODY = "1850775123456";
const NIR = NIR_BODY + String(nirKey(NIR_BODY)).padStart(2, "0");
const NIR_CORSICA_BODY = "2850 72A123456".replace(" ", "");
const NIR_CORSICA = NIR_CORSICA_BODY + String(nirKey(NIR_CORSICA_BODY)).padStart(2, "0");
const wrongLast = (s: string) => s.slice(0, -1) + ((Number(s.at(-1)) + 1) % 10);

describe("each type is found with a valid check digit and ignored with an invalid one", () => {
  const cases: [PiiType, string, string][] = [
    ["IBAN", "FR76 3000 6000 0112 3456 7890 189", "FR76 3000 6000 0112 3456 7890 188"],
    ["IBAN", "DE89 3704 0044 0532 0130 00", "DE89 3704 0044 0532 0130 01"],
    ["PAYMENT_CARD", "4970 1012 3456 7899".slice(0, 18) + luhnCheckDigit("497010123456789"), "4970 1012 3456 789" + ((luhnCheckDigit("497010123456789") + 1) % 10)],
    ["FR_SIRET", SIRET.replace(/^(\d{3})(\d{3})(\d{3})/, "$1 $2 $3 "), wrongLast(SIRET).replace(/^(\d{3})(\d{3})(\d{3})/, "$1 $2 $3 ")],
    ["FR_SIREN", SIREN, wrongLast(SIREN)],
    ["FR_NIR", NIR.replace(/^(\d)(\d\d)(\d\d)(\d\d)(\d{3})(\d{3})/, "$1 $2 $3 $4 $5 $6 "), wrongLast(NIR)],
    ["FR_NIR", NIR_CORSICA, wrongLast(NIR_CORSICA)],
    ["EU_VAT", "FR 44 732 829 320", "FR 45 732 829 320"],
    ["EU_VAT", "DE147258365", "DE147258366"],
    ["DE_TAX_ID", "86 095 742 719", "86 095 742 718"],
    ["ES_DNI", "12345678Z", "12345678A"],
    ["ES_DNI", "X1234567L", "X1234567A"],
    ["NL_BSN", "111222333", "111222334"],
    ["BE_NATIONAL_NUMBER", "85.07.30-033.28".replace(/28$/, ""), ""],
    ["EMAIL", "m.muller@example.de", "m.muller@example"],
    ["IP_ADDRESS", "203.0.113.42", "203.0.113.420"],
    ["IP_ADDRESS", "2001:db8:85a3::8a2e:370:7334", "2001:db8:85a3::8a2e::7334"],
    ["PHONE", "06 12 34 56 78", "+33 6 12 34 56"],
  ];
  // The Belgian number's key is computed, not copied.
  const beBody = "850730033";
  const beKey = String(97 - (Number(beBody) % 97)).padStart(2, "0");
  cases[13] = ["BE_NATIONAL_NUMBER", `85.07.30-033.${beKey}`, `85.07.30-033.${String((Number(beKey) % 96) + 1).padStart(2, "0")}`];

  for (const [type, valid, invalid] of cases) {
    it(`${type}: ${valid}`, () => {
      const context = type === "FR_SIREN" || type === "FR_SIRET" ? "SIREN/SIRET de la société : " : type === "NL_BSN" ? "BSN: " : "";
      expect(found(`Réf. ${context}${valid}, merci.`)).toEqual([[type, valid]]);
      expect(found(`Réf. ${context}${invalid}, merci.`).filter(([t]) => t === type)).toEqual([]);
    });
  }

  it("the checksums themselves: NIR key, Steuer-ID, BSN, Belgian number, DNI, codice fiscale", () => {
    expect(nirValid(NIR)).toBe(true);
    expect(nirValid(NIR.slice(0, 3) + "13" + NIR.slice(5))).toBe(false); // month 13
    expect(deTaxIdValid("86095742719")).toBe(true);
    expect(deTaxIdValid("11111111111")).toBe(false); // a digit three times in a row and more
    expect(nlBsnValid("111222333")).toBe(true);
    expect(beNationalNumberValid(`${beBody}${beKey}`)).toBe(true);
    // Born in 2000 or later: the check counts a leading 2.
    const b2000 = "010203456";
    expect(beNationalNumberValid(b2000 + String(97 - ((2_000_000_000 + Number(b2000)) % 97)).padStart(2, "0"))).toBe(true);
    expect(esDniValid("12345678Z")).toBe(true);
    const cf = "RSSMRA85T10A562" + itFiscalCodeCheck("RSSMRA85T10A562");
    expect(itFiscalCodeValid(cf)).toBe(true);
    expect(found(`Codice fiscale ${cf}.`)).toEqual([["IT_FISCAL_CODE", cf]]);
    expect(itFiscalCodeValid(cf.slice(0, 15) + (cf[15] === "A" ? "B" : "A"))).toBe(false);
  });

  it("La Poste's SIRETs use a digit sum divisible by 5 instead of Luhn", () => {
    expect(found("SIRET La Poste : 356 000 000 49837")).toEqual([["FR_SIRET", "356 000 000 49837"]]);
    // A broken SIRET is not one, though its SIREN part still names La Poste.
    expect(found("SIRET La Poste : 356 000 000 49838")).toEqual([["FR_SIREN", "356 000 000"]]);
  });
});

describe("real text", () => {
  it("a French patient letter", () => {
    const text = `Cher confrère, je vous adresse M. X, n° de sécurité sociale ${NIR}, joignable au 06 12 34 56 78 ou au +33 6 12 34 56 78. Mutuelle : IBAN FR76 3000 6000 0112 3456 7890 189. Consultation du 12.03.2024, 45,00 €.`;
    expect(found(text)).toEqual([
      ["FR_NIR", NIR],
      ["PHONE", "06 12 34 56 78"],
      ["PHONE", "+33 6 12 34 56 78"],
      ["IBAN", "FR76 3000 6000 0112 3456 7890 189"],
    ]);
  });

  it("a German invoice", () => {
    const text =
      "Rechnung Nr. 2024-10-4711 vom 03.11.2025, Betrag 1.299,00 EUR. USt-IdNr. DE147258365, Telefon 030 1234567 oder +49 30 1234567. Bitte überweisen Sie auf DE89 3704 0044 0532 0130 00. Steuer-ID 86 095 742 719.";
    expect(found(text)).toEqual([
      ["EU_VAT", "DE147258365"],
      ["PHONE", "030 1234567"],
      ["PHONE", "+49 30 1234567"],
      ["IBAN", "DE89 3704 0044 0532 0130 00"],
      ["DE_TAX_ID", "86 095 742 719"],
    ]);
  });

  it("numbers that only look like personal data are not flagged", () => {
    const text =
      "Commande 123456789 du 2024-03-12, version 2.4.1, prix 1 234 567,89 €, colis 12345678901234, ISBN 978-3-16-148410-0, 14:30, réf. 4111 1111 1111 1112.";
    expect(found(text)).toEqual([]);
  });

  it("a SIREN inside a SIRET or a VAT number is one finding; overlapping candidates resolve to one", () => {
    expect(found(`SIRET ${SIRET}`)).toEqual([["FR_SIRET", SIRET]]);
    expect(found("TVA FR44732829320")).toEqual([["EU_VAT", "FR44732829320"]]);
    const findings = detectPii(`IBAN FR76 3000 6000 0112 3456 7890 189, SIRET ${SIRET}, tél. 06 12 34 56 78`);
    for (let i = 1; i < findings.length; i++) expect(findings[i].start).toBeGreaterThanOrEqual(findings[i - 1].end);
  });

  it("on any text, findings are sorted, within the text and never overlap", () => {
    const piece = fc.constantFrom("0", "1", "4", "7", "9", " ", ".", "-", "+", "@", ":", "FR76", "DE", "a", "é", "(", ")", "/", "SIREN ", "x.y");
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 120 }).map((a) => a.join("")), (text) => {
        const findings = detectPii(text);
        for (let i = 0; i < findings.length; i++) {
          expect(findings[i].start).toBeGreaterThanOrEqual(i ? findings[i - 1].end : 0);
          expect(findings[i].end).toBeGreaterThan(findings[i].start);
          expect(findings[i].end).toBeLessThanOrEqual(text.length);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("only the types asked for", () => {
    const text = "jean@example.fr, 06 12 34 56 78, DE89 3704 0044 0532 0130 00";
    expect(found(text, ["IBAN"])).toEqual([["IBAN", "DE89 3704 0044 0532 0130 00"]]);
    expect(found(text, ["EMAIL", "PHONE"]).map(([t]) => t)).toEqual(["EMAIL", "PHONE"]);
  });

  it("findings hold types, positions and scores, never the text", () => {
    const text = "Mail jean.dupont@example.fr, IBAN FR76 3000 6000 0112 3456 7890 189";
    for (const f of detectPii(text)) {
      expect(Object.keys(f).sort()).toEqual(["end", "score", "start", "type"]);
      expect(JSON.stringify(f)).not.toMatch(/dupont|3000/);
    }
  });
});

describe("Redactor", () => {
  it("numbers placeholders per type, and gives the same value the same placeholder in input and output", () => {
    const redactor = new Redactor();
    const input = "IBAN FR76 3000 6000 0112 3456 7890 189 ou DE89 3704 0044 0532 0130 00 ; mail a@example.fr";
    expect(redactor.redact(input, detectPii(input))).toBe("IBAN [IBAN_1] ou [IBAN_2] ; mail [EMAIL_1]");
    const output = "Virement vers FR7630006000011234567890189 noté ; j'écris à b@example.fr et a@example.fr.";
    expect(redactor.redact(output, detectPii(output))).toBe("Virement vers [IBAN_1] noté ; j'écris à [EMAIL_2] et [EMAIL_1].");
    expect(redactor.counts).toEqual({ IBAN: 3, EMAIL: 3 });
  });

  it("a new request starts numbering again", () => {
    const text = "tél. 06 12 34 56 78";
    expect(new Redactor().redact(text, detectPii(text))).toBe("tél. [PHONE_1]");
    expect(new Redactor().redact(text, detectPii(text))).toBe("tél. [PHONE_1]");
  });
});

describe("StreamRedactor", () => {
  const sentence =
    "Bonjour, virez 120 € sur FR76 3000 6000 0112 3456 7890 189 puis appelez-moi au +33 6 12 34 56 78 ou au 030 1234567, merci et à bientôt.";

  it("every split point of a sentence gives the same redacted text and findings as redacting it whole", () => {
    const whole = new Redactor().redact(sentence, detectPii(sentence));
    expect(whole).toBe("Bonjour, virez 120 € sur [IBAN_1] puis appelez-moi au [PHONE_1] ou au [PHONE_2], merci et à bientôt.");
    for (let a = 0; a <= sentence.length; a++) {
      const stream = new StreamRedactor({ redactor: new Redactor() });
      const out = stream.push(sentence.slice(0, a)) + stream.push(sentence.slice(a)) + stream.end();
      expect(out, `split at ${a}`).toBe(whole);
      expect(stream.findings).toEqual(detectPii(sentence));
    }
  });

  it("character by character and in three uneven chunks", () => {
    const whole = new Redactor().redact(sentence, detectPii(sentence));
    const one = new StreamRedactor({ redactor: new Redactor() });
    expect([...sentence].map((c) => one.push(c)).join("") + one.end()).toBe(whole);
    for (let a = 10; a < sentence.length; a += 17) {
      for (let b = a; b < sentence.length; b += 23) {
        const s = new StreamRedactor({ redactor: new Redactor() });
        expect(s.push(sentence.slice(0, a)) + s.push(sentence.slice(a, b)) + s.push(sentence.slice(b)) + s.end()).toBe(whole);
      }
    }
  });

  it("every sample of the labelled set, streamed in random chunks, is redacted as it is whole", () => {
    const samples = loadPiiSamples();
    fc.assert(
      fc.property(fc.integer({ min: 0, max: samples.length - 1 }), fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 30 }), (i, sizes) => {
        const text = samples[i].text;
        const stream = new StreamRedactor({ redactor: new Redactor() });
        let out = "";
        let at = 0;
        for (let k = 0; at < text.length; k++) {
          const size = sizes[k % sizes.length];
          out += stream.push(text.slice(at, at + size));
          at += size;
        }
        out += stream.end();
        expect(out).toBe(new Redactor().redact(text, detectPii(text)));
      }),
      { numRuns: 400 },
    );
  });

  it("holds back at most the lookahead", () => {
    for (const lookahead of [0, 16, 64]) {
      const stream = new StreamRedactor({ lookahead });
      let pushed = 0;
      let emitted = 0;
      for (const word of "Le rendez-vous est confirmé pour jeudi matin à la clinique, au deuxième étage. ".repeat(3).split(/(?<= )/)) {
        pushed += word.length;
        emitted += stream.push(word).length;
        expect(pushed - emitted).toBeLessThanOrEqual(lookahead);
      }
      emitted += stream.end().length;
      expect(emitted).toBe(pushed);
    }
  });

  it("ordinary prose leaves as it is written: at most the word being written is held back", () => {
    const prose =
      "Le rendez-vous est confirmé pour jeudi matin, à la clinique du parc. Your appointment is confirmed for Thursday morning (second floor); bring the letter!";
    for (const lookahead of [16, 64]) {
      const stream = new StreamRedactor({ redactor: new Redactor(), lookahead });
      let pushed = "";
      let out = "";
      for (const c of prose) {
        pushed += c;
        out += stream.push(c);
        expect(pushed.startsWith(out)).toBe(true);
        // What is held is the end of the last word and nothing before it: letters, a hyphenated word,
        // a word and its full stop until the next character says it is not "parc.dupont@…", or an
        // opening parenthesis until it is not "(0" of a phone number.
        expect(pushed.slice(out.length), `after ${JSON.stringify(pushed)}`).toMatch(/^(?:[\p{L}-]*\.?|\()$/u);
        expect(stream.held).toBe(pushed.length - out.length);
      }
      expect(out + stream.end()).toBe(prose);
    }
  });

  it("a number being written is held until it ends, never more than the lookahead, and caught whole", () => {
    const text = "Votre IBAN : FR76 3000 6000 0112 3456 7890 189. Réf. 1234 5678 9012 3456 7890 1234 5678 9012 3456 7890 1234 5678 9012 3456, fin.";
    const ibanAt = text.indexOf("FR76");
    const ibanEnd = ibanAt + "FR76 3000 6000 0112 3456 7890 189".length;
    const runAt = text.indexOf("1234");
    const stream = new StreamRedactor({ redactor: new Redactor(), lookahead: 64 });
    let out = "";
    let maxHeld = 0;
    for (let i = 0; i < text.length; i++) {
      out += stream.push(text[i]);
      const pushed = i + 1;
      maxHeld = Math.max(maxHeld, stream.held);
      expect(stream.held).toBeLessThanOrEqual(64);
      // Nothing of the IBAN leaves before it is complete; then it leaves as its placeholder.
      if (pushed > ibanAt && pushed <= ibanEnd) expect(out).toBe(text.slice(0, ibanAt));
      // The long digit run is held from its start until the lookahead bounds it.
      if (pushed > runAt && pushed - runAt <= 64) expect(stream.held).toBeGreaterThanOrEqual(pushed - runAt);
    }
    expect(maxHeld).toBe(64);
    expect(out + stream.end()).toBe(new Redactor().redact(text, detectPii(text)));
    expect(out.startsWith("Votre IBAN : [IBAN_1]. Réf. ")).toBe(true);
  });

  it("on any text, streamed in any chunks with no lookahead bound, the output is the whole text's redaction", () => {
    // The cut alone decides (a bound larger than the text never forces one): it must never split
    // anything that could become personal data.
    const piece = fc.constantFrom(
      "0", "1", "4", "7", "9", " ", " ", ".", "-", "+", "@", ":", "/", "(", ")", "(0)", ",", "\n", "\u00a0", "FR76", "FR", "DE", "GB", "X", "Z",
      "a", "é", "le", "SIREN ", "BSN ", "tél. ", "x.y", "ex.fr", "06 12 34 56 78", "FR76 3000 6000 0112 3456 7890 189", "DE147258365",
      "FR 44 732 829 320", "12345678Z", "203.0.113.42", "2001:db8::7334", "m.muller@example.de", "732 829 320", "00007",
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 60 }).map((a) => a.join("")), fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 20 }), (text, sizes) => {
        const stream = new StreamRedactor({ redactor: new Redactor(), lookahead: 1_000_000 });
        let out = "";
        for (let at = 0, k = 0; at < text.length; at += sizes[k++ % sizes.length]) out += stream.push(text.slice(at, at + sizes[k % sizes.length]));
        out += stream.end();
        expect(out).toBe(new Redactor().redact(text, detectPii(text)));
        expect(stream.findings).toEqual(detectPii(text));
      }),
      { numRuns: 1500 },
    );
  });

  it("without a redactor it passes the text through and reports findings at their original positions", () => {
    const stream = new StreamRedactor({ types: ["IBAN"] });
    const out = stream.push(sentence.slice(0, 30)) + stream.push(sentence.slice(30)) + stream.end();
    expect(out).toBe(sentence);
    expect(stream.findings.map((f: PiiFinding) => sentence.slice(f.start, f.end))).toEqual(["FR76 3000 6000 0112 3456 7890 189"]);
  });
});

describe("the labelled sample set (tests/fixtures/guardrails/pii-samples.json)", () => {
  it("is detected with the precision and recall measured for docs/guardrails.md", () => {
    const report = measurePiiPrecision();
    expect(report.samples).toBeGreaterThanOrEqual(120);
    // Measured 99.5 % precision and 99.0 % recall; the thresholds leave room for a sample or two.
    expect(report.overall.precision).toBeGreaterThanOrEqual(0.98);
    expect(report.overall.recall).toBeGreaterThanOrEqual(0.97);
    for (const t of report.perType) expect(t.precision, t.type).toBeGreaterThanOrEqual(0.9);
  });
});
