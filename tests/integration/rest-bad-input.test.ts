/**
 * Bad input over REST, generated from the served OpenAPI document's own request schemas for every
 * operation: path and query parameters and JSON bodies get wrong types, missing required fields,
 * 10,000-character strings, unicode oddities (NUL, a right-to-left override, emoji, lone
 * surrogates escaped in JSON), negative and huge numbers (-1, 1e308, 2**53+1), and arrays where
 * objects are expected (and the reverse). Each request starts from a valid input (the shared
 * cases') and breaks one thing, sent by a caller allowed to make the call, so that validation is
 * what answers: always a 4xx in the error shape with a precise message (`param` naming the input
 * at fault for a 400), never a 5xx, and nothing written. An operation without a case fails.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTenant, createUser, databaseDigest, type Tenant } from "../helpers";
import { AUDIT_CASES, personId, type AuditEnv } from "../audit-cases";
import { documentOperations, ISOLATION_CASES, type DocOperation, type Input, type JsonSchema } from "../isolation-cases";
import { call, issueKey, startRestServer, type RestAnswer, type RestServer } from "../rest-fixtures";
import { db } from "@/server/db";
import { recordAudit, systemActor } from "@/server/services/audit";

const server: RestServer = await startRestServer();
const doc = await (await fetch(`${server.url}/openapi.json`)).json();
const operations = documentOperations(doc);

// ─── Values ─────────────────────────────────────────────────────────────────────────────────────

const LONG = "x".repeat(10_000);
/** 2**53 + 1 cannot be written by JSON.stringify (it is not a double); this marker is replaced in the raw body. */
const BIG_MARKER = "__2**53+1__";
const BIG_LITERAL = "9007199254740993";

/** Unicode oddities, as a JSON body carries them (JSON.stringify escapes a lone surrogate as \udXXX). */
const ODDITIES: { label: string; value: (s: JsonSchema) => string; query: string }[] = [
  { label: "a NUL character", value: () => "ab\u0000cd", query: "ab%00cd" },
  { label: "a right-to-left override", value: () => "ab\u202Ecd", query: "ab%E2%80%AEcd" },
  // Emoji are valid text: in free text they are sent one past the maximum length (an emoji counts as one character).
  { label: "emoji", value: (s) => (s.pattern || s.enum || s.format ? "😀🇫🇷" : "😀".repeat(((s.maxLength as number | undefined) ?? 10_000) + 1)), query: "%F0%9F%98%80" },
  { label: "a lone surrogate", value: () => "ab\uD800cd", query: "ab%ED%A0%80cd" },
];
const NUMBERS: { label: string; value: number | string }[] = [
  { label: "-1", value: -1 },
  { label: "1e308", value: 1e308 },
  { label: "2**53+1", value: BIG_MARKER },
];

/** The schema of a value, its `$ref` followed, nullability left aside (`anyOf [T, null]`, `type: [T, "null"]`). */
function resolve(schema: JsonSchema | undefined): JsonSchema {
  if (!schema) return {};
  if (schema.$ref) return resolve(String(schema.$ref).split("/").slice(1).reduce<JsonSchema>((node, key) => node[key], doc));
  if (schema.anyOf) return resolve(schema.anyOf.find((s: JsonSchema) => s.type !== "null") ?? schema.anyOf[0]);
  if (Array.isArray(schema.type)) return { ...schema, type: schema.type.find((t: string) => t !== "null") };
  return schema;
}
const nullable = (schema: JsonSchema) => Boolean(schema.anyOf?.some((s: JsonSchema) => s.type === "null") || (Array.isArray(schema.type) && schema.type.includes("null")));

// ─── Requests ───────────────────────────────────────────────────────────────────────────────────

interface Req {
  path: Record<string, string>;
  query: Record<string, string | string[]>;
  body: unknown;
}

/** The baseline input of a case split as the operation takes it (path, query, body). */
function split(op: DocOperation, input: Input | undefined): Req {
  const rest: Input = { ...input };
  const path: Record<string, string> = {};
  for (const name of Object.keys(op.pathParams)) {
    if (rest[name] === undefined) throw new Error(`${op.operationId}: the case's input has no ${name}`);
    path[name] = encodeURIComponent(String(rest[name]));
    delete rest[name];
  }
  for (const key of Object.keys(rest)) if (rest[key] === undefined) delete rest[key];
  if (op.body) return { path, query: {}, body: rest };
  const query: Record<string, string> = {};
  for (const [key, value] of Object.entries(rest)) {
    if (!(key in op.queryParams)) throw new Error(`${op.operationId}: no parameter ${key}`);
    query[key] = String(value);
  }
  return { path, query, body: op.method === "GET" || op.method === "DELETE" ? undefined : {} };
}

function render(op: DocOperation, req: Req): { url: string; rawBody?: string } {
  const url = op.path.replace(/\{(\w+)\}/g, (_, name: string) => req.path[name]!);
  const qs = Object.entries(req.query)
    .flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${encodeURIComponent(k)}=${/%[0-9A-F]{2}/.test(x) ? x : encodeURIComponent(x)}`))
    .join("&");
  const rawBody = req.body === undefined ? undefined : JSON.stringify(req.body).replaceAll(JSON.stringify(BIG_MARKER), BIG_LITERAL);
  return { url: qs ? `${url}?${qs}` : url, rawBody };
}

interface Variant {
  /** What is broken, e.g. "body name: a NUL character". */
  label: string;
  /** The input at fault, as the error's `param` names it (a dotted path). */
  param: string;
  /** A 400 naming `param` is the only right answer (missing fields, wrong types). */
  strict: boolean;
  req: Req;
}

const clone = <T,>(value: T): T => structuredClone(value);
function setAt(target: unknown, path: (string | number)[], value: unknown, remove = false) {
  let node = target as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  const last = path.at(-1)!;
  if (remove) delete node[last];
  else node[last] = value;
}

/** Wrong-typed values for a property of `schema`'s type (null is added where the schema does not allow it). */
function wrongTypes(schema: JsonSchema): { label: string; value: unknown }[] {
  switch (schema.type) {
    case "string":
      return [
        { label: "a number", value: 12345 },
        { label: "an object", value: { value: "x" } },
        { label: "an array", value: ["x"] },
      ];
    case "integer":
    case "number":
      return [
        { label: "a numeric string", value: "12" },
        { label: "a boolean", value: true },
        { label: "an array", value: [3] },
      ];
    case "boolean":
      return [
        { label: 'the string "false"', value: "false" },
        { label: "a number", value: 1 },
      ];
    case "array":
      return [
        { label: "an object", value: { 0: "x" } },
        { label: "a string", value: "x" },
      ];
    case "object":
      return [{ label: "an array", value: [] }];
    default:
      return [];
  }
}

/** Picks values in turn across the whole suite, so that every kind is sent without sending every combination. */
const turn = { n: 0 };
const pick = <T,>(values: T[]): T => values[turn.n++ % values.length]!;

/** `values` spread over `targets`: every target gets one, and every value is sent at least once. */
function spread<T, V>(targets: T[], values: V[]): [T, V][] {
  if (targets.length === 0) return [];
  const offset = turn.n++;
  return Array.from({ length: Math.max(targets.length, values.length) }, (_, i) => [targets[(i + offset) % targets.length]!, values[i % values.length]!]);
}

/**
 * The variants of a JSON body. Each property (nested objects and the first item of arrays of
 * objects included) is sent missing if required and with a wrong type (in turn, null among
 * them); its strings share 10,000-character values and the four unicode oddities, its numbers the
 * three bad numbers; the body itself is sent as an array (and, in turn, a string).
 */
function bodyVariants(op: DocOperation, base: Req): Variant[] {
  const variants: Variant[] = [];
  const strings: { at: (string | number)[]; schema: JsonSchema }[] = [];
  const numbers: (string | number)[][] = [];
  const withBody = (at: (string | number)[], value: unknown, remove = false) => {
    const req = clone(base);
    setAt(req.body, at, value, remove);
    return req;
  };
  const visit = (schema: JsonSchema, value: unknown, at: (string | number)[]) => {
    const object = resolve(schema);
    for (const [name, raw] of Object.entries((object.properties ?? {}) as Record<string, JsonSchema>)) {
      const prop = resolve(raw);
      const here = [...at, name];
      const param = here.join(".");
      const label = (what: string) => `body ${param}: ${what}`;
      const present = value !== null && typeof value === "object" && name in (value as object);
      if ((object.required ?? []).includes(name) && present) variants.push({ label: label("missing"), param, strict: true, req: withBody(here, undefined, true) });
      const wrong = [...wrongTypes(prop), ...(!nullable(raw) && prop.default === undefined ? [{ label: "null", value: null }] : [])];
      if (wrong.length) {
        const w = pick(wrong);
        variants.push({ label: label(w.label), param, strict: true, req: withBody(here, w.value) });
      }
      // A date-time is text: not milliseconds since 1970, not even a future date's.
      if (prop.format === "date-time") variants.push({ label: label("a number (a future date in milliseconds)"), param, strict: true, req: withBody(here, 4_102_444_800_000) });
      if (prop.type === "string") strings.push({ at: here, schema: prop });
      if (prop.type === "integer" || prop.type === "number") numbers.push(here);
      if (prop.type === "array") {
        const items = resolve(prop.items);
        const first = present && Array.isArray((value as Record<string, unknown>)[name]) ? ((value as Record<string, unknown>)[name] as unknown[])[0] : undefined;
        if (items.type === "object") {
          variants.push({ label: label("an array where an item object is expected"), param: `${param}.0`, strict: true, req: withBody(here, [[]]) });
          if (first !== undefined) visit(items, first, [...here, 0]);
        } else {
          variants.push({ label: label("an item of the wrong type"), param: `${param}.0`, strict: true, req: withBody(here, items.type === "string" ? [12345] : ["x"]) });
          if (items.type === "string") variants.push({ label: label("an item of 10,000 characters"), param: `${param}.0`, strict: false, req: withBody(here, [LONG]) });
        }
      }
      if (prop.type === "object" && present) visit(prop, (value as Record<string, unknown>)[name], here);
    }
  };
  visit(op.body!, base.body, []);
  // 10,000 characters: every string without a declared maximum, half of the others in turn.
  const parity = turn.n++ % 2;
  for (const [i, { at, schema }] of strings.entries()) {
    if (schema.maxLength !== undefined && !schema.enum && i % 2 !== parity) continue;
    variants.push({ label: `body ${at.join(".")}: 10,000 characters`, param: at.join("."), strict: !schema.enum, req: withBody(at, LONG) });
  }
  // Each oddity once per operation, on its strings in turn.
  const offset = turn.n++;
  for (const [i, o] of (strings.length ? ODDITIES : []).entries()) {
    const { at, schema } = strings[(offset + i) % strings.length]!;
    variants.push({ label: `body ${at.join(".")}: ${o.label}`, param: at.join("."), strict: false, req: withBody(at, o.value(schema)) });
  }
  for (const [at, n] of spread(numbers, NUMBERS)) variants.push({ label: `body ${at.join(".")}: ${n.label}`, param: at.join("."), strict: false, req: withBody(at, n.value) });
  variants.push({ label: "body: an array where the object is expected", param: "", strict: false, req: { ...clone(base), body: [base.body] } });
  if (turn.n++ % 2) variants.push({ label: "body: a string where the object is expected", param: "", strict: false, req: { ...clone(base), body: "x" } });
  return variants;
}

/**
 * Path parameters have no type to get wrong (a path is text): each is sent 10,000 characters
 * long and with an oddity or a bad number in turn. Query parameters: 10,000 characters, given
 * twice (an array), an oddity in turn, missing if required, and for a number "abc" and a bad number.
 */
function parameterVariants(op: DocOperation, base: Req): Variant[] {
  const variants: Variant[] = [];
  const inPath = [...ODDITIES.map((o) => [o.label, o.query] as const), ...NUMBERS.filter((n) => n.value !== BIG_MARKER).map((n) => [n.label, String(n.value)] as const)];
  for (const name of Object.keys(op.pathParams)) {
    for (const [label, value] of [["10,000 characters", LONG] as const, pick(inPath)]) {
      variants.push({ label: `path ${name}: ${label}`, param: name, strict: false, req: { ...clone(base), path: { ...base.path, [name]: value } } });
    }
  }
  for (const [name, raw] of Object.entries(op.queryParams)) {
    const schema = resolve(raw);
    const numeric = schema.type === "integer" || schema.type === "number";
    const o = pick(ODDITIES);
    const values: [string, string | string[] | undefined, boolean][] = [
      ["10,000 characters", LONG, schema.maxLength !== undefined || numeric],
      ["given twice (an array)", [String(base.query[name] ?? "1"), String(base.query[name] ?? "2")], false],
      [o.label, o.query, numeric || Boolean(schema.enum)],
    ];
    if (numeric) {
      const n = pick(NUMBERS);
      values.push(["not a number", "abc", true], [n.label, n.value === BIG_MARKER ? BIG_LITERAL : String(n.value), true]);
    }
    if (op.requiredQueryParams.includes(name)) values.push(["missing", undefined, true]);
    for (const [label, value, strict] of values) {
      const query = { ...base.query };
      if (value === undefined) delete query[name];
      else query[name] = value;
      variants.push({ label: `query ${name}: ${label}`, param: name, strict, req: { ...clone(base), query } });
    }
  }
  return variants;
}

// ─── The suite ──────────────────────────────────────────────────────────────────────────────────

let a: Tenant;
let env: AuditEnv;
let key: string;
let requests = 0;
const GENERIC = ["Invalid input", "Input validation failed", "The request was refused", "Bad Request"];

beforeAll(async () => {
  a = await createTenant("bad-input");
  env = { platformAdminId: (await createUser("platform-admin", { platformAdmin: true })).id };
  key = (await issueKey(a.org.id, a.ownerId, ["manage"], "bad input program")).key;
  // The platform audit log's proofs (audit.platformInclusionProof…) need one platform event to prove.
  await db.$transaction((tx) => recordAudit(tx, systemActor("test"), { orgId: null, action: "test.platform-event", targetType: "Test" }));
});
afterAll(() => server.close());

/** A valid input of `op` and a caller allowed to make the call, from the shared cases. */
type Auth = NonNullable<Parameters<typeof call>[3]>["auth"];
async function baseline(op: DocOperation): Promise<{ input: Input | undefined; auth: Auth }> {
  const scope = ISOLATION_CASES[op.procedure];
  if (!scope) throw new Error(`${op.operationId} has no isolation case`);
  if (op.mutating) {
    const prepare = AUDIT_CASES[op.procedure];
    if (!prepare) throw new Error(`${op.operationId} has no audit case`);
    const c = await prepare(a, env);
    const userId = personId(c.as, a, env);
    return { input: c.input, auth: scope.scope === "org" ? key : userId ? { session: userId } : undefined };
  }
  if (scope.scope === "org") return { input: { orgId: a.org.id, ...scope.input(a) }, auth: key };
  if (scope.scope === "admin") return { input: scope.input?.(a), auth: { session: env.platformAdminId } };
  if (scope.scope === "self") return { input: scope.input(a), auth: { session: a.ownerId } };
  return { input: undefined, auth: { session: a.ownerId } };
}

function check(answer: RestAnswer, v: Variant, op: DocOperation) {
  const what = `${op.method} ${op.path} — ${v.label}: ${answer.status} ${JSON.stringify(answer.body).slice(0, 300)}`;
  expect(answer.status, what).toBeGreaterThanOrEqual(400);
  expect(answer.status, what).toBeLessThan(500);
  // Validation answers, not authorisation (except an organisation in the path that is not the caller's).
  if (v.param !== "orgId") expect([401, 403], what).not.toContain(answer.status);
  expect(answer.body?.error, what).toEqual({ type: expect.any(String), code: expect.any(String), message: expect.any(String), param: expect.toBeOneOf([null, expect.any(String)]), request_id: expect.any(String) });
  expect(GENERIC, what).not.toContain(answer.body.error.message);
  expect(answer.body.error.message.length, what).toBeGreaterThan(5);
  if (answer.status === 400 && v.param) expect(String(answer.body.error.param), what).toMatch(new RegExp(`^${v.param.replace(/\./g, "\\.")}(\\.|$)`));
  if (v.strict) expect(answer.status, what).toBe(400);
}

describe("bad input over REST", () => {
  it("has cases giving a valid input for every operation of the document", () => {
    const missing = operations.filter((o) => !(o.procedure in ISOLATION_CASES) || (o.mutating && !(o.procedure in AUDIT_CASES)));
    expect(missing.map((o) => `${o.method} ${o.path} (${o.operationId})`)).toEqual([]);
  });

  for (const op of operations) {
    if (!(op.procedure in ISOLATION_CASES) || (op.mutating && !(op.procedure in AUDIT_CASES))) continue;
    it(`${op.method} ${op.path} (${op.operationId}): every bad input is a precise 4xx, and nothing is written`, async () => {
      const { input, auth } = await baseline(op);
      const base = split(op, input);
      if (!op.mutating) {
        // The baseline is valid and the caller allowed: what follows is refused for its input only.
        const r = render(op, base);
        const answer = await call(server, op.method, r.url, { auth, rawBody: r.rawBody, headers: r.rawBody === undefined ? {} : { "content-type": "application/json" } });
        expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      }
      const variants = [...parameterVariants(op, base), ...(op.body ? bodyVariants(op, base) : [])];
      const before = await databaseDigest();
      for (const v of variants) {
        const r = render(op, v.req);
        const answer = await call(server, op.method, r.url, { auth, rawBody: r.rawBody, headers: r.rawBody === undefined ? {} : { "content-type": "application/json" } });
        requests++;
        check(answer, v, op);
      }
      expect(await databaseDigest(), "nothing written").toBe(before);
    });
  }

  it("sent a few hundred requests", () => {
    console.log(`bad input: ${requests} requests over ${operations.length} operations`);
    expect(requests).toBeGreaterThan(200);
  });
});
