/**
 * The JSON-schema check (docs/guardrails.md, "JSON schema"): a request's OpenAI `response_format`
 * compiled once into a validator, then the completion parsed and validated against it.
 *
 * - ajv 8 with the 2020-12 dialect (2019-09 and draft-07 when the schema's `$schema` names them),
 *   plus ajv-formats. Server-side only: ajv generates code with `new Function`.
 * - Compiled validators are cached by the schema's canonical JSON (keys sorted), in a bounded LRU.
 * - Hostile schemas: at most MAX_SCHEMA_BYTES of canonical JSON, MAX_SCHEMA_DEPTH levels and
 *   MAX_SCHEMA_NODES objects (compilation time grows with the number of subschemas);
 *   `$ref`s are never inlined (so generated code grows with the schema, never with its uses);
 *   remote `$ref`s are never fetched (compilation is synchronous: an unknown one is a 400);
 *   `pattern` and `patternProperties` run on RE2 (re2js), linear in the string, so no
 *   completion can make a backtracking regular expression spin.
 * - A verdict never holds the completion's values: instance paths keep only array indices and the
 *   property names the schema itself names (any other key is `*`), and messages come from the
 *   schema side (ajv's messages, whose parameters are schema values once `$data` is off).
 */
import { createHash } from "node:crypto";
import Ajv2020 from "ajv/dist/2020";
import Ajv2019 from "ajv/dist/2019";
import AjvDraft7 from "ajv";
import type { ErrorObject, Options, ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import { RE2JS } from "re2js";

export interface SchemaVerdict {
  valid: boolean;
  reason: "ok" | "truncated" | "not_json" | "not_object" | "schema";
  /** Capped at MAX_VERDICT_ERRORS. `path` is the JSON pointer of the instance ("" for the root). */
  errors: { path: string; keyword: string; message: string }[];
}

export type CompiledFormat = {
  kind: "json_object" | "json_schema";
  name: string | null;
  validate(text: string, finishReason: string | null): SchemaVerdict;
};

export type CompileResult = { ok: true; format: CompiledFormat | null } | { ok: false; message: string };

export const MAX_SCHEMA_BYTES = 64 * 1024;
export const MAX_SCHEMA_DEPTH = 32;
/** ajv's compilation costs a fraction of a millisecond per subschema: this bounds it to a few hundred ms. */
export const MAX_SCHEMA_NODES = 1000;
export const MAX_VERDICT_ERRORS = 20;
const CACHE_SIZE = 256;
const PARAM = "response_format.json_schema.schema";

/** Regular expressions of `pattern` / `patternProperties` on RE2: linear time, no lookaround or back-references. */
const re2Engine = Object.assign(
  (pattern: string) => {
    const re = RE2JS.compile(pattern);
    // ajv keys its shared scope of compiled patterns by toString().
    return { test: (s: string) => re.test(s), toString: () => `re2js:${pattern}` };
  },
  { code: "re2js" },
);

/** The formats OpenAI's structured outputs document, and the other string formats ajv-formats validates cheaply. */
const FORMATS = [
  "date", "time", "date-time", "duration", "email", "hostname", "ipv4", "ipv6", "uuid",
  "uri", "uri-reference", "uri-template", "url", "json-pointer", "relative-json-pointer",
  "byte", "int32", "int64", "float", "double",
] as const;

const AJV_OPTIONS: Options = {
  allErrors: true,
  // Unknown keywords and formats are ignored, as JSON Schema says of unknown keywords (schemas made
  // by pydantic or zod carry their own); the meta-schema still refuses malformed known keywords.
  strict: false,
  logger: false,
  $data: false,
  inlineRefs: false,
  ownProperties: true,
  // A schema's `$id` is not registered in the shared instance, so one request's cannot clash with the next's.
  addUsedSchema: false,
  loopRequired: 64,
  loopEnum: 64,
  code: { regExp: re2Engine },
};

function makeAjv(dialect: Dialect) {
  const Ctor = dialect === "2020-12" ? Ajv2020 : dialect === "2019-09" ? Ajv2019 : AjvDraft7;
  const ajv = new Ctor(AJV_OPTIONS);
  addFormats(ajv, { formats: [...FORMATS], keywords: false });
  return ajv;
}

type Dialect = "2020-12" | "2019-09" | "draft-07";
const DIALECTS: Record<string, Dialect> = {
  "https://json-schema.org/draft/2020-12/schema": "2020-12",
  "https://json-schema.org/draft/2019-09/schema": "2019-09",
  "http://json-schema.org/draft-07/schema": "draft-07",
  "https://json-schema.org/draft-07/schema": "draft-07",
};
const ajvByDialect = new Map<Dialect, ReturnType<typeof makeAjv>>();
function ajvFor(dialect: Dialect) {
  let ajv = ajvByDialect.get(dialect);
  if (!ajv) ajvByDialect.set(dialect, (ajv = makeAjv(dialect)));
  return ajv;
}

// ─── Verdicts ────────────────────────────────────────────────────────────────

const OK: SchemaVerdict = Object.freeze({ valid: true, reason: "ok", errors: [] }) as SchemaVerdict;
const verdict = (reason: SchemaVerdict["reason"], keyword: string, message: string): SchemaVerdict => ({
  valid: false,
  reason,
  errors: [{ path: "", keyword, message }],
});

/** The completion as JSON, or the verdict that says why it is not (JSON.parse's own message quotes the text, so it is not used). */
function parseCompletion(text: string, finishReason: string | null): { value: unknown } | { verdict: SchemaVerdict } {
  try {
    return { value: JSON.parse(text) as unknown };
  } catch {
    return finishReason === "length"
      ? { verdict: verdict("truncated", "json", "is not complete JSON: the answer was cut at the token limit (finish_reason \"length\")") }
      : { verdict: verdict("not_json", "json", "is not valid JSON") };
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function requireObject(text: string, finishReason: string | null): SchemaVerdict {
  const parsed = parseCompletion(text, finishReason);
  if ("verdict" in parsed) return parsed.verdict;
  if (isObject(parsed.value)) return OK;
  return verdict("not_object", "type", `must be a JSON object, not ${describeType(parsed.value)}`);
}

function describeType(v: unknown): string {
  if (Array.isArray(v)) return "an array";
  if (v === null) return "null";
  return typeof v === "string" ? "a string" : typeof v === "number" ? "a number" : typeof v === "boolean" ? "a boolean" : "another value";
}

const JSON_OBJECT_FORMAT: CompiledFormat = Object.freeze({ kind: "json_object", name: null, validate: requireObject });

/** ajv's instance path with every key the schema does not name replaced by `*` (keys may be personal data). */
function safePath(instancePath: string, named: ReadonlySet<string>): string {
  if (instancePath === "") return "";
  let out = "";
  for (const raw of instancePath.slice(1).split("/")) {
    const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    out += "/" + (/^(0|[1-9]\d*)$/.test(key) || named.has(key) ? raw : "*");
  }
  return out;
}

function schemaVerdict(errors: readonly ErrorObject[], named: ReadonlySet<string>): SchemaVerdict {
  const out: SchemaVerdict["errors"] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    const path = safePath(e.instancePath, named);
    const message = e.message ?? "is invalid";
    const key = `${path}\u0000${e.keyword}\u0000${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ path, keyword: e.keyword, message });
    if (out.length >= MAX_VERDICT_ERRORS) break;
  }
  return { valid: false, reason: "schema", errors: out };
}

// ─── Compilation ─────────────────────────────────────────────────────────────

/** Canonical JSON (keys sorted) and the property names the schema names anywhere, in one bounded walk. */
function canonicalize(schema: unknown): { json: string; names: Set<string> } | { error: string } {
  const names = new Set<string>();
  let bytes = 0;
  let nodes = 0;
  // Keys and scalars only (each counted once), so a huge schema is refused before it is all serialised.
  const countBytes = (s: string) => {
    bytes += s.length;
    if (bytes > MAX_SCHEMA_BYTES) throw new SchemaShapeError(`is too large: more than ${MAX_SCHEMA_BYTES} bytes of JSON`);
    return s;
  };
  const walk = (v: unknown, depth: number, parentKey: string | null): string => {
    if (depth > MAX_SCHEMA_DEPTH) throw new SchemaShapeError(`nests more than ${MAX_SCHEMA_DEPTH} levels`);
    let s: string;
    if (Array.isArray(v)) {
      if (parentKey === "required") for (const r of v) if (typeof r === "string") names.add(r);
      s = "[" + v.map((x) => walk(x, depth + 1, null)).join(",") + "]";
    } else if (isObject(v)) {
      if (++nodes > MAX_SCHEMA_NODES) throw new SchemaShapeError(`has more than ${MAX_SCHEMA_NODES} objects`);
      const keys = Object.keys(v).sort();
      if (parentKey === "properties" || parentKey === "dependentRequired" || parentKey === "dependentSchemas" || parentKey === "dependencies") {
        for (const k of keys) names.add(k);
      }
      s = "{" + keys.map((k) => countBytes(JSON.stringify(k)) + ":" + walk(v[k], depth + 1, k)).join(",") + "}";
    } else if (v === undefined || typeof v === "function" || typeof v === "symbol" || typeof v === "bigint") {
      throw new SchemaShapeError("holds a value that is not JSON");
    } else {
      s = countBytes(JSON.stringify(v));
    }
    return s;
  };
  try {
    const json = walk(schema, 0, null);
    const size = Buffer.byteLength(json);
    if (size > MAX_SCHEMA_BYTES) return { error: `is too large: ${size} bytes of JSON, at most ${MAX_SCHEMA_BYTES}` };
    return { json, names };
  } catch (err) {
    if (err instanceof SchemaShapeError) return { error: err.message };
    throw err;
  }
}

class SchemaShapeError extends Error {}

interface CachedValidator {
  validate: ValidateFunction;
  names: ReadonlySet<string>;
}

/** Least recently used first: a Map iterates in insertion order, and a hit is re-inserted. */
const cache = new Map<string, CachedValidator>();

/** How many validators are cached (tests and metrics). */
export function cachedValidatorCount(): number {
  return cache.size;
}

function compileSchema(schema: Record<string, unknown>): CachedValidator | { error: string } {
  const canonical = canonicalize(schema);
  if ("error" in canonical) return canonical;
  const declared = schema.$schema;
  let dialect: Dialect = "2020-12";
  if (declared !== undefined) {
    const d = typeof declared === "string" ? DIALECTS[declared.replace(/#$/, "")] : undefined;
    if (!d) return { error: "has a $schema this gateway does not validate: use JSON Schema 2020-12, 2019-09 or draft-07" };
    dialect = d;
  }
  const key = createHash("sha256").update(dialect).update("\u0000").update(canonical.json).digest("base64");
  const hit = cache.get(key);
  if (hit) {
    cache.delete(key);
    cache.set(key, hit);
    return hit;
  }
  const ajv = ajvFor(dialect);
  if (!ajv.validateSchema(schema)) {
    const first = (ajv.errors ?? []).slice(0, 3).map((e) => `${e.instancePath || "/"} ${e.message ?? "is invalid"}`);
    return { error: `is invalid: ${first.join("; ")}` };
  }
  let validate: ValidateFunction;
  try {
    validate = ajv.compile(schema);
  } catch (err) {
    return { error: `is invalid: ${err instanceof Error ? err.message.slice(0, 300) : "cannot be compiled"}` };
  } finally {
    // ajv keeps every schema it compiled in a Map of its own; the LRU below is the only cache wanted.
    (ajv as unknown as { _cache: Map<unknown, unknown> })._cache.delete(schema);
  }
  const entry = { validate, names: canonical.names };
  cache.set(key, entry);
  if (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value as string);
  return entry;
}

/**
 * A request's `response_format` as a validator: null for none or `{type:"text"}`; a message for a
 * 400 when it is malformed or its schema is invalid. `json_schema` without a schema requires a
 * JSON object, as `json_object` does.
 */
export function compileResponseFormat(responseFormat: unknown): CompileResult {
  if (responseFormat === undefined || responseFormat === null) return { ok: true, format: null };
  if (!isObject(responseFormat)) return { ok: false, message: "response_format must be an object" };
  const type = responseFormat.type;
  if (type === "text") return { ok: true, format: null };
  if (type === "json_object") return { ok: true, format: JSON_OBJECT_FORMAT };
  if (type !== "json_schema") return { ok: false, message: "response_format.type must be one of \"text\", \"json_object\", \"json_schema\"" };
  const spec = responseFormat.json_schema;
  if (!isObject(spec)) return { ok: false, message: "response_format.json_schema must be an object" };
  const name = typeof spec.name === "string" ? spec.name : null;
  if (name === null) return { ok: false, message: "response_format.json_schema.name must be a string" };
  const schema = spec.schema;
  if (schema === undefined || schema === null) return { ok: true, format: { kind: "json_schema", name, validate: requireObject } };
  if (typeof schema === "boolean") {
    return { ok: true, format: { kind: "json_schema", name, validate: schema ? requireJson : (t, f) => rejectAll(t, f) } };
  }
  if (!isObject(schema)) return { ok: false, message: `${PARAM} must be a JSON Schema object` };
  const compiled = compileSchema(schema);
  if ("error" in compiled) return { ok: false, message: `${PARAM} ${compiled.error}` };
  const { validate, names } = compiled;
  return {
    ok: true,
    format: {
      kind: "json_schema",
      name,
      validate(text, finishReason) {
        const parsed = parseCompletion(text, finishReason);
        if ("verdict" in parsed) return parsed.verdict;
        return validate(parsed.value) ? OK : schemaVerdict(validate.errors ?? [], names);
      },
    },
  };
}

function requireJson(text: string, finishReason: string | null): SchemaVerdict {
  const parsed = parseCompletion(text, finishReason);
  return "verdict" in parsed ? parsed.verdict : OK;
}

function rejectAll(text: string, finishReason: string | null): SchemaVerdict {
  const parsed = parseCompletion(text, finishReason);
  return "verdict" in parsed ? parsed.verdict : { valid: false, reason: "schema", errors: [{ path: "", keyword: "false schema", message: "boolean schema is false" }] };
}
