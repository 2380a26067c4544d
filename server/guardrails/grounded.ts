/**
 * The built-in groundedness check (docs/guardrails.md, "Groundedness"): deterministic, on CPU, no
 * model. The answer's checkable claims — numbers, dates, amounts and percentages, quoted strings,
 * capitalised named entities, citation markers — are extracted from the whole answer, looked up in
 * an index of the request's sources (built once per sources array), and each unsupported claim is
 * reported by its position and the sentence holding it. French, German and English.
 *
 * Normalisation: "3 March 2025" = "3 mars 2025" = "3. März 2025" = "2025-03-03" = "03.03.2025";
 * "12,5 %" = "12.5%" = "12,5 Prozent"; "1 200 €" = "€1,200" = "EUR 1.200"; "1,2 Mio. €" = "€1.2m".
 * A number written with less precision than a source's ("12 %" for "12,4 %", "about 1.2 million"
 * for "1 234 567") is supported by it.
 *
 * Nothing returned holds text: positions (UTF-16 offsets into the answer, end exclusive), counts,
 * kinds and a score.
 */

export interface GroundingSource {
  id: string;
  title?: string;
  text: string;
}

export type ClaimKind = "number" | "date" | "amount" | "quote" | "entity" | "citation";

export interface GroundednessResult {
  /** Share of checkable claims supported by the sources (0..1); 1 when the answer has none. */
  score: number;
  sentences: number;
  unsupportedSentences: number;
  /** Positions only, never text. `sentence` is the 0-based index of the sentence holding the claim. */
  unsupported: { start: number; end: number; sentence: number; kind: ClaimKind }[];
}

// ─── The extension field ─────────────────────────────────────────────────────

export const MAX_GROUNDING_SOURCES = 32;
export const MAX_GROUNDING_BYTES = 256 * 1024;
const MAX_ID_LENGTH = 128;
const MAX_TITLE_LENGTH = 1024;

export type ParseGroundingResult =
  | { ok: true; sources: GroundingSource[] | null }
  | { ok: false; message: string; param: string };

const fail = (param: string, message: string): ParseGroundingResult => ({ ok: false, param, message: `Invalid '${param}': ${message}.` });

/**
 * The request's `grounding` field: `{"sources":[{"id":"doc1","title":"…","text":"…"}]}`, or null
 * when the request has none. At most MAX_GROUNDING_SOURCES sources and MAX_GROUNDING_BYTES of
 * UTF-8 in their ids, titles and texts together; ids unique.
 */
export function parseGrounding(body: Record<string, unknown>): ParseGroundingResult {
  const grounding = body.grounding;
  if (grounding === undefined || grounding === null) return { ok: true, sources: null };
  if (typeof grounding !== "object" || Array.isArray(grounding)) return fail("grounding", "expected an object with a \"sources\" array");
  const list = (grounding as Record<string, unknown>).sources;
  if (!Array.isArray(list)) return fail("grounding.sources", "expected an array of sources");
  if (list.length === 0) return fail("grounding.sources", "expected at least one source");
  if (list.length > MAX_GROUNDING_SOURCES) return fail("grounding.sources", `expected at most ${MAX_GROUNDING_SOURCES} sources, got ${list.length}`);
  const sources: GroundingSource[] = [];
  const ids = new Set<string>();
  let bytes = 0;
  for (let i = 0; i < list.length; i++) {
    const at = `grounding.sources[${i}]`;
    const s = list[i] as Record<string, unknown> | null;
    if (typeof s !== "object" || s === null || Array.isArray(s)) return fail(at, "expected an object with \"id\" and \"text\"");
    if (typeof s.id !== "string" || s.id.length === 0) return fail(`${at}.id`, "expected a non-empty string");
    if (s.id.length > MAX_ID_LENGTH) return fail(`${at}.id`, `expected at most ${MAX_ID_LENGTH} characters`);
    if (ids.has(s.id)) return fail(`${at}.id`, "two sources have this id; ids must be unique");
    if (typeof s.text !== "string") return fail(`${at}.text`, "expected a string");
    if (s.title !== undefined && s.title !== null && typeof s.title !== "string") return fail(`${at}.title`, "expected a string");
    const title = typeof s.title === "string" ? s.title : undefined;
    if (title !== undefined && title.length > MAX_TITLE_LENGTH) return fail(`${at}.title`, `expected at most ${MAX_TITLE_LENGTH} characters`);
    bytes += Buffer.byteLength(s.id) + Buffer.byteLength(s.text) + (title ? Buffer.byteLength(title) : 0);
    if (bytes > MAX_GROUNDING_BYTES) return fail("grounding.sources", `the sources hold more than ${MAX_GROUNDING_BYTES} bytes (${MAX_GROUNDING_BYTES / 1024} KiB) of UTF-8 together`);
    ids.add(s.id);
    sources.push(title === undefined ? { id: s.id, text: s.text } : { id: s.id, title, text: s.text });
  }
  return { ok: true, sources };
}

// ─── Vocabulary ──────────────────────────────────────────────────────────────

const MONTHS: Record<string, number> = {};
const monthNames: [number, string[]][] = [
  [1, ["january", "jan", "janvier", "janv", "januar", "jänner", "janner"]],
  [2, ["february", "feb", "febr", "février", "fevrier", "févr", "fevr", "fév", "fev", "februar"]],
  [3, ["march", "mar", "mars", "märz", "marz", "maerz", "mär"]],
  [4, ["april", "apr", "avril", "avr"]],
  [5, ["may", "mai"]],
  [6, ["june", "jun", "juin", "juni"]],
  [7, ["july", "jul", "juillet", "juil", "juli"]],
  [8, ["august", "aug", "août", "aout"]],
  [9, ["september", "sep", "sept", "septembre"]],
  [10, ["october", "oct", "octobre", "oktober", "okt"]],
  [11, ["november", "nov", "novembre"]],
  [12, ["december", "dec", "décembre", "decembre", "déc", "dezember", "dez"]],
];
for (const [m, names] of monthNames) for (const n of names) MONTHS[n] = m;
const month = (word: string): number | undefined => MONTHS[word.toLowerCase()];

const WEEKDAYS = new Set(
  "monday tuesday wednesday thursday friday saturday sunday lundi mardi mercredi jeudi vendredi samedi dimanche montag dienstag mittwoch donnerstag freitag samstag sonnabend sonntag".split(" "),
);

const STOPWORDS = {
  en: new Set(
    "the a an and or but if then this that these those there their they them it its is are was were be been being has have had do does did of to in on at by for with from as into about over under after before between during since until than so such not no nor can could will would shall should may might must also only both each all any some most more many much other which who whom whose what when where why how we our you your he she his her i my me us yes however therefore thus moreover furthermore overall according per while whereas although though because".split(" "),
  ),
  fr: new Set(
    "le la les l un une des du de d et ou mais si ce cet cette ces il elle ils elles on nous vous je tu son sa ses leur leurs est sont était étaient été être a ont avait avaient au aux en dans sur sous par pour avec sans entre chez vers selon depuis pendant avant après contre lors qui que quoi dont où ne pas plus moins très aussi ainsi donc car comme toutefois cependant néanmoins enfin puis alors tous toutes tout toute chaque certains certaines plusieurs notre nos votre vos y ni soit afin d'après d’après également".split(" "),
  ),
  de: new Set(
    "der die das den dem des ein eine einen einem einer eines und oder aber wenn dann dies diese dieser dieses jene es er sie wir ihr ich du ist sind war waren sein wird werden wurde wurden hat haben hatte hatten im in am an auf aus bei mit nach von vor zu zum zur für über unter durch gegen ohne um seit bis als wie auch nur noch schon nicht kein keine sehr so dass daß weil da doch denn jedoch außerdem zudem laut gemäß insgesamt somit also damit dabei hierbei alle jeder jede jedes man sich".split(" "),
  ),
};
const ANY_STOPWORD = new Set([...STOPWORDS.en, ...STOPWORDS.fr, ...STOPWORDS.de]);

/** Words joining the parts of a proper name: "Banque de France", "Bank of England", "Ursula von der Leyen". */
const CONNECTORS = new Set(["de", "du", "des", "d", "la", "le", "of", "the", "von", "van", "der", "den", "y", "del", "di", "da", "&"]);
const TITLES = new Set(["mr", "mrs", "ms", "dr", "prof", "m", "mme", "mlle", "me", "herr", "frau", "sir", "madame", "monsieur"]);
const NON_ENTITY = new Set(["euro", "euros", "prozent", "percent", "mio", "mrd", "million", "millionen", "milliarden", "milliarde", "ok", "faq"]);

type Lang = "en" | "fr" | "de";

function detectLanguage(words: readonly string[]): Lang {
  const count = { en: 0, fr: 0, de: 0 };
  for (const w of words) {
    const l = w.toLowerCase();
    if (STOPWORDS.en.has(l)) count.en++;
    if (STOPWORDS.fr.has(l)) count.fr++;
    if (STOPWORDS.de.has(l)) count.de++;
  }
  return count.de > count.en && count.de >= count.fr ? "de" : count.fr > count.en ? "fr" : "en";
}

// ─── Numbers, amounts, dates ────────────────────────────────────────────────

const SP = "[ \\u00a0\\u202f\\u2009]";
const NUMBER = `(?:\\d{1,3}(?:(?:${SP}|['’])\\d{3})+(?:[.,]\\d+)?|\\d{1,3}(?:,\\d{3})+(?:\\.\\d+)?|\\d{1,3}(?:\\.\\d{3})+(?:,\\d+)?|\\d+(?:[.,]\\d+)?)`;
const NUM_START = "(?<![\\p{L}\\p{N}_.,\\-/])";
const NUM_END = "(?![\\p{L}\\p{N}_]|[.,]\\d)";
const SCALE_WORD = "(?:millions?|millionen|mio\\.?|mln|milliards?|milliarden?|mrd\\.?|mds?\\.?|billions?|billionen|thousand|tausend|tsd\\.?|mille)(?![\\p{L}])";
const SCALE_SHORT = "(?:bn|mn|md|k|m)(?![\\p{L}])";
const CUR_BEFORE = "(?:US\\$|€|\\$|£|EUR|USD|GBP|CHF)";
const CUR_AFTER = "(?:€|\\$|£|EUR|USD|GBP|CHF|euros?|dollars?|pounds?|livres?(?: sterling)?|francs? suisses?|franken)(?![\\p{L}])";
const PERCENT = "(?:%|pour ?cent|percent|per ?cent|prozent|points? de pourcentage|prozentpunkte?n?|percentage points?)(?![\\p{L}])";

/** Amounts and percentages: "€1,200", "1 200 €", "1,2 Mio. Euro", "2 millions d'euros", "12,5 %". */
const AMOUNT_RE = new RegExp(
  `(?<cb>${CUR_BEFORE})${SP}?${NUM_START}(?<n1>${NUMBER})${NUM_END}(?:${SP}?(?<s1>${SCALE_WORD}|${SCALE_SHORT}))?` +
    `|${NUM_START}(?<n2>${NUMBER})${NUM_END}(?:${SP}?(?<s2>${SCALE_WORD}|${SCALE_SHORT}))?${SP}?(?:(?:d['’]|de ?|an ?)?(?<ca>${CUR_AFTER})|(?<pc>${PERCENT}))`,
  "giu",
);
const NUMBER_RE = new RegExp(`${NUM_START}(?<n>${NUMBER})${NUM_END}(?:${SP}?(?<s>${SCALE_WORD}))?`, "gu");
const TIME_RE = /(?<![\p{N}])([01]?\d|2[0-3]) ?(?::|h ?)([0-5]\d)(?![\p{N}])/gu;

/** `afterLetters`: every match starts with a word (a month's name) followed by spaces and a digit (see monthStarts). */
const DATE_RES: { re: RegExp; afterLetters?: boolean; parts(m: RegExpExecArray): DateParts[] }[] = [
  { re: /(?<![\p{N}])(\d{4})-(\d{2})-(\d{2})(?![\p{N}])/gu, parts: (m) => [{ y: +m[1], m: +m[2], d: +m[3] }] },
  {
    re: /(?<![\p{N}.\/])(\d{1,2})([./])(\d{1,2})\2(\d{4})(?![\p{N}]|[.\/]\d)/gu,
    parts: (m) => {
      const a = +m[1], b = +m[3], y = +m[4];
      const out: DateParts[] = [{ y, m: b, d: a }];
      if (m[2] === "/" && a <= 12 && a !== b) out.push({ y, m: a, d: b }); // US order too
      return out;
    },
  },
  {
    re: new RegExp(`(?<![\\p{N}])(\\d{1,2})(?:er|st|nd|rd|th|\\.)?${SP}+(?:of${SP}+)?(\\p{L}{3,9})\\.?(?![\\p{L}])(?:,?${SP}+(\\d{4})(?![\\p{N}]))?`, "gu"),
    parts: (m) => (month(m[2]) ? [{ y: m[3] ? +m[3] : null, m: month(m[2])!, d: +m[1] }] : []),
  },
  {
    re: new RegExp(`(?<![\\p{L}])(\\p{L}{3,9})\\.?${SP}+(\\d{1,2})(?:st|nd|rd|th)?(?![\\p{N}])(?:,?${SP}+(\\d{4})(?![\\p{N}]))?`, "gu"),
    afterLetters: true,
    parts: (m) => (month(m[1]) ? [{ y: m[3] ? +m[3] : null, m: month(m[1])!, d: +m[2] }] : []),
  },
  {
    re: new RegExp(`(?<![\\p{L}])(\\p{L}{3,9})\\.?${SP}+(\\d{4})(?![\\p{N}])`, "gu"),
    afterLetters: true,
    parts: (m) => (month(m[1]) ? [{ y: +m[2], m: month(m[1])!, d: null }] : []),
  },
];

interface DateParts {
  y: number | null;
  m: number;
  d: number | null;
}

const pad = (n: number) => String(n).padStart(2, "0");
function dateKey(p: DateParts): string | null {
  if (p.m < 1 || p.m > 12 || (p.d !== null && (p.d < 1 || p.d > 31))) return null;
  if (p.y !== null && p.d !== null) return `${p.y}-${pad(p.m)}-${pad(p.d)}`;
  if (p.y !== null) return `${p.y}-${pad(p.m)}`;
  return p.d !== null ? `--${pad(p.m)}-${pad(p.d)}` : null;
}
/** The keys a source date answers for: itself, its month, its day without the year, its year. */
function dateKeysOfSource(p: DateParts): string[] {
  const out: string[] = [];
  const full = dateKey(p);
  if (!full) return out;
  out.push(full);
  if (p.y !== null && p.d !== null) out.push(`${p.y}-${pad(p.m)}`);
  if (p.d !== null) out.push(`--${pad(p.m)}-${pad(p.d)}`);
  return out;
}

interface ParsedNumber {
  values: number[];
  /** Decimal places written, for the precision rule. */
  decimals: number;
}

function parseNumber(raw: string): ParsedNumber {
  if (/^\d+$/.test(raw)) return { values: [Number(raw)], decimals: 0 }; // most of them: the same as below, sooner
  const s = raw.replace(/[ \u00a0\u202f\u2009'’]/g, "");
  const lastDot = s.lastIndexOf("."), lastComma = s.lastIndexOf(",");
  if (lastDot >= 0 && lastComma >= 0) {
    const dec = lastDot > lastComma ? "." : ",";
    const grp = dec === "." ? "," : ".";
    const v = Number(s.split(grp).join("").replace(dec, "."));
    return { values: [v], decimals: s.length - Math.max(lastDot, lastComma) - 1 };
  }
  const sep = lastDot >= 0 ? "." : lastComma >= 0 ? "," : null;
  if (sep === null) return { values: [Number(s)], decimals: 0 };
  const parts = s.split(sep);
  if (parts.length > 2) return { values: [Number(parts.join(""))], decimals: 0 };
  const [int, frac] = parts;
  const asDecimal = Number(`${int}.${frac}`);
  // "1,200" is 1200 in English and 1.2 in French; "1.200" the other way round: both readings.
  if (frac.length === 3 && int.length <= 3 && int !== "0") return { values: [Number(int + frac), asDecimal], decimals: 0 };
  return { values: [asDecimal], decimals: frac.length };
}

function scaleOf(word: string | undefined): number[] {
  if (!word) return [1];
  const w = word.toLowerCase().replace(/\.$/, "");
  if (/^(thousand|tausend|tsd|mille|k)$/.test(w)) return [1e3];
  if (/^(millions?|millionen|mio|mln|m|mn)$/.test(w)) return [1e6];
  if (/^(milliards?|milliarden?|mrd|mds?|md|bn)$/.test(w)) return [1e9];
  if (/^billions?$/.test(w)) return [1e9, 1e12]; // English billion, French billion
  if (w === "billionen") return [1e12];
  return [1];
}

const CURRENCY: [RegExp, string][] = [
  [/^(€|eur|euros?)$/i, "EUR"],
  [/^(us\$|\$|usd|dollars?)$/i, "USD"],
  [/^(£|gbp|pounds?|livres?( sterling)?)$/i, "GBP"],
  [/^(chf|francs? suisses?|franken)$/i, "CHF"],
];
function unitOf(currency: string | undefined, percent: string | undefined): string {
  if (percent) return /point|punkt/i.test(percent) ? "pp" : "%";
  for (const [re, code] of CURRENCY) if (currency && re.test(currency)) return code;
  return "?";
}

const canon = (v: number) => String(Math.round(v * 1e6) / 1e6);

/**
 * The precision rule: a source's value backs the answer's when the answer rounds it at the precision
 * it is written with ("12 %" for 12,4 %; "1,2 million" for 1 234 567), or within 2.5 % after
 * "about", "environ", "rund"….
 */
function tolerance(value: number, decimals: number, scale: number, approximate: boolean): number {
  const half = 0.5 * Math.pow(10, -decimals) * scale + 1e-9;
  return approximate ? Math.max(half, 0.025 * Math.abs(value)) : half;
}

const MEASURE_UNIT = /^[ \u00a0]?(?:mg|g|kg|t|ml|cl|l|km|m|cm|mm|kwh|mwh|gwh|kw|mw|gw|go|gb|tb|to|h|heures?|stunden?|jours?|tage?n?|days?|hours?|minutes?|minuten|min|semaines?|wochen?|weeks?|mois|monate?n?|months?|ans|années?|jahre?n?|years?)(?![\p{L}])/iu;

const APPROX_RE = /(?:environ|près de|presque|quelque|autour de|about|around|approximately|roughly|nearly|almost|some|over|more than|plus de|rund|etwa|ungefähr|circa|ca\.|knapp|fast|über|mehr als|gut)\s*$/i;

// ─── Text ────────────────────────────────────────────────────────────────────
//
// Speed: a regular expression with Unicode property classes that scans a whole text (a lookbehind
// tried at every position) costs ~0.4 ms per 10 KB of text on this hardware, and folding a text
// (NFD, a `\p{M}` replace, lower case) costs as much again. So texts are read with tables per
// UTF-16 unit (its classes and its fold, computed once per character, never per text), and the
// costly expressions run only where a match can start. A text holding surrogate pairs (or, for
// folding, characters outside the tables) takes the plain regular-expression path instead, which
// gives the same results.

/** Words; letters glued to a number ("2FA", "5G") are not a word of their own. */
const WORD_RE = /(?<![\p{N}])[\p{L}\p{M}][\p{L}\p{M}\p{N}'’\-]*/gu;
const ELISION_RE = /^(?:[ldjmnstc]|qu|jusqu|lorsqu|puisqu)['’](?=\p{L})/iu;
const SURROGATE = /[\ud800-\udfff]/;

const IS_L = 2, IS_M = 4, IS_N = 8;
/** Per UTF-16 unit: 0 until first asked, then 1 | IS_L | IS_M | IS_N as `\p{L}`, `\p{M}`, `\p{N}` say of it. */
const CLASSES = new Uint8Array(0x10000);
function classOf(c: number): number {
  let v = CLASSES[c];
  if (v === 0) {
    const ch = String.fromCharCode(c);
    v = 1 | (/\p{L}/u.test(ch) ? IS_L : 0) | (/\p{M}/u.test(ch) ? IS_M : 0) | (/\p{N}/u.test(ch) ? IS_N : 0);
    CLASSES[c] = v;
  }
  return v;
}

function foldSlow(s: string): string {
  return s.normalize("NFD").replace(/\p{M}/gu, "").toLowerCase();
}
/**
 * The fold of one UTF-16 unit below U+0370 (Latin, combining marks) or in U+2000–U+20CF
 * (punctuation, currency signs): a char code, -1 for none (a mark), -2 to take the slow path. In
 * these ranges folding a text is folding each of its characters: no lower case depends on context
 * (Greek final sigma is outside), and the only characters NFD reorders are the marks removed.
 */
const FOLD_LOW = new Int32Array(0x370);
const FOLD_PUNCT = new Int32Array(0xd0);
for (const [table, base] of [[FOLD_LOW, 0], [FOLD_PUNCT, 0x2000]] as const) {
  for (let i = 0; i < table.length; i++) {
    const f = foldSlow(String.fromCharCode(base + i));
    table[i] = f.length === 0 ? -1 : f.length === 1 ? f.charCodeAt(0) : -2;
  }
}
let scratch = new Uint16Array(1024);
function codes(length: number): Uint16Array {
  if (scratch.length < length) scratch = new Uint16Array(Math.max(length, scratch.length * 2));
  return scratch;
}
function stringOf(buf: Uint16Array, length: number): string {
  let out = "";
  for (let a = 0; a < length; a += 8192) out += String.fromCharCode.apply(null, buf.subarray(a, Math.min(length, a + 8192)) as unknown as number[]);
  return out;
}

/** The fold of one UTF-16 unit (see FOLD_LOW), -2 outside the tables. */
const foldUnit = (c: number) => (c < 0x370 ? FOLD_LOW[c] : c >= 0x2000 && c < 0x20d0 ? FOLD_PUNCT[c - 0x2000] : -2);

/** Case and accents folded: NFD, marks removed, lower case. */
function fold(s: string): string {
  const n = s.length;
  let i = 0;
  while (i < n && s.charCodeAt(i) < 0xc0) i++; // below À: nothing to decompose, lower case alone
  if (i === n) return s.toLowerCase();
  if (n <= 48) {
    // A word: built as a string (no buffer to copy).
    let out = "";
    for (let k = 0; k < n; k++) {
      const f = foldUnit(s.charCodeAt(k));
      if (f >= 0) out += String.fromCharCode(f);
      else if (f === -2) return foldSlow(s);
    }
    return out;
  }
  const buf = codes(n);
  let len = 0;
  for (let k = 0; k < n; k++) {
    const f = foldUnit(s.charCodeAt(k));
    if (f >= 0) buf[len++] = f;
    else if (f === -2) return foldSlow(s);
  }
  return stringOf(buf, len);
}

/** A light stem, the same on both sides: "Europäischen" = "europäische", "Müllers" = "Müller", "banques" = "banque". */
function stem(word: string): string {
  return stemFolded(fold(word));
}
const hasApostrophe = (w: string) => w.includes("'") || w.includes("’");
function stemFolded(folded: string): string {
  let w = hasApostrophe(folded) ? folded.replace(ELISION_RE, "") : folded;
  const n = w.length;
  if (n >= 2 && w.charCodeAt(n - 1) === 0x73 && (w.charCodeAt(n - 2) === 0x27 || w.charCodeAt(n - 2) === 0x2019)) w = w.slice(0, n - 2); // 's
  for (let i = 0; i < 2; i++) {
    const k = suffixLength(w);
    if (k === 0 || w.length - k < 3) break;
    w = w.slice(0, w.length - k);
  }
  return w;
}
/** The length of the ending /(?:en|es|er|em|e|s|n)$/ matches, 0 for none. */
function suffixLength(w: string): number {
  const n = w.length;
  if (n === 0) return 0;
  const last = w.charCodeAt(n - 1);
  if (n >= 2 && w.charCodeAt(n - 2) === 0x65 && (last === 0x6e || last === 0x73 || last === 0x72 || last === 0x6d)) return 2;
  return last === 0x65 || last === 0x73 || last === 0x6e ? 1 : 0;
}

/**
 * normalizeForQuote() of one UTF-16 unit in the ranges of FOLD_LOW and FOLD_PUNCT: its fold after
 * the replacements of normalizeForQuoteSlow (a char code), -1 for nothing (a mark, a soft hyphen),
 * -3 for a separator, -2 to take the slow path.
 */
const QUOTE_LOW = new Int32Array(FOLD_LOW.length);
const QUOTE_PUNCT = new Int32Array(FOLD_PUNCT.length);
for (const [table, folds] of [[QUOTE_LOW, FOLD_LOW], [QUOTE_PUNCT, FOLD_PUNCT]] as const) {
  for (let i = 0; i < table.length; i++) {
    let c = folds[i];
    if (c < 0) {
      table[i] = c;
      continue;
    }
    if (c === 0x2019 || c === 0x2018 || c === 0x60 || c === 0xb4) c = 0x27; // ’‘`´ → '
    else if (c >= 0x2010 && c <= 0x2014) c = 0x2d; // ‐‑‒–— → -
    else if (c === 0xad) {
      table[i] = -1; // soft hyphen: removed
      continue;
    }
    const kept = (classOf(c) & (IS_L | IS_N)) !== 0 || c === 0x27 || c === 0x25 || c === 0x20ac || c === 0x24 || c === 0xa3 || c === 0x2d;
    table[i] = kept ? c : -3;
  }
}

/** For quotes: case, accents, typography and spacing folded (what normalizeForQuoteSlow(fold(s)) gives, in one pass). */
function normalizeForQuote(s: string): string {
  const buf = codes(s.length);
  let len = 0;
  let gap = false;
  for (let k = 0; k < s.length; k++) {
    const u = s.charCodeAt(k);
    const c = u < 0x370 ? QUOTE_LOW[u] : u >= 0x2000 && u < 0x20d0 ? QUOTE_PUNCT[u - 0x2000] : -2;
    if (c >= 0) {
      if (gap && len > 0) buf[len++] = 0x20;
      gap = false;
      buf[len++] = c;
    } else if (c === -3) gap = true;
    else if (c === -2) return normalizeForQuoteSlow(fold(s)); // outside the tables (surrogates too)
  }
  return stringOf(buf, len);
}
function normalizeForQuoteSlow(folded: string): string {
  return folded
    .replace(/[’‘`´]/g, "'")
    .replace(/[‐‑‒–—]/g, "-")
    .replace(/[\u00ad]/g, "")
    .replace(/[^\p{L}\p{N}'%€$£-]+/gu, " ")
    .trim();
}

interface Word {
  text: string;
  index: number;
}
/** The matches of WORD_RE (start, end exclusive), left to right, by a scan of the character table. */
function scanWords(text: string, onWord: (start: number, end: number) => void): void {
  if (SURROGATE.test(text)) {
    for (const m of text.matchAll(WORD_RE)) onWord(m.index, m.index + m[0].length);
    return;
  }
  const n = text.length;
  let i = 0;
  while (i < n) {
    if ((classOf(text.charCodeAt(i)) & (IS_L | IS_M)) === 0 || (i > 0 && (classOf(text.charCodeAt(i - 1)) & IS_N) !== 0)) {
      i++;
      continue;
    }
    let j = i + 1;
    while (j < n) {
      const c = text.charCodeAt(j);
      if ((classOf(c) & (IS_L | IS_M | IS_N)) !== 0 || c === 0x27 || c === 0x2019 || c === 0x2d) j++;
      else break;
    }
    onWord(i, j);
    i = j;
  }
}
function wordsOf(text: string): Word[] {
  const out: Word[] = [];
  scanWords(text, (start, end) => out.push({ text: text.slice(start, end), index: start }));
  return out;
}

// ─── The sources' index ──────────────────────────────────────────────────────

interface SourceIndex {
  ids: Set<string>;
  idsFolded: Set<string>;
  count: number;
  numbers: Set<string>;
  numberList: number[];
  amounts: Set<string>;
  amountList: { unit: string; value: number }[];
  dates: Set<string>;
  times: Set<string>;
  /** Built on the first quote an answer holds. */
  quoteText: string[] | null;
  texts: string[];
  /** Per source: the stems of its words in order (connectors aside), the set of all its words' stems, and the initials of its content words. */
  content: string[][];
  wordSets: Set<string>[];
  initials: string[];
  /** numberList, and amountList's values per unit, sorted without NaN: built on the first look-up with a tolerance. */
  numbersSorted: Float64Array | null;
  amountsSorted: Map<string, Float64Array> | null;
}

const RANGE_SCALE = new RegExp(`^${SP}?(?:[–—-]|to|à|bis)${SP}?${NUMBER}${SP}?(${SCALE_WORD})`, "iu");

interface WordInfo {
  /** The word's stem, then its hyphenated parts' ("Jean-Pierre", "Baden-Württemberg"). */
  stems: string[];
  connector: boolean;
  /** Its initials for acronyms, one per hyphenated part ("présidente-directrice" gives "pd"); none for a common word. */
  initials: string;
  /** The last source (its position) whose word set has the stems: a word met again there adds nothing. */
  inSet: number;
}
/** A word's info, computed once per distinct word of a request's sources (`memo` lives as long as one index build). */
function wordInfo(word: string, memo: Map<string, WordInfo>): WordInfo {
  const hit = memo.get(word);
  if (hit) return hit;
  const info = infoOfFolded(fold(word));
  memo.set(word, info);
  return info;
}
/** The same, from the word's fold (what it depends on: its hyphens stay where they were, its parts fold to the fold's parts). */
function wordInfoFolded(folded: string, memo: Map<string, WordInfo>): WordInfo {
  const hit = memo.get(folded);
  if (hit) return hit;
  const info = infoOfFolded(folded);
  memo.set(folded, info);
  return info;
}
function infoOfFolded(folded: string): WordInfo {
  const bare = hasApostrophe(folded) ? folded.replace(ELISION_RE, "") : folded;
  const connector = CONNECTORS.has(bare);
  const stems = [stemFolded(folded)];
  const hyphen = folded.includes("-");
  if (hyphen) for (const part of folded.split("-")) if (part) stems.push(stemFolded(part));
  let initials = ""; // the first character of each part between hyphens
  if (!connector && !ANY_STOPWORD.has(bare)) {
    if (!hyphen) initials = bare[0] ?? "";
    else for (let i = 0; i < bare.length; i++) if (bare[i] !== "-" && (i === 0 || bare[i - 1] === "-")) initials += bare[i];
  }
  return { stems, connector, initials, inSet: -1 };
}

/**
 * fold(text) when folding maps each UTF-16 unit of it to one (no marks, every unit in the tables):
 * then fold(text.slice(a, b)) is its slice(a, b). Null otherwise.
 */
function foldUnitByUnit(text: string): string | null {
  const n = text.length;
  let i = 0;
  while (i < n && text.charCodeAt(i) < 0xc0) i++;
  if (i === n) return text.toLowerCase();
  const buf = codes(n);
  for (let k = 0; k < n; k++) {
    const f = foldUnit(text.charCodeAt(k));
    if (f < 0) return null;
    buf[k] = f;
  }
  return stringOf(buf, n);
}

const UNIT_NEARBY = /(%|pour ?cent|prozent|percent)|(€|eur)|(\$|usd|dollar)/i;

const indexes = new WeakMap<readonly GroundingSource[], SourceIndex>();

/** The sources' index, built once per sources array (a request's n choices share it). */
export function indexGroundingSources(sources: readonly GroundingSource[]): SourceIndex {
  const hit = indexes.get(sources);
  if (hit) return hit;
  const idx: SourceIndex = {
    ids: new Set(sources.map((s) => s.id)),
    idsFolded: new Set(sources.map((s) => s.id.toLowerCase())),
    count: sources.length,
    numbers: new Set(),
    numberList: [],
    amounts: new Set(),
    amountList: [],
    dates: new Set(),
    times: new Set(),
    quoteText: null,
    texts: [],
    content: [],
    wordSets: [],
    initials: [],
    numbersSorted: null,
    amountsSorted: null,
  };
  const memo = new Map<string, WordInfo>();
  const memoFolded = new Map<string, WordInfo>();
  for (let sourceNo = 0; sourceNo < sources.length; sourceNo++) {
    const source = sources[sourceNo];
    const text = source.title ? `${source.title}\n${source.text}` : source.text;
    for (const a of findAmounts(text)) {
      for (const v of a.values) {
        idx.amounts.add(`${a.unit}:${canon(v)}`);
        idx.amountList.push({ unit: a.unit, value: v });
        // A source's "Budget (€) : 1 200" still backs "1 200 €" below, and its numbers back bare numbers.
        idx.numbers.add(canon(v));
        idx.numberList.push(v);
      }
      for (const v of a.raw) idx.numbers.add(canon(v));
    }
    for (const d of findDates(text)) {
      for (const p of d.parts) {
        for (const k of dateKeysOfSource(p)) idx.dates.add(k);
        if (p.y !== null) idx.numbers.add(String(p.y));
        if (p.d !== null) idx.numbers.add(String(p.d));
      }
    }
    for (const t of text.matchAll(TIME_RE)) idx.times.add(`${+t[1]}:${t[2]}`);
    for (const m of text.matchAll(NUMBER_RE)) {
      const p = parseNumber(m.groups!.n);
      const scales = scaleOf(m.groups!.s);
      for (const v of p.values) {
        idx.numbers.add(canon(v));
        idx.numberList.push(v);
        for (const sc of scales) {
          if (sc === 1) continue;
          idx.numbers.add(canon(v * sc));
          idx.numberList.push(v * sc);
        }
      }
      // A number near a currency or percent sign in the source is also an amount of it.
      const around = UNIT_NEARBY.exec(text.slice(Math.max(0, m.index - 24), m.index + m[0].length + 24));
      const unit = around ? (around[1] ? "%" : around[2] ? "EUR" : "USD") : null;
      if (unit) for (const v of p.values) for (const sc of scales) idx.amounts.add(`${unit}:${canon(v * sc)}`);
    }
    idx.texts.push(text);
    const content: string[] = [];
    const set = new Set<string>();
    let initials = "";
    const folded = foldUnitByUnit(text);
    scanWords(text, (start, end) => {
      const info = folded !== null ? wordInfoFolded(folded.slice(start, end), memoFolded) : wordInfo(text.slice(start, end), memo);
      if (info.inSet !== sourceNo) {
        for (const st of info.stems) set.add(st);
        info.inSet = sourceNo;
      }
      if (!info.connector) content.push(info.stems[0]);
      initials += info.initials;
    });
    idx.content.push(content);
    idx.wordSets.push(set);
    idx.initials.push(initials);
  }
  indexes.set(sources, idx);
  return idx;
}

/** Which characters of a text a claim already covers. */
class Spans {
  private readonly mask: Uint8Array;
  constructor(length: number) {
    this.mask = new Uint8Array(length);
  }
  overlaps(start: number, end: number): boolean {
    for (let i = start; i < end; i++) if (this.mask[i]) return true;
    return false;
  }
  take(start: number, end: number): void {
    this.mask.fill(1, start, end);
  }
}

interface FoundAmount {
  start: number;
  end: number;
  unit: string;
  values: number[];
  raw: number[];
  decimals: number;
  scale: number;
  /** After "about", "environ", "rund"…. */
  approximate: boolean;
}

function findAmounts(text: string): FoundAmount[] {
  const out: FoundAmount[] = [];
  for (const m of text.matchAll(AMOUNT_RE)) {
    const g = m.groups!;
    const numText = g.n1 ?? g.n2;
    // A range's scale word and currency stand after its second figure: "$1.62–1.65 billion".
    const scaleWord = g.s1 ?? g.s2 ?? RANGE_SCALE.exec(text.slice(m.index + m[0].length, m.index + m[0].length + 40))?.[1];
    // "12 m" is twelve metres, not millions: single-letter scales only beside a currency.
    if (scaleWord && /^(k|m|mn|md|bn)$/i.test(scaleWord) && !(g.cb || g.ca)) continue;
    const p = parseNumber(numText);
    const unit = unitOf(g.cb ?? g.ca, g.pc);
    const values: number[] = [];
    const scales = scaleOf(scaleWord);
    for (const v of p.values) for (const sc of scales) values.push(v * sc);
    out.push({
      start: m.index,
      end: m.index + m[0].length,
      unit,
      values,
      raw: p.values,
      decimals: p.decimals,
      scale: scales[0],
      approximate: APPROX_RE.test(text.slice(Math.max(0, m.index - 20), m.index)),
    });
  }
  return out;
}

const STICKY = new Map(DATE_RES.filter((d) => d.afterLetters).map((d) => [d.re, new RegExp(d.re.source, "uy")]));
const SPACES_DIGIT = /[ \u00a0\u202f\u2009]+\d/g;

/**
 * Where a match of an `afterLetters` expression can start: the run of letters (then an optional
 * ".") before each run of spaces followed by a digit. Text without surrogate pairs only.
 */
function monthStarts(text: string): number[] {
  const out: number[] = [];
  for (const m of text.matchAll(SPACES_DIGIT)) {
    let end = m.index;
    if (end > 0 && text.charCodeAt(end - 1) === 0x2e) end--;
    let start = end;
    while (start > 0 && (classOf(text.charCodeAt(start - 1)) & IS_L) !== 0) start--;
    if (start < end) out.push(start);
  }
  return out;
}

/** What `text.matchAll(re)` gives when every match starts at one of `starts` (ascending): `sticky` tried there, left to right. */
function matchesAt(sticky: RegExp, text: string, starts: readonly number[]): RegExpExecArray[] {
  const out: RegExpExecArray[] = [];
  let from = 0;
  for (const start of starts) {
    if (start < from) continue;
    sticky.lastIndex = start;
    const m = sticky.exec(text);
    if (m) {
      out.push(m);
      from = start + m[0].length;
    }
  }
  return out;
}

function findDates(text: string): { start: number; end: number; parts: DateParts[] }[] {
  const out: { start: number; end: number; parts: DateParts[] }[] = [];
  const covered: number[] = []; // start, end of each date taken (a few per text)
  const overlaps = (start: number, end: number) => {
    for (let i = 0; i < covered.length; i += 2) if (covered[i] < end && start < covered[i + 1]) return true;
    return false;
  };
  const plain = SURROGATE.test(text);
  let starts: number[] | null = null;
  for (const { re, afterLetters, parts } of DATE_RES) {
    const matches = afterLetters && !plain ? matchesAt(STICKY.get(re)!, text, (starts ??= monthStarts(text))) : text.matchAll(re);
    for (const m of matches) {
      const start = m.index, end = m.index + m[0].length;
      if (overlaps(start, end)) continue;
      const ps = parts(m).filter((p) => dateKey(p) !== null);
      if (ps.length === 0) continue;
      out.push({ start, end, parts: ps });
      covered.push(start, end);
    }
  }
  return out;
}

// ─── Look-ups with a tolerance ───────────────────────────────────────────────

const sortedValues = (values: Iterable<number>) => Float64Array.from([...values].filter((v) => !Number.isNaN(v))).sort();

function amountValues(idx: SourceIndex, unit: string): Float64Array {
  if (!idx.amountsSorted) {
    const byUnit = new Map<string, number[]>();
    for (const a of idx.amountList) (byUnit.get(a.unit) ?? byUnit.set(a.unit, []).get(a.unit)!).push(a.value);
    idx.amountsSorted = new Map([...byUnit].map(([u, values]) => [u, sortedValues(values)]));
  }
  return idx.amountsSorted.get(unit) ?? EMPTY;
}
const EMPTY = new Float64Array(0);

/**
 * Whether some value s of `sorted` has Math.abs(s - v) <= tol: the test applied, as before, to the
 * values a binary search finds near [v - tol, v + tol] (the window widened against rounding).
 */
function anyWithin(sorted: Float64Array, v: number, tol: number): boolean {
  if (!Number.isFinite(v) || !Number.isFinite(tol)) return sorted.some((s) => Math.abs(s - v) <= tol);
  const slack = (Math.abs(v) + tol) * 1e-9 + 1e-12;
  const low = v - tol - slack, high = v + tol + slack;
  let lo = 0, hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < low) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo; i < sorted.length && sorted[i] <= high; i++) if (Math.abs(sorted[i] - v) <= tol) return true;
  return false;
}

// ─── Sentences ───────────────────────────────────────────────────────────────

const ABBREVIATION_END = /(?:\b(?:Dr|Prof|Nr|bzw|ca|vgl|Mio|Mrd|Tsd|St|Mr|Mrs|Ms|Abs|Art|No|env|av|cf|Jh|Hr|Fr|S|p|M|etc)|\b[zZ]\. ?B|\b[dD]\. ?h|\b[uU]\. ?a|\b[eE]\. ?g|\b[iI]\. ?e)$/u;
const BOUNDARY_RE = /[.!?…]+["»”’)\]]*(?=\s)|\n/g;

/**
 * Sentence spans: a break after . ! ? … followed by white space, and at every line break (lists),
 * except after an abbreviation, before a lower-case word, and in "3. März" (a German ordinal day).
 */
export function splitSentences(text: string): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  let start = 0;
  for (const m of text.matchAll(BOUNDARY_RE)) {
    const end = m.index + m[0].length;
    if (m[0] !== "\n") {
      const after = /^\s+(\S+)/.exec(text.slice(end, end + 40));
      const next = after ? after[1] : "";
      const before = text.slice(Math.max(start, m.index - 12), m.index);
      if (/^\p{Ll}/u.test(next)) continue;
      if (m[0] === "." && ABBREVIATION_END.test(before)) continue;
      if (m[0] === "." && /(?:^|[^\p{N}.])\d{1,2}$/u.test(before) && month(next.replace(/[.,]$/, ""))) continue;
    }
    if (/\S/.test(text.slice(start, end))) out.push({ start, end });
    start = end;
  }
  if (/\S/.test(text.slice(start))) out.push({ start, end: text.length });
  return out;
}

// ─── The check ───────────────────────────────────────────────────────────────

interface Claim {
  start: number;
  end: number;
  kind: ClaimKind;
  supported: boolean;
}

const QUOTE_RES = [/"([^"\n]{3,600})"/g, /“([^”\n]{3,600})”/g, /„([^“”\n]{3,600})[“”]/g, /«\s?([^»\n]{2,600}?)\s?»/g, /»([^«\n]{3,600})«/g];
const CITATION_RE = /\[([^\[\]\n]{1,60})\](?!\()|【([^】\n]{1,60})】/g;

/**
 * The answer checked against its sources: every claim of the kinds above that no source backs is
 * reported with its position. Score: supported claims / claims (1 with none).
 */
export function checkGroundedness(answer: string, sources: readonly GroundingSource[]): GroundednessResult {
  const idx = indexGroundingSources(sources);
  const claims: Claim[] = [];
  const taken = new Spans(answer.length);
  const overlaps = (start: number, end: number) => taken.overlaps(start, end);
  const add = (start: number, end: number, kind: ClaimKind, supported: boolean) => {
    claims.push({ start, end, kind, supported });
    taken.take(start, end);
  };

  // Citations: [1], [doc1], [1, 3], 【2】 — by 1-based index or by id.
  for (const m of answer.matchAll(CITATION_RE)) {
    const inner = (m[1] ?? m[2]).trim();
    const items = inner.split(/\s*[,;]\s*/);
    const refs = items.map((it) => it.replace(/^(?:source|doc|document|quelle|réf|ref|src)\.?\s*[:#]?\s+/i, "").replace(/^#/, ""));
    if (!refs.every((r) => /^\d{1,3}$/.test(r) || /^[\p{L}\p{N}_.:\-]{1,128}$/u.test(r))) continue;
    if (refs.every((r) => !/^\d{1,3}$/.test(r) && !idx.ids.has(r) && !/\d/.test(r))) continue; // "[sic]", "[Anm.]": not citations
    const byIndex = (n: number) => n >= 1 && n <= idx.count;
    // "[doc2]" or "[source2]" for a source whose id is not that: the second source.
    const numbered = (r: string) => /^(?:doc|source|src|ref|quelle)(\d{1,3})$/i.exec(r);
    const supported = refs.every((r) =>
      /^\d{1,3}$/.test(r) ? byIndex(+r) || idx.ids.has(r) : idx.ids.has(r) || idx.idsFolded.has(r.toLowerCase()) || (numbered(r) !== null && byIndex(+numbered(r)![1])),
    );
    add(m.index, m.index + m[0].length, "citation", supported);
  }

  // Quoted strings: verbatim (case, accents and typography folded) in one source; "…" splits a quote.
  for (const re of QUOTE_RES) {
    for (const m of answer.matchAll(re)) {
      const start = m.index, end = m.index + m[0].length;
      if (overlaps(start, end)) continue;
      const parts = m[1].split(/\s*(?:\[…\]|\[\.\.\.\]|…|\.\.\.|\(…\))\s*/).map(normalizeForQuote).filter((p) => p.length >= 2);
      if (parts.length === 0) continue;
      idx.quoteText ??= idx.texts.map(normalizeForQuote);
      const supported = idx.quoteText.some((t) => parts.every((p) => t.includes(p)));
      add(start, end, "quote", supported);
    }
  }

  // Dates.
  for (const d of findDates(answer)) {
    if (overlaps(d.start, d.end)) continue;
    const supported = d.parts.some((p) => {
      const key = dateKey(p)!;
      return idx.dates.has(key) || (p.y === null && p.d === null);
    });
    add(d.start, d.end, "date", supported);
  }

  // Amounts and percentages.
  for (const a of findAmounts(answer)) {
    if (overlaps(a.start, a.end)) continue;
    const supported = a.values.some(
      (v) =>
        idx.amounts.has(`${a.unit}:${canon(v)}`) ||
        anyWithin(amountValues(idx, a.unit), v, tolerance(v, a.decimals, a.scale, a.approximate)),
    );
    add(a.start, a.end, "amount", supported);
  }

  // Times of day.
  for (const t of answer.matchAll(TIME_RE)) {
    const start = t.index, end = t.index + t[0].length;
    if (overlaps(start, end)) continue;
    add(start, end, "number", idx.times.has(`${+t[1]}:${t[2]}`));
  }

  // Other numbers: integers up to 10 are checked only with a unit of measure ("4 g", "3 Tage"), not as
  // counts the answer makes itself ("2 options").
  const lineStarts = /(^|\n)\s*(?:[-*•]\s*)?\d{1,2}[.)]\s/g;
  const listMarkers = new Set<number>();
  for (const m of answer.matchAll(lineStarts)) listMarkers.add(m.index + m[0].search(/\d/));
  for (const m of answer.matchAll(NUMBER_RE)) {
    const start = m.index, end = m.index + m[0].length;
    if (overlaps(start, end) || listMarkers.has(start)) continue;
    const p = parseNumber(m.groups!.n);
    const small = p.values.length === 1 && p.decimals === 0 && p.values[0] <= 10 && !m.groups!.s;
    if (small && !MEASURE_UNIT.test(answer.slice(end, end + 16))) continue;
    const approximate = APPROX_RE.test(answer.slice(Math.max(0, start - 20), start));
    const scales = scaleOf(m.groups!.s);
    const values = p.values.flatMap((v) => scales.map((sc) => v * sc));
    const supported = values.some(
      (v) => idx.numbers.has(canon(v)) || anyWithin((idx.numbersSorted ??= sortedValues(idx.numberList)), v, tolerance(v, p.decimals, scales[0], approximate)),
    );
    add(start, end, "number", supported);
  }

  // Named entities.
  const words = wordsOf(answer);
  const lang = detectLanguage(words.map((w) => w.text));
  const sentences = splitSentences(answer);
  const initialPositions = new Set<number>();
  for (const s of sentences) {
    const first = /[\p{L}\p{N}]/u.exec(answer.slice(s.start, s.end));
    if (first) initialPositions.add(s.start + first.index);
  }
  for (const m of answer.matchAll(/(^|\n)[\s>#*\-•\d.)]*(?:\*\*)?/g)) initialPositions.add(m.index + m[0].length);
  const headingLines: { start: number; end: number }[] = [];
  for (const m of answer.matchAll(/(^|\n)#+[^\n]*/g)) headingLines.push({ start: m.index, end: m.index + m[0].length });
  for (const entity of findEntities(answer, words, initialPositions, lang)) {
    if (overlaps(entity.start, entity.end) || headingLines.some((h) => h.start <= entity.start && entity.end <= h.end)) continue;
    add(entity.start, entity.end, "entity", entitySupported(entity, idx, lang));
  }

  // Verdict.
  claims.sort((a, b) => a.start - b.start);
  const sentenceOf = (pos: number) => {
    let lo = 0, hi = sentences.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (sentences[mid].start <= pos) lo = mid;
      else hi = mid - 1;
    }
    return Math.max(0, lo);
  };
  const unsupported = claims.filter((c) => !c.supported).map((c) => ({ start: c.start, end: c.end, sentence: sentenceOf(c.start), kind: c.kind }));
  const supportedCount = claims.length - unsupported.length;
  return {
    score: claims.length === 0 ? 1 : Math.round((supportedCount / claims.length) * 1000) / 1000,
    sentences: sentences.length,
    unsupportedSentences: new Set(unsupported.map((u) => u.sentence)).size,
    unsupported,
  };
}

interface Entity {
  start: number;
  end: number;
  stems: string[];
  acronym: string | null;
}

const isCapitalised = (w: string) => /^\p{Lu}/u.test(w);
const isAcronym = (w: string) => /^\p{Lu}{2,}\d*$/u.test(w) && !/^[IVXLC]+$/.test(w);

/** Runs of capitalised words (with connectors between them); a single word only mid-sentence in English and French, or an acronym. */
function findEntities(text: string, words: readonly Word[], initial: ReadonlySet<number>, lang: Lang): Entity[] {
  const out: Entity[] = [];
  let i = 0;
  while (i < words.length) {
    const run: { w: string; start: number; end: number; initial: boolean }[] = [];
    let j = i;
    while (j < words.length) {
      const raw = words[j].text;
      const elided = ELISION_RE.exec(raw);
      const w = elided ? raw.slice(elided[0].length) : raw;
      const start = words[j].index + (elided ? elided[0].length : 0);
      const end = words[j].index + raw.length;
      const gap = run.length ? text.slice(run[run.length - 1].end, words[j].index) : "";
      if (run.length && !/^[ \u00a0]+$/.test(gap) && !(gap.trim() === "&")) break;
      if (isCapitalised(w)) {
        run.push({ w, start, end, initial: initial.has(words[j].index) });
        j++;
      } else if (run.length && CONNECTORS.has(w.toLowerCase()) && j + 1 < words.length && isCapitalised(words[j + 1].text.replace(ELISION_RE, ""))) {
        run.push({ w, start, end, initial: false });
        j++;
      } else break;
    }
    i = Math.max(j, i + 1);
    // Trim: sentence-initial common words, titles, months, weekdays; connectors at the edges.
    while (run.length) {
      const f = fold(run[0].w);
      if ((run[0].initial && ANY_STOPWORD.has(f)) || TITLES.has(f.replace(/\.$/, "")) || CONNECTORS.has(f) || MONTHS[f] || WEEKDAYS.has(f) || NON_ENTITY.has(f)) run.shift();
      else break;
    }
    while (run.length && (CONNECTORS.has(fold(run[run.length - 1].w)) || MONTHS[fold(run[run.length - 1].w)] || NON_ENTITY.has(fold(run[run.length - 1].w)))) run.pop();
    const content = run.filter((r) => !CONNECTORS.has(fold(r.w)));
    if (content.length === 0) continue;
    if (content.length === 1) {
      const only = content[0];
      const f = fold(only.w);
      // Quarters and model names ("Q3", "T1", "H100") are not checked as names.
      if (only.w.length < 2 || /\d/.test(only.w) || ANY_STOPWORD.has(f) || MONTHS[f] || WEEKDAYS.has(f)) continue;
      if (!isAcronym(only.w) && (lang === "de" || only.initial || run[0].initial)) continue;
    }
    out.push({
      start: run[0].start,
      end: run[run.length - 1].end,
      stems: content.map((r) => stem(r.w)),
      acronym: content.length === 1 && isAcronym(content[0].w) ? fold(content[0].w) : null,
    });
  }
  return out;
}

function entitySupported(e: Entity, idx: SourceIndex, lang: Lang): boolean {
  if (e.stems.length === 1) {
    if (idx.wordSets.some((set) => set.has(e.stems[0]))) return true;
    return e.acronym !== null && e.acronym.length >= 2 && idx.initials.some((s) => s.includes(e.acronym!));
  }
  for (let s = 0; s < idx.content.length; s++) {
    const set = idx.wordSets[s];
    if (!e.stems.every((st) => set.has(st))) continue;
    // German nouns are all capitalised, so there a name's words need only appear in one source;
    // elsewhere they must appear in order, connectors aside ("Jean Martin" is not "Jean Dupont … Paul Martin").
    if (lang === "de" || e.stems.length >= 3) return true;
    const content = idx.content[s];
    for (let k = 0; k + e.stems.length <= content.length; k++) {
      if (e.stems.every((st, n) => content[k + n] === st)) return true;
    }
  }
  return false;
}
