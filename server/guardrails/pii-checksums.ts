/**
 * The check digits of the national and financial identifiers the personal-data detector knows
 * (server/guardrails/pii.ts). Each takes the identifier's bare characters (no separators) and says
 * whether it is well formed; none keeps or logs what it was given. IBANs (ibantools) and VAT numbers
 * (jsvat) are checked by their libraries in pii.ts; the rest are a few lines each, written from the
 * issuing administrations' published algorithms.
 */

const digitsOnly = /^\d+$/;

/** Luhn (ISO/IEC 7812-1): payment cards, SIREN, SIRET. */
export function luhnValid(digits: string): boolean {
  if (!digitsOnly.test(digits)) return false;
  let sum = 0;
  for (let i = digits.length - 1, double = false; i >= 0; i--, double = !double) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/** The Luhn check digit that completes `partial`. */
export function luhnCheckDigit(partial: string): number {
  for (let d = 0; d <= 9; d++) if (luhnValid(partial + d)) return d;
  throw new Error("unreachable");
}

/** Payment card: Luhn plus an issuer prefix (IIN) whose scheme uses that length. */
export function paymentCardValid(digits: string): boolean {
  const n = digits.length;
  if (n < 12 || n > 19 || !luhnValid(digits)) return false;
  const p2 = Number(digits.slice(0, 2));
  const p3 = Number(digits.slice(0, 3));
  const p4 = Number(digits.slice(0, 4));
  const p6 = Number(digits.slice(0, 6));
  if (digits[0] === "4") return n === 13 || n === 16 || n === 19; // Visa (and Cartes Bancaires co-badged)
  if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) return n === 16; // Mastercard
  if (p2 === 34 || p2 === 37) return n === 15; // American Express
  if (p4 === 6011 || (p3 >= 644 && p3 <= 649) || p2 === 65) return n >= 16 && n <= 19; // Discover
  if (p4 >= 3528 && p4 <= 3589) return n >= 16 && n <= 19; // JCB
  if ((p3 >= 300 && p3 <= 305) || p2 === 36 || p2 === 38 || p2 === 39) return n >= 14 && n <= 19; // Diners
  if (p2 === 62) return n >= 16 && n <= 19; // UnionPay
  if ([5018, 5020, 5038, 5893, 6304, 6759, 6761, 6762, 6763].includes(p4) || (p6 >= 676770 && p6 <= 676774))
    return n >= 12 && n <= 19; // Maestro
  return false;
}

/** SIREN (French company number): 9 digits, Luhn. */
export function sirenValid(digits: string): boolean {
  return digits.length === 9 && luhnValid(digits);
}

const LA_POSTE_SIREN = "356000000";

/** SIRET (French establishment number): SIREN + 5 digits, Luhn; La Poste's establishments use a digit sum divisible by 5. */
export function siretValid(digits: string): boolean {
  if (digits.length !== 14 || !digitsOnly.test(digits)) return false;
  if (digits.startsWith(LA_POSTE_SIREN) && digits !== LA_POSTE_SIREN + "00000") {
    let sum = 0;
    for (const c of digits) sum += c.charCodeAt(0) - 48;
    return sum % 5 === 0;
  }
  return luhnValid(digits);
}

/** The NIR's 13 leading characters as a number (Corsica: 2A counts as 19, 2B as 18), or null. */
function nirBody(body: string): number | null {
  const normalised = body.replace(/^(.{5})2A/, "$119").replace(/^(.{5})2B/, "$118");
  if (!/^\d{13}$/.test(normalised)) return null;
  return Number(normalised);
}

/** The NIR's key for its 13 leading characters: 97 − (n mod 97). */
export function nirKey(body13: string): number | null {
  const n = nirBody(body13);
  return n === null ? null : 97 - (n % 97);
}

/**
 * French NIR (numéro de sécurité sociale): sex (1, 2; 3, 4, 7, 8 for temporary numbers), year,
 * month (01–12, 20–42 or 50–99 when unknown), département (2A/2B for Corsica), commune, order, key.
 */
export function nirValid(chars: string): boolean {
  if (chars.length !== 15) return false;
  if (!/^[123478]\d{4}(?:\d{2}|2[AB])\d{6}\d{2}$/.test(chars)) return false;
  const month = Number(chars.slice(3, 5));
  if (!((month >= 1 && month <= 12) || (month >= 20 && month <= 42) || month >= 50)) return false;
  return nirKey(chars.slice(0, 13)) === Number(chars.slice(13));
}

/** ISO 7064 MOD 11,10 check digit over `digits` (the German Steuer-ID's last digit). */
export function iso7064Mod11_10(digits: string): number {
  let product = 10;
  for (const c of digits) {
    let sum = (c.charCodeAt(0) - 48 + product) % 10;
    if (sum === 0) sum = 10;
    product = (sum * 2) % 11;
  }
  const check = 11 - product;
  return check === 10 ? 0 : check;
}

/**
 * German Steuerliche Identifikationsnummer: 11 digits, no leading 0; in the first ten exactly one
 * digit appears twice or three times (never three in a row) and the others at most once; ISO 7064 check digit.
 */
export function deTaxIdValid(digits: string): boolean {
  if (!/^[1-9]\d{10}$/.test(digits)) return false;
  const body = digits.slice(0, 10);
  const counts = new Array<number>(10).fill(0);
  for (const c of body) counts[c.charCodeAt(0) - 48]++;
  const repeated = counts.filter((n) => n > 1);
  if (repeated.length !== 1 || repeated[0] > 3) return false;
  if (repeated[0] === 3 && /(\d)\1\1/.test(body)) return false;
  return iso7064Mod11_10(body) === Number(digits[10]);
}

/** Dutch burgerservicenummer: 9 digits, the "11-proef" (weights 9..2 and −1). */
export function nlBsnValid(digits: string): boolean {
  if (!/^\d{9}$/.test(digits) || /^0+$/.test(digits)) return false;
  let sum = 0;
  for (let i = 0; i < 8; i++) sum += (digits.charCodeAt(i) - 48) * (9 - i);
  sum -= digits.charCodeAt(8) - 48;
  return sum % 11 === 0;
}

/** Belgian national register number (rijksregisternummer): YYMMDD + order + 97 − (n mod 97), n prefixed by 2 for births from 2000. */
export function beNationalNumberValid(digits: string): boolean {
  if (!/^\d{11}$/.test(digits)) return false;
  const month = Number(digits.slice(2, 4));
  const day = Number(digits.slice(4, 6));
  // Bis numbers add 20 or 40 to the month; 0 stands for an unknown month or day.
  if (month % 20 > 12 || month > 52 || day > 31) return false;
  const body = Number(digits.slice(0, 9));
  const key = Number(digits.slice(9));
  return 97 - (body % 97) === key || 97 - ((2_000_000_000 + body) % 97) === key;
}

const DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE";

/** The check letter of a DNI number (or of an NIE with X/Y/Z replaced by 0/1/2). */
export function dniLetter(number: number): string {
  return DNI_LETTERS[number % 23];
}

/** Spanish DNI (8 digits + letter) or NIE (X/Y/Z + 7 digits + letter). */
export function esDniValid(chars: string): boolean {
  const m = /^([XYZ]?)(\d{7,8})([A-Z])$/.exec(chars);
  if (!m) return false;
  const [, prefix, digits, letter] = m;
  if (prefix ? digits.length !== 7 : digits.length !== 8) return false;
  const number = Number((prefix ? String("XYZ".indexOf(prefix)) : "") + digits);
  return dniLetter(number) === letter;
}

// Values of characters in odd (1st, 3rd …) positions of an Italian codice fiscale, 0–9 then A–Z.
const CF_ODD = [
  1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10,
  22, 25, 24, 23,
];

function cfValue(c: string, odd: boolean): number {
  const code = c.charCodeAt(0);
  const index = code <= 57 ? code - 48 : code - 65 + 10;
  if (odd) return CF_ODD[index];
  return code <= 57 ? code - 48 : code - 65;
}

/** The check character of a codice fiscale's first 15 characters. */
export function itFiscalCodeCheck(body15: string): string {
  let sum = 0;
  for (let i = 0; i < 15; i++) sum += cfValue(body15[i], i % 2 === 0);
  return String.fromCharCode(65 + (sum % 26));
}

/** Italian codice fiscale (persons): 6 letters, birth year/month/day (digits possibly "omocodia" letters), place, check letter. */
export function itFiscalCodeValid(chars: string): boolean {
  if (!/^[A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]$/.test(chars)) return false;
  return itFiscalCodeCheck(chars.slice(0, 15)) === chars[15];
}
