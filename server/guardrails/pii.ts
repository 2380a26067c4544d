/**
 * The built-in personal-data detector (docs/guardrails.md, "Personal data"): European identifiers
 * found by pattern and confirmed by their check digits, so that random digits are not flagged;
 * phone numbers by libphonenumber-js's numbering plans; IBANs by ibantools; VAT numbers by jsvat.
 * Synchronous and CPU-only. Findings hold types, positions and scores, never the text found.
 */

import { isIP } from "node:net";
import { electronicFormatIBAN, getCountrySpecifications, isValidIBAN } from "ibantools";
import {
  austria,
  belgium,
  bulgaria,
  checkVAT,
  croatia,
  cyprus,
  czechRepublic,
  denmark,
  estonia,
  finland,
  france,
  germany,
  greece,
  hungary,
  ireland,
  italy,
  latvia,
  lithuania,
  luxembourg,
  malta,
  netherlands,
  norway,
  poland,
  portugal,
  romania,
  slovakiaRepublic,
  slovenia,
  spain,
  sweden,
  switzerland,
  unitedKingdom,
  type Country,
} from "jsvat";
import { parsePhoneNumberFromString, type CountryCode } from "libphonenumber-js/max";
import {
  beNationalNumberValid,
  deTaxIdValid,
  esDniValid,
  itFiscalCodeValid,
  nirValid,
  nlBsnValid,
  paymentCardValid,
  sirenValid,
  siretValid,
} from "./pii-checksums";
import { PII_TYPES, type PiiFinding, type PiiType } from "./types";

/** The types detectPii finds by itself (PERSON needs the NER sidecar, server/guardrails/ner-sidecar.ts). */
export const BUILT_IN_PII_TYPES: readonly PiiType[] = PII_TYPES.filter((t) => t !== "PERSON");

/** Countries whose national formats ("06 12 34 56 78", "030 1234567") are tried, in order; international formats need none. */
export const PHONE_DEFAULT_COUNTRIES: readonly CountryCode[] = ["FR", "DE", "GB", "IT", "NL", "BE", "AT", "CH", "ES", "LU", "IE", "PT"];

/** Score of a phone number: valid for a numbering plan, which is weaker evidence than a check digit. */
const PHONE_SCORE = 0.9;

// When candidates overlap, the longest wins; at equal length, the earlier type here.
const PRIORITY: Record<PiiType, number> = {
  IBAN: 0,
  EU_VAT: 1,
  FR_NIR: 2,
  FR_SIRET: 3,
  PAYMENT_CARD: 4,
  IT_FISCAL_CODE: 5,
  DE_TAX_ID: 6,
  BE_NATIONAL_NUMBER: 7,
  ES_DNI: 8,
  FR_SIREN: 9,
  NL_BSN: 10,
  EMAIL: 11,
  IP_ADDRESS: 12,
  PHONE: 13,
  PERSON: 14,
};

// Separators people put inside numbers: space, no-break spaces (French typography), dot, dash.
const SEP = "[ .\\-\\u00a0\\u202f]";
const SEP_CHARS = /[ .\-\u00a0\u202f]/;
const isAlnum = (c: string | undefined) => c !== undefined && /[\p{L}\p{N}]/u.test(c);

// Short checksums (Luhn over 9 or 14 digits, 11-proof over 9) pass one random number in ten: these
// types are reported only after a word that names them (within CONTEXT_WINDOW characters before).
const CONTEXT_WINDOW = 60;
const CONTEXT: Partial<Record<PiiType, RegExp>> = {
  FR_SIREN: /siren|siret|rcs|insee|immatricul|kbis|soci[ée]t[ée]|entreprise|raison sociale/i,
  FR_SIRET: /siret|siren|rcs|insee|immatricul|kbis|[ée]tablissement|soci[ée]t[ée]|entreprise/i,
  NL_BSN: /\bbsn\b|burgerservice|sofi/i,
};

function hasContext(text: string, start: number, type: PiiType): boolean {
  const re = CONTEXT[type];
  return !re || re.test(text.slice(Math.max(0, start - CONTEXT_WINDOW), start));
}

type Emit = (type: PiiType, start: number, end: number, score?: number) => void;

// ─── Detectors ────────────────────────────────────────────────────────────────

const EMAIL_LOCAL_CHAR = /[\p{L}\p{N}._%+-]/u;
const EMAIL_DOMAIN_RE = /(?:[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?\.)+\p{L}{2,24}(?![\p{L}\p{N}])/uy;

// From each "@": the local part backwards, the domain forwards (a regex scanning every start is slower).
function findEmails(text: string, emit: Emit) {
  for (let at = text.indexOf("@"); at >= 0; at = text.indexOf("@", at + 1)) {
    let start = at;
    while (start > 0 && at - start < 64 && EMAIL_LOCAL_CHAR.test(text[start - 1])) start--;
    while (start < at && text[start] === ".") start++;
    if (start === at || text[at - 1] === ".") continue;
    EMAIL_DOMAIN_RE.lastIndex = at + 1;
    const domain = EMAIL_DOMAIN_RE.exec(text);
    if (domain) emit("EMAIL", start, at + 1 + domain[0].length);
  }
}

const IBAN_LENGTHS = new Map<string, number>(
  Object.entries(getCountrySpecifications())
    .filter(([, spec]) => spec.chars && spec.chars > 0)
    .map(([code, spec]) => [code, spec.chars as number]),
);
const IBAN_START_RE = /(?<![\p{L}\p{N}])([A-Z]{2})\d{2}/gu;

/** Collects the alphanumerics from `from`, allowing one separator between two of them, up to `max`; calls `at` after each. */
function walkGrouped(text: string, from: number, max: number, at: (compact: string, end: number) => void) {
  let compact = "";
  let i = from;
  while (i < text.length && compact.length < max) {
    const c = text[i];
    if (/[A-Z0-9]/.test(c)) {
      compact += c;
      i++;
      at(compact, i);
    } else if (SEP_CHARS.test(c) && compact.length > 0 && /[A-Z0-9]/.test(text[i + 1] ?? "")) {
      i++;
    } else break;
  }
}

function findIbans(text: string, emit: Emit) {
  for (const m of text.matchAll(IBAN_START_RE)) {
    const length = IBAN_LENGTHS.get(m[1]);
    if (!length) continue;
    walkGrouped(text, m.index, length, (compact, end) => {
      if (compact.length === length && !isAlnum(text[end]) && isValidIBAN(electronicFormatIBAN(compact) ?? "")) {
        emit("IBAN", m.index, end);
      }
    });
  }
}

const VAT_COUNTRIES: Country[] = [
  austria, belgium, bulgaria, croatia, cyprus, czechRepublic, denmark, estonia, finland, france, germany, greece,
  hungary, ireland, italy, latvia, lithuania, luxembourg, malta, netherlands, norway, poland, portugal, romania,
  slovakiaRepublic, slovenia, spain, sweden, switzerland, unitedKingdom,
];
const VAT_PREFIXES = [...new Set(VAT_COUNTRIES.flatMap((c) => [c.codes[0], ...(c.name === "Greece" ? ["EL"] : [])]))]
  .filter((code) => code !== "GR" && code !== "CH")
  .concat("CHE");
const VAT_START_RE = new RegExp(`(?<![\\p{L}\\p{N}])(?:${VAT_PREFIXES.join("|")})(?=${SEP}?[0-9A-Z])`, "gu");

function findVatNumbers(text: string, emit: Emit) {
  for (const m of text.matchAll(VAT_START_RE)) {
    let best = -1;
    const from = m.index + m[0].length + (SEP_CHARS.test(text[m.index + m[0].length]) ? 1 : 0);
    walkGrouped(text, from, 15, (body, end) => {
      if (isAlnum(text[end]) || (body.match(/\d/g)?.length ?? 0) < 7) return;
      if (checkVAT(m[0] + body, VAT_COUNTRIES).isValid) best = end;
    });
    if (best > 0) emit("EU_VAT", m.index, best);
  }
}

const NIR_RE = new RegExp(
  `(?<![\\p{L}\\p{N}])[1-478](?:${SEP}?\\d{2}){2}${SEP}?(?:\\d{2}|2[AB])${SEP}?\\d{3}${SEP}?\\d{3}${SEP}?\\d{2}(?![\\p{L}\\p{N}])`,
  "gu",
);
const SEPARATORS_G = /[ .\-\u00a0\u202f]/g;

function findNirs(text: string, emit: Emit) {
  for (const m of text.matchAll(NIR_RE)) {
    if (nirValid(m[0].replace(SEPARATORS_G, ""))) emit("FR_NIR", m.index, m.index + m[0].length);
  }
}

// Runs of digit groups ("4111 1111 1111 1111", "732.829.320", "85.07.30-033.28"), tried against the
// types of their digit count.
const DIGIT_RUN_RE = new RegExp(`(?<![\\p{L}\\p{N}+])\\d+(?:${SEP}\\d+)*(?![\\p{L}\\p{N}])`, "gu");
const DIGIT_GROUP_RE = /\d+/g;

// The digits after "FR76 " belong to an IBAN (valid or not), not to a card or a phone number.
const IBAN_HEAD_BEFORE = /(?<![\p{L}\p{N}])[A-Z]{2}\d{2}[ \-\u00a0]$/u;
const afterIbanHead = (text: string, start: number) => IBAN_HEAD_BEFORE.test(text.slice(Math.max(0, start - 5), start));

const BY_LENGTH: { type: PiiType; min: number; max: number; valid: (digits: string) => boolean }[] = [
  { type: "FR_SIREN", min: 9, max: 9, valid: sirenValid },
  { type: "NL_BSN", min: 9, max: 9, valid: nlBsnValid },
  { type: "DE_TAX_ID", min: 11, max: 11, valid: deTaxIdValid },
  { type: "BE_NATIONAL_NUMBER", min: 11, max: 11, valid: beNationalNumberValid },
  { type: "FR_SIRET", min: 14, max: 14, valid: siretValid },
  { type: "FR_NIR", min: 15, max: 15, valid: nirValid },
  { type: "PAYMENT_CARD", min: 12, max: 19, valid: paymentCardValid },
];

function findDigitRuns(text: string, emit: Emit, wanted: (t: PiiType) => boolean) {
  const checks = BY_LENGTH.filter((c) => wanted(c.type));
  if (checks.length === 0) return;
  for (const run of text.matchAll(DIGIT_RUN_RE)) {
    if (run[0].length < 9) continue;
    if (afterIbanHead(text, run.index)) continue;
    const groups = [...run[0].matchAll(DIGIT_GROUP_RE)].map((g) => ({ end: run.index + g.index + g[0].length, digits: g[0] }));
    // The whole run, else the run without its trailing groups (an identifier followed by a house number or a year).
    const digits: string[] = [];
    for (const g of groups) digits.push((digits.at(-1) ?? "") + g.digits);
    for (let j = groups.length - 1; j >= 0; j--) {
      const number = digits[j];
      if (number.length > 19) continue;
      if (number.length < 9) break;
      const matched = checks.filter(
        (c) => number.length >= c.min && number.length <= c.max && c.valid(number) && hasContext(text, run.index, c.type),
      );
      for (const c of matched) emit(c.type, run.index, groups[j].end);
      if (matched.length > 0) break;
    }
  }
}

const DNI_RE = /(?<![\p{L}\p{N}])(?:[XYZ][ -]?)?\d{1,2}\.?\d{3}\.?\d{3}[ -]?[A-Za-z](?![\p{L}\p{N}])/gu;

function findDnis(text: string, emit: Emit) {
  for (const m of text.matchAll(DNI_RE)) {
    if (esDniValid(m[0].replace(/[ .-]/g, "").toUpperCase())) emit("ES_DNI", m.index, m.index + m[0].length);
  }
}

const CF_RE =
  /(?<![\p{L}\p{N}])[A-Za-z]{6}[0-9LMNPQRSTUVlmnpqrstuv]{2}[A-Za-z][0-9LMNPQRSTUVlmnpqrstuv]{2}[A-Za-z][0-9LMNPQRSTUVlmnpqrstuv]{3}[A-Za-z](?![\p{L}\p{N}])/gu;

function findFiscalCodes(text: string, emit: Emit) {
  for (const m of text.matchAll(CF_RE)) {
    if (itFiscalCodeValid(m[0].toUpperCase())) emit("IT_FISCAL_CODE", m.index, m.index + m[0].length);
  }
}

const IPV4_RE = /(?<![\p{L}\p{N}.])(?:\d{1,3}\.){3}\d{1,3}(?![\p{L}\p{N}]|\.\d)/gu;
const IPV6_RE = /(?<![\p{L}\p{N}:])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?![\p{L}\p{N}:])/gu;

function findIpAddresses(text: string, emit: Emit) {
  for (const m of text.matchAll(IPV4_RE)) if (isIP(m[0]) === 4) emit("IP_ADDRESS", m.index, m.index + m[0].length);
  if (!text.includes(":")) return;
  for (const m of text.matchAll(IPV6_RE)) {
    // At least three hexadecimal groups: "::" or "::1" alone is a loopback, not someone's address.
    if ((m[0].match(/[0-9A-Fa-f]+/g)?.length ?? 0) >= 3 && isIP(m[0]) === 6) emit("IP_ADDRESS", m.index, m.index + m[0].length);
  }
}

// Phone-like runs starting with "+", "00", "0" or "(0": digit groups, one separator or parenthesis
// between (never two ways to split the same digits, so the regex cannot backtrack badly).
const PHONE_RE =
  /(?<![\p{L}\p{N}+])(?:\+|\(0)?\d+(?:(?:\)?[ .\-/\u00a0\u202f]\(?|\)|\()\d+)*\)?(?![\p{L}\p{N}])/gu;
const PHONE_CONTEXT =
  /(?<!\p{L})(?:t[ée]l|phone|telefon|fon|handy|mobil|portable|appel|call|anruf|ruf|fax|whatsapp|sms|contact|kontakt|erreich|joindre|num[ée]ro|number|nummer|nr)/iu;
const DATE_LIKE = /^\d{1,4}[./-]\d{1,2}[./-]\d{1,4}$/;

function findPhones(text: string, emit: Emit) {
  for (const m of text.matchAll(PHONE_RE)) {
    const candidate = m[0];
    if (!/^(?:\+|\(?0)/.test(candidate) || candidate.split("/").length > 2 || DATE_LIKE.test(candidate) || afterIbanHead(text, m.index)) continue;
    // An unformatted national number ("0612345678") is a phone only after a word that says so.
    if (/^0\d+$/.test(candidate) && !PHONE_CONTEXT.test(text.slice(Math.max(0, m.index - CONTEXT_WINDOW), m.index))) continue;
    // Try the whole run, then without its trailing groups (a number followed by another number).
    const groupEnds = [...candidate.matchAll(/[\d)](?=[ .\-/\u00a0\u202f(]|$)/g)].map((g) => g.index + 1).reverse();
    for (const end of groupEnds) {
      const span = candidate.slice(0, end);
      if ((span.match(/\d/g)?.length ?? 0) < 7) break;
      if (phoneValid(span)) {
        emit("PHONE", m.index, m.index + end, PHONE_SCORE);
        break;
      }
    }
  }
}

// isPossible (a length check) first: isValid matches the numbering plan's patterns and costs ~50 µs.
function phoneValidFor(span: string, country: CountryCode): boolean {
  const number = parsePhoneNumberFromString(span, country);
  return number !== undefined && number.isPossible() && number.isValid();
}

function phoneValid(span: string): boolean {
  if (span.startsWith("+") || span.startsWith("00")) return phoneValidFor(span, "FR");
  return PHONE_DEFAULT_COUNTRIES.some((country) => phoneValidFor(span, country));
}

// ─── The detector ─────────────────────────────────────────────────────────────

interface Candidate extends PiiFinding {
  priority: number;
}

/**
 * Personal data in `text`, sorted by start and non-overlapping (of overlapping candidates the
 * longest wins: a SIREN inside a SIRET or a VAT number is one finding). All built-in types unless `types`.
 */
export function detectPii(text: string, types?: readonly PiiType[]): PiiFinding[] {
  const wanted = (t: PiiType) => (types ? types.includes(t) : true);
  const candidates: Candidate[] = [];
  const emit: Emit = (type, start, end, score = 1) => {
    if (wanted(type)) candidates.push({ type, start, end, score, priority: PRIORITY[type] });
  };
  if (wanted("EMAIL")) findEmails(text, emit);
  if (/\d/.test(text)) {
    if (wanted("IBAN")) findIbans(text, emit);
    if (wanted("EU_VAT")) findVatNumbers(text, emit);
    if (wanted("FR_NIR")) findNirs(text, emit);
    findDigitRuns(text, emit, wanted);
    if (wanted("ES_DNI")) findDnis(text, emit);
    if (wanted("PHONE")) findPhones(text, emit);
  }
  // These two may hold no digit ("dead:beef::cafe", an omocodic codice fiscale): outside the test
  // above, so that a part of a text finds what the whole text does (StreamRedactor relies on it).
  if (wanted("IT_FISCAL_CODE")) findFiscalCodes(text, emit);
  if (wanted("IP_ADDRESS")) findIpAddresses(text, emit);
  return resolveOverlaps(candidates);
}

function resolveOverlaps(candidates: Candidate[]): PiiFinding[] {
  candidates.sort((a, b) => b.end - b.start - (a.end - a.start) || a.priority - b.priority || a.start - b.start);
  const kept: PiiFinding[] = [];
  for (const c of candidates) {
    if (kept.some((k) => c.start < k.end && k.start < c.end)) continue;
    kept.push({ type: c.type, start: c.start, end: c.end, score: c.score });
  }
  return kept.sort((a, b) => a.start - b.start);
}

// ─── Redaction ────────────────────────────────────────────────────────────────

/**
 * Replaces findings by typed placeholders ([IBAN_1], [PHONE_2]). One per request, shared by its
 * input and output, so the same value gets the same placeholder in the prompt and the answer.
 */
export class Redactor {
  readonly counts: Partial<Record<PiiType, number>> = {};
  // The values seen are kept in memory for the request only, to number repeats alike.
  private readonly placeholders = new Map<string, string>();
  private readonly next: Partial<Record<PiiType, number>> = {};

  redact(text: string, findings: readonly PiiFinding[]): string {
    const ordered = [...findings].sort((a, b) => a.start - b.start);
    let out = "";
    let at = 0;
    for (const f of ordered) {
      if (f.start < at || f.end > text.length || f.end <= f.start) continue;
      out += text.slice(at, f.start) + this.placeholder(f.type, text.slice(f.start, f.end));
      this.counts[f.type] = (this.counts[f.type] ?? 0) + 1;
      at = f.end;
    }
    return out + text.slice(at);
  }

  private placeholder(type: PiiType, value: string): string {
    const key = `${type}\u0000${canonicalValue(type, value)}`;
    let placeholder = this.placeholders.get(key);
    if (!placeholder) {
      const n = (this.next[type] ?? 0) + 1;
      this.next[type] = n;
      placeholder = `[${type}_${n}]`;
      this.placeholders.set(key, placeholder);
    }
    return placeholder;
  }
}

/** The same value however it is written: "FR76 3000…" and "FR763000…" are one IBAN. */
function canonicalValue(type: PiiType, value: string): string {
  if (type === "EMAIL" || type === "PERSON") return value.toLowerCase();
  if (type === "IP_ADDRESS") return value.toLowerCase();
  return value.replace(/[\s.\-/()]/g, "").toUpperCase();
}

// ─── Streams ──────────────────────────────────────────────────────────────────

// Where a stream may be cut: between two characters that no candidate (nor the regex match or walk
// that finds it) can hold side by side, whatever text comes next. Candidates are made of letters and
// digits, the characters of an email address or an IPv6 address (. _ % + - @ :), the separators of
// numbers (space, no-break spaces, dot, dash) and a phone number's / ( ); anything else ends them.
const CUT_WS = /[ \u00a0\u202f]/;
const CUT_WORDISH = /[\p{L}\p{N}._%+@:-]/u;
const CUT_ANY = /[\p{L}\p{N}._%+@:\-/() \u00a0\u202f]/u;

/** Whether `a` then `b` may both belong to one candidate (a superset: a wrong "true" only delays). */
function joinable(a: string, b: string): boolean {
  if (CUT_WORDISH.test(a) && CUT_WORDISH.test(b)) return true; // a word, an email, a dotted number, an IPv6 address
  // One separator between groups: after a digit, an uppercase letter (IBAN, VAT, DNI, NIR "2A") or a
  // phone's ")"; before a letter or digit (a DNI's letter may be lowercase) or a phone's "(".
  if (CUT_WS.test(a)) return /[A-Za-z0-9(]/.test(b);
  if (CUT_WS.test(b)) return /[A-Z0-9)]/.test(a);
  if (a === "(") return /\d/.test(b);
  if (b === ")") return /\d/.test(a);
  if (a === ")") return /[\d.\-/]/.test(b);
  if (b === "(") return /[\d.\-/]/.test(a);
  if (a === "/") return /[\d(]/.test(b);
  if (b === "/") return /[\d)]/.test(a);
  return false;
}

// No candidate starts with a space, ")" or "/": a boundary after one is safe when the one before it is.
const CUT_NONSTART = /[ \u00a0\u202f)/]/;

/**
 * The latest position of `text` (from `min`) before which nothing can become part of a candidate
 * whatever follows: the start of the trailing run that could still be (part of) personal data.
 * `text.length` when the text ends on a character no candidate continues from; `min` when none.
 * `minSafe`: the boundary at `min` is itself one (a previous cut), so a space right after it is.
 */
export function streamSafeCut(text: string, min = 0, minSafe = false): number {
  // cut(i): no candidate holds both text[i-1] and text[i].
  const cut = (i: number): boolean => {
    for (; i > min; i--) {
      const a = text[i - 1];
      if (i === text.length ? !CUT_ANY.test(a) : !joinable(a, text[i])) return true;
      // A space then a lowercase letter is inside a candidate only after a digit (a DNI's letter).
      if (i < text.length && CUT_WS.test(a) && /[a-z]/.test(text[i]) && !/\d/.test(text[i - 2] ?? "")) return true;
      if (!CUT_NONSTART.test(a)) return false;
    }
    return minSafe;
  };
  for (let i = text.length; i > min; i--) if (cut(i)) return i;
  return min;
}

/**
 * Redacts (or only scans) a streamed completion chunk by chunk. Text is released up to the start
 * of the trailing run that could still be (part of) personal data (`streamSafeCut`): ordinary words
 * leave with at most the word being written, a number, an email or an IBAN is held until it is
 * complete — never more than `lookahead` characters, so that a number split across chunks is still
 * caught and nothing waits for ever. Findings are positions in the whole original stream. Detection
 * reruns over the held-back text plus the last CONTEXT_WINDOW characters already emitted (the words
 * that name a SIREN or a BSN).
 */
export class StreamRedactor {
  readonly findings: PiiFinding[] = [];
  private readonly types?: readonly PiiType[];
  private readonly redactor?: Redactor;
  private readonly lookahead: number;
  private pending = "";
  private pendingStart = 0; // offset of `pending` in the original stream
  private context = ""; // already emitted original text kept for context
  private safeStart = true; // `pending` starts at a safe cut (streamSafeCut), not at one the lookahead forced

  constructor(options: { types?: readonly PiiType[]; redactor?: Redactor; lookahead?: number } = {}) {
    this.types = options.types;
    this.redactor = options.redactor;
    this.lookahead = Math.max(0, Math.floor(options.lookahead ?? 64));
  }

  /** Characters pushed and not yet released. */
  get held(): number {
    return this.pending.length;
  }

  push(text: string): string {
    this.pending += text;
    const bound = this.pending.length - this.lookahead;
    const safe = streamSafeCut(this.pending, Math.max(0, bound), bound <= 0 && this.safeStart);
    return this.release(Math.max(bound, safe), safe > bound); // at `bound` itself: forced (streamSafeCut found none)
  }

  end(): string {
    return this.release(this.pending.length, false);
  }

  private release(cut: number, safe: boolean): string {
    if (cut <= 0) return "";
    const asked = cut;
    const window = this.context + this.pending;
    const shift = this.context.length;
    const local: PiiFinding[] = [];
    for (const f of detectPii(window, this.types)) {
      const start = f.start - shift;
      const end = f.end - shift;
      if (start < 0) continue; // began in text already emitted (longer than the lookahead)
      if (start >= cut) break;
      local.push({ ...f, start, end });
      cut = Math.max(cut, end); // a finding that crosses the cut (the lookahead's) is released whole, as its placeholder
    }
    const released = this.pending.slice(0, cut);
    for (const f of local) this.findings.push({ ...f, start: f.start + this.pendingStart, end: f.end + this.pendingStart });
    const out = this.redactor ? this.redactor.redact(released, local) : released;
    this.context = (this.context + released).slice(-CONTEXT_WINDOW);
    this.pending = this.pending.slice(cut);
    this.pendingStart += cut;
    this.safeStart = safe && cut === asked; // a finding released whole may end anywhere
    return out;
  }
}
