/**
 * Fuzzing the gateway (issue 10): request bodies generated from the gateway's own request schemas
 * (server/gateway/validation.ts, through their JSON Schema), valid and mutated into adversarial
 * ones, sent with random headers and framings (chunked, split, pipelined, truncated, garbage
 * after, half-closed, reset mid-request…) over raw sockets to one real gateway process. Bounded:
 * a fixed number of cases (seeded; FUZZ_SEED and FUZZ_RUNS override), about twenty seconds.
 *
 * After it: the same process is alive and serving; its RSS grew by less than MEMORY_BOUND_MB;
 * every answer was a well-formed response of an expected status, errors in OpenAI's shape; and the
 * number of usage records with status 200 equals the number of 200 answers the clients received.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { db } from "@/server/db";
import { REQUEST_SCHEMAS } from "@/server/gateway/validation";
import { createApiKey } from "../deployment-fixtures";
import { postChat, registerDeployment, spawnGateway, startFastUpstream, waitFor, waitForModel, type FakeUpstream, type GatewayProcess } from "../gateway-fixtures";
import { createTenant, type Tenant } from "../helpers";

const SEED = Number(process.env.FUZZ_SEED ?? 20_251_010);
const RUNS = Number(process.env.FUZZ_RUNS ?? 3000);
const CONCURRENCY = 8;
/** The stated bound on the gateway's growth in resident memory over the whole run. */
const MEMORY_BOUND_MB = 64;
const EXPECTED_STATUSES = new Set([200, 400, 401, 403, 404, 405, 408, 413, 414, 417, 429, 431, 502, 503]);

// ---- arbitraries from JSON Schema (what z.toJSONSchema gives for the request schemas) ----

interface JsonSchema {
  type?: string | string[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  const?: unknown;
  enum?: unknown[];
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: JsonSchema | boolean;
  propertyNames?: JsonSchema;
}

function integerArb(min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): fc.Arbitrary<number> {
  const lo = Math.max(min, -(2 ** 31));
  const hi = Math.min(max, 2 ** 31 - 1);
  const parts: fc.Arbitrary<number>[] = [fc.constant(min), fc.constant(max)];
  if (lo <= hi) parts.push(fc.integer({ min: lo, max: hi }), fc.integer({ min: lo, max: Math.min(hi, lo + 100) }));
  return fc.oneof(...parts);
}

function arbitraryOf(schema: JsonSchema): fc.Arbitrary<unknown> {
  if (schema.anyOf) return fc.oneof(...schema.anyOf.map(arbitraryOf));
  if (schema.oneOf) return fc.oneof(...schema.oneOf.map(arbitraryOf));
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum) return fc.constantFrom(...schema.enum);
  if (Array.isArray(schema.type)) return fc.oneof(...schema.type.map((type) => arbitraryOf({ ...schema, type })));
  switch (schema.type) {
    case "string":
      if (schema.pattern) return fc.stringMatching(new RegExp(schema.pattern));
      return fc.string({ minLength: schema.minLength ?? 0, maxLength: Math.min(schema.maxLength ?? 24, 24), unit: "grapheme" });
    case "integer":
      return integerArb(schema.minimum, schema.maximum);
    case "number":
      return fc.double({ min: schema.minimum ?? -1e6, max: schema.maximum ?? 1e6, noNaN: true, noDefaultInfinity: true });
    case "boolean":
      return fc.boolean();
    case "null":
      return fc.constant(null);
    case "array":
      return fc.array(schema.items ? arbitraryOf(schema.items) : fc.jsonValue({ maxDepth: 1 }), {
        minLength: schema.minItems ?? 0,
        maxLength: Math.max(schema.minItems ?? 0, Math.min(schema.maxItems ?? 3, 3)),
      });
    case "object": {
      if (schema.properties) {
        const shape: Record<string, fc.Arbitrary<unknown>> = {};
        for (const [k, v] of Object.entries(schema.properties)) shape[k] = arbitraryOf(v);
        return fc.record(shape, { requiredKeys: schema.required ?? [] });
      }
      const value = typeof schema.additionalProperties === "object" && Object.keys(schema.additionalProperties).length > 0 ? arbitraryOf(schema.additionalProperties) : fc.jsonValue({ maxDepth: 2 });
      const key = schema.propertyNames ? (arbitraryOf(schema.propertyNames) as fc.Arbitrary<string>) : fc.string({ maxLength: 8 });
      return fc.dictionary(key, value, { maxKeys: 3 });
    }
  }
  return fc.jsonValue({ maxDepth: 2 });
}

type Endpoint = keyof typeof REQUEST_SCHEMAS;
const ENDPOINTS = Object.keys(REQUEST_SCHEMAS) as Endpoint[];
const bodyArbs = Object.fromEntries(ENDPOINTS.map((e) => [e, arbitraryOf(z.toJSONSchema(REQUEST_SCHEMAS[e], { unrepresentable: "any" }) as JsonSchema)])) as Record<Endpoint, fc.Arbitrary<unknown>>;

// ---- cases ----

interface Case {
  method: string;
  path: string;
  endpoint: Endpoint;
  body: unknown;
  /** Text mutation applied after JSON.stringify. */
  text: "json" | "truncate" | "bytes" | "bad-utf8" | "duplicate-model" | "empty" | "scalar" | "deep" | "big";
  auth: "valid" | "wrong-secret" | "unknown-prefix" | "malformed" | "missing" | "lowercase" | "spaces";
  classification: string | null;
  requestId: string | null;
  extraHeaders: [string, string][];
  framing: "length-huge" | "length" | "chunked" | "chunked-bad" | "length-short" | "length-long" | "split" | "pipelined" | "garbage-after" | "half-close" | "reset-midway" | "http10" | "length-and-chunked";
  splitAt: number[];
  pauseMs: number;
  /** Bodies valid by schema are brought within the deployment's bounds this often, so that many calls are served. */
  inBounds: boolean;
  mutate: null | { key: string; value: unknown };
}

/** Absent three times in four. */
const rarely = <T>(arb: fc.Arbitrary<T>) => fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: arb });

const caseArb: fc.Arbitrary<Case> = fc
  .record({
    endpoint: fc.constantFrom<Endpoint>(...ENDPOINTS, "/v1/chat/completions", "/v1/chat/completions"),
    method: fc.oneof({ weight: 20, arbitrary: fc.constant("POST") }, { weight: 1, arbitrary: fc.constantFrom("GET", "PUT", "DELETE", "OPTIONS", "PATCH") }),
    pathKind: fc.oneof({ weight: 20, arbitrary: fc.constant("endpoint") }, { weight: 1, arbitrary: fc.constantFrom("models", "random", "long", "very-long", "query", "dotdot") }),
    randomPath: fc.webPath(),
    text: fc.oneof(
      { weight: 30, arbitrary: fc.constant("json" as const) },
      { weight: 1, arbitrary: fc.constantFrom("truncate" as const, "bytes" as const, "bad-utf8" as const, "duplicate-model" as const, "empty" as const, "scalar" as const, "deep" as const, "big" as const) },
    ),
    auth: fc.oneof({ weight: 20, arbitrary: fc.constant("valid" as const) }, { weight: 1, arbitrary: fc.constantFrom("wrong-secret" as const, "unknown-prefix" as const, "malformed" as const, "missing" as const, "lowercase" as const, "spaces" as const) }),
    classification: rarely(fc.constantFrom("PUBLIC", "INTERNAL", "internal", "CONFIDENTIAL", "RESTRICTED", "SECRET", "", " public ")),
    requestId: rarely(fc.oneof(fc.stringMatching(/^[A-Za-z0-9._:-]{1,128}$/), fc.string({ maxLength: 200 }))),
    extraHeaders: fc.array(
      fc.tuple(
        fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,20}$/),
        fc.oneof({ weight: 8, arbitrary: fc.string({ maxLength: 40 }) }, { weight: 1, arbitrary: fc.string({ maxLength: 40, unit: "binary-ascii" }) }),
      ),
      { maxLength: 3 },
    ),
    expect: fc.oneof({ weight: 20, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom("100-continue", "teapot", "") }),
    bigHeader: fc.oneof({ weight: 30, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constantFrom(9_000, 20_000) }),
    framing: fc.oneof(
      { weight: 12, arbitrary: fc.constant("length" as const) },
      { weight: 1, arbitrary: fc.constantFrom("chunked" as const, "split" as const, "pipelined" as const, "half-close" as const, "garbage-after" as const, "chunked-bad" as const, "length-short" as const, "reset-midway" as const, "http10" as const, "length-and-chunked" as const, "length-huge" as const) },
      { weight: 1, arbitrary: fc.constant("length-long" as const) },
    ),
    splitAt: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 3 }),
    pauseMs: fc.integer({ min: 0, max: 15 }),
    inBounds: fc.boolean(),
    mutate: rarely(
      fc.record({
        key: fc.oneof(fc.constantFrom("model", "messages", "stream", "max_tokens", "n", "temperature", "tools", "response_format", "prompt", "input", "stop", "logit_bias", "__proto__", "constructor"), fc.string({ maxLength: 10 })),
        value: fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constantFrom(1e308, -0, 1.5, -1, "NaN", "yes", 2 ** 53 + 1, null, [], {}, "\u0000", "\ud800")),
      }),
    ),
  })
  .chain((c) =>
    bodyArbs[c.endpoint].map((body) => {
      const path =
        c.pathKind === "endpoint"
          ? c.endpoint
          : c.pathKind === "models"
            ? "/v1/models"
            : c.pathKind === "long"
              ? `/v1/${"x".repeat(6000)}`
              : c.pathKind === "very-long"
                ? `${c.endpoint}?q=${"x".repeat(c.pauseMs % 2 ? 10_000 : 20_000)}`
              : c.pathKind === "query"
                ? `${c.endpoint}?a=1&b=%zz`
                : c.pathKind === "dotdot"
                  ? `/v1/../v1/chat/completions`
                  : c.randomPath || "/";
      const extraHeaders = c.bigHeader ? [...c.extraHeaders, ["X-Big", "b".repeat(c.bigHeader)] as [string, string]] : [...c.extraHeaders];
      if (c.expect !== null) extraHeaders.push(["Expect", c.expect]);
      return { ...c, path, body, extraHeaders } as Case;
    }),
  );

// ---- sending a case ----

let gw: GatewayProcess;
let gatewayPort: number;
let upstream: FakeUpstream;
let tenant: Tenant;
let key: string;
let keyId: string;
let model: string;
let spoolRoot: string;

function bodyText(c: Case): Buffer {
  let body = c.body as Record<string, unknown>;
  if (body && typeof body === "object" && !Array.isArray(body)) {
    body = { ...body, model: c.splitAt[0] < 0.9 ? model : body.model };
    if (c.inBounds) {
      for (const k of ["max_tokens", "max_completion_tokens"]) if (typeof body[k] === "number") body[k] = 1 + (Math.abs(body[k] as number) % 64);
      if (body.n !== undefined && body.n !== null) body.n = 1;
    }
    if (c.mutate) body[c.mutate.key] = c.mutate.value;
  }
  const json = JSON.stringify(body) ?? "null";
  switch (c.text) {
    case "truncate":
      return Buffer.from(json.slice(0, Math.floor(json.length * c.splitAt[0])));
    case "bytes":
      return randomBytes(1 + Math.floor(c.splitAt[0] * 300));
    case "bad-utf8":
      return Buffer.concat([Buffer.from(json.slice(0, -1)), Buffer.from([0xc3, 0x28, 0xff, 0xfe]), Buffer.from(json.slice(-1))]);
    case "duplicate-model":
      return Buffer.from(`{"model":${JSON.stringify(model)},${json.slice(1)}`);
    case "empty":
      return Buffer.alloc(0);
    case "scalar":
      return Buffer.from(["null", "[]", '"text"', "42", "true", "{}"][Math.floor(c.splitAt[0] * 5.99)]);
    case "deep": {
      const depth = 60 + Math.floor(c.splitAt[0] * 3000);
      return Buffer.from(`{"model":${JSON.stringify(model)},"messages":[{"role":"user","content":"hi"}],"x":${"[".repeat(depth)}${"]".repeat(depth)}}`);
    }
    case "big":
      return Buffer.from(JSON.stringify({ ...body, messages: [{ role: "user", content: "é".repeat(200_000 + Math.floor(c.splitAt[0] * 400_000)) }] }));
  }
  return Buffer.from(json);
}

function authorization(c: Case): string | null {
  const secret = () => randomBytes(32).toString("base64url");
  switch (c.auth) {
    case "valid":
      return `Bearer ${key}`;
    case "wrong-secret":
      return `Bearer enc_${key.slice(4, 16)}_${secret()}`;
    case "unknown-prefix":
      return `Bearer enc_${randomBytes(6).toString("hex")}_${secret()}`;
    case "malformed":
      return `Bearer ${key.slice(0, -3)}`;
    case "missing":
      return null;
    case "lowercase":
      return `bearer ${key}`;
    case "spaces":
      return `Bearer    ${key}  `;
  }
}

function head(c: Case, body: Buffer, framing: "length" | "chunked" | "both" | "none", version = "1.1", lengthDelta = 0): string {
  const lines = [`${c.method} ${c.path} HTTP/${version}`, "Host: gw"];
  const auth = authorization(c);
  if (auth !== null) lines.push(`Authorization: ${auth}`);
  lines.push("Content-Type: application/json");
  if (c.classification !== null) lines.push(`X-Data-Classification: ${c.classification}`);
  if (c.requestId !== null) lines.push(`X-Request-Id: ${c.requestId.replace(/[\r\n]/g, "")}`);
  for (const [k, v] of c.extraHeaders) lines.push(`${k}: ${v.replace(/[\r\n]/g, "")}`);
  if (framing === "length" || framing === "both") lines.push(`Content-Length: ${body.length + lengthDelta}`);
  if (framing === "chunked" || framing === "both") lines.push("Transfer-Encoding: chunked");
  return `${lines.join("\r\n")}\r\n\r\n`;
}

function chunked(body: Buffer, cuts: number[]): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (const cut of [...cuts.map((x) => Math.floor(x * body.length)).sort((a, b) => a - b), body.length]) {
    if (cut <= at) continue;
    parts.push(Buffer.from(`${(cut - at).toString(16)}\r\n`), body.subarray(at, cut), Buffer.from("\r\n"));
    at = cut;
  }
  parts.push(Buffer.from("0\r\n\r\n"));
  return Buffer.concat(parts);
}

interface Outcome {
  /** Per request sent, in order: whether it was an inference call (metered when answered). */
  sent: boolean[];
  responses: { status: number; headers: Record<string, string>; body: string }[];
  data: Buffer;
}

function parseResponses(data: Buffer) {
  const out: Outcome["responses"] = [];
  let at = 0;
  while (at < data.length) {
    const end = data.indexOf("\r\n\r\n", at);
    if (end === -1) break;
    const lines = data.toString("latin1", at, end).split("\r\n");
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) headers[line.slice(0, line.indexOf(":")).toLowerCase()] = line.slice(line.indexOf(":") + 1).trim();
    const status = Number(lines[0].split(" ")[1]);
    const len = status < 200 ? 0 : Number(headers["content-length"] ?? 0);
    if (end + 4 + len > data.length) break;
    // Interim answers (100 Continue) come before the one that counts.
    if (status >= 200) out.push({ status, headers, body: data.toString("utf8", end + 4, end + 4 + len) });
    at = end + 4 + len;
  }
  return out;
}

let addressCounter = 0;

/** Sends one case on its own connection; resolves when every request sent has its answer, the gateway closes, or 1.5 s pass. */
function send(c: Case): Promise<Outcome> {
  const body = bodyText(c);
  // Whether a 200 to this request would be metered: every request written is counted, whatever its framing.
  const pathname = c.path.split("?")[0];
  const inference = c.method === "POST" && (pathname === "/v1/chat/completions" || pathname === "/v1/completions" || pathname === "/v1/embeddings");
  const sent: boolean[] = [];
  const writes: (Buffer | number)[] = [];
  let end: "keep" | "half-close" | "reset" = "keep";
  const one = (b: Buffer) => Buffer.concat([Buffer.from(head(c, b, "length")), b]);
  switch (c.framing) {
    case "length":
      writes.push(one(body));
      sent.push(inference);
      break;
    case "chunked":
      writes.push(Buffer.concat([Buffer.from(head(c, body, "chunked")), chunked(body, c.splitAt)]));
      sent.push(inference);
      break;
    case "chunked-bad":
      writes.push(Buffer.concat([Buffer.from(head(c, body, "chunked")), Buffer.from(`zz\r\n${body.toString("latin1", 0, 10)}\r\n0\r\n\r\n`)]));
      sent.push(inference);
      break;
    case "length-short":
      writes.push(Buffer.concat([Buffer.from(head(c, body, "length", "1.1", -Math.min(body.length, 3))), body]));
      sent.push(inference);
      break;
    case "length-huge":
      // Declares 64 MiB, sends 256 KiB of it: refused (413, or the auth error) and closed, never read to the end.
      writes.push(Buffer.concat([Buffer.from(head(c, body, "length", "1.1", (64 << 20) - body.length)), body, Buffer.alloc(256 << 10, 0x20)]));
      sent.push(inference);
      break;
    case "length-long":
      writes.push(Buffer.concat([Buffer.from(head(c, body, "length", "1.1", 10)), body]));
      sent.push(inference); // waits for 10 bytes that never come: 408
      break;
    case "split": {
      const all = one(body);
      let at = 0;
      for (const cut of c.splitAt.map((x) => Math.floor(x * all.length)).sort((a, b) => a - b)) {
        if (cut > at) writes.push(all.subarray(at, cut), c.pauseMs);
        at = Math.max(at, cut);
      }
      writes.push(all.subarray(at));
      sent.push(inference);
      break;
    }
    case "pipelined":
      writes.push(Buffer.concat([one(body), one(body), one(body)]));
      sent.push(inference, inference, inference);
      break;
    case "garbage-after":
      writes.push(Buffer.concat([one(body), Buffer.from(["GARBAGE\r\n\r\n", "GET / HTTP/9.9\r\n\r\n", "\x00\x01\x02\r\n\r\n", `GET /${"u".repeat(20_000)} HTTP/1.1\r\n\r\n`][Math.floor(c.splitAt[0] * 3.99)])]));
      sent.push(inference);
      break;
    case "half-close":
      writes.push(one(body));
      sent.push(inference);
      end = "half-close";
      break;
    case "reset-midway": {
      const all = one(body);
      writes.push(all.subarray(0, Math.floor(all.length * Math.min(c.splitAt[0], 0.95))), c.pauseMs);
      end = "reset";
      break;
    }
    case "http10":
      writes.push(Buffer.concat([Buffer.from(head(c, body, "length", "1.0")), body]));
      sent.push(inference);
      break;
    case "length-and-chunked":
      writes.push(Buffer.concat([Buffer.from(head(c, body, "both")), chunked(body, [])]));
      sent.push(inference);
      break;
  }
  const localAddress = `127.0.5.${1 + (addressCounter++ % 16)}`;
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let done = false;
    const socket = net.connect({ port: gatewayPort, host: "127.0.0.1", localAddress });
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const data = Buffer.concat(chunks);
      resolve({ sent, responses: parseResponses(data), data });
    };
    const timer = setTimeout(finish, 1500);
    socket.on("data", (d) => {
      chunks.push(d);
      if (sent.length > 0 && parseResponses(Buffer.concat(chunks)).length >= sent.length && c.framing !== "garbage-after") finish();
    });
    socket.on("close", finish);
    socket.on("error", () => {});
    socket.on("connect", async () => {
      for (const w of writes) {
        if (done) return;
        if (typeof w === "number") await new Promise((r) => setTimeout(r, w));
        else socket.write(w);
      }
      if (end === "half-close") socket.end();
      if (end === "reset") {
        socket.resetAndDestroy();
        finish();
      }
    });
  });
}

function rssMb(pid: number) {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("VmRSS:"))!;
  return Number(line.split(/\s+/)[1]) / 1024;
}

beforeAll(async () => {
  spoolRoot = mkdtempSync(path.join(os.tmpdir(), "enclave-gateway-fuzz-"));
  tenant = await createTenant("fuzz");
  upstream = await startFastUpstream();
  model = (await registerDeployment(tenant, [upstream.url])).name;
  gw = await spawnGateway({
    spoolDir: path.join(spoolRoot, "gw"),
    env: { GATEWAY_HEADERS_TIMEOUT_MS: "400", GATEWAY_BODY_TIMEOUT_MS: "400", GATEWAY_KEEP_ALIVE_TIMEOUT_MS: "1000", GATEWAY_AUTH_FAILURE_DELAY_MS: "5" },
  });
  gatewayPort = Number(new URL(gw.url).port);
  const created = await createApiKey(tenant.org.id, tenant.ownerId);
  key = created.key;
  keyId = created.row.id;
  await waitForModel(gw.url, key, model);
});

afterAll(async () => {
  await gw?.kill();
  await upstream?.close();
  rmSync(spoolRoot, { recursive: true, force: true });
});

describe("fuzzing the gateway with schema-generated requests, headers and framings", () => {
  it(`${RUNS} cases (seed ${SEED}): the same process survives, memory is bounded, and every 200 billed is a 200 received`, { timeout: 120_000 }, async () => {
    const cases = fc.sample(caseArb, { numRuns: RUNS, seed: SEED });
    // Warm-up, then the baseline for memory.
    for (let i = 0; i < 50; i++) expect((await postChat(gw.url, key, model)).status).toBe(200);
    const rssBefore = rssMb(gw.pid);
    const started = performance.now();

    let received200 = 0;
    const statuses = new Map<number, number>();
    const problems: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < cases.length) {
          const i = next++;
          const c = cases[i];
          const out = await send(c);
          out.responses.forEach((r, n) => {
            statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
            if (r.status === 200 && out.sent[n]) received200++;
            if (!EXPECTED_STATUSES.has(r.status)) problems.push(`case ${i}: status ${r.status} ${r.body.slice(0, 200)}`);
            if (r.status >= 400) {
              let shape: unknown;
              try {
                shape = (JSON.parse(r.body) as { error?: unknown }).error;
              } catch {
                shape = undefined;
              }
              const e = shape as { message?: unknown; type?: unknown; code?: unknown } | undefined;
              if (!e || typeof e.message !== "string" || typeof e.type !== "string" || !("param" in e) || !("code" in e)) problems.push(`case ${i}: ${r.status} not in OpenAI's shape: ${r.body.slice(0, 200)}`);
              if (r.body.length > 2000) problems.push(`case ${i}: error body of ${r.body.length} bytes`);
            }
          });
          if (out.data.includes(key.slice(17))) problems.push(`case ${i}: the key's secret came back`);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;

    expect(problems).toEqual([]);
    expect(gw.child.exitCode).toBeNull();
    expect((await fetch(`${gw.url}/health`)).status).toBe(200);
    expect((await postChat(gw.url, key, model)).status).toBe(200);
    received200 += 1 + 50; // the call just above, and the warm-up

    const rssAfter = rssMb(gw.pid);
    expect(rssAfter - rssBefore).toBeLessThan(MEMORY_BOUND_MB);

    // Every 200 received has its record with status 200, and no other record says 200.
    await waitFor(async () => (await db.usageRecord.count({ where: { apiKeyId: keyId, status: 200 } })) >= received200, 10_000, 100).catch(() => {});
    await new Promise((r) => setTimeout(r, 500));
    expect(await db.usageRecord.count({ where: { apiKeyId: keyId, status: 200 } })).toBe(received200);
    expect(gw.logs.join("")).not.toMatch(/"level":"error"/);
    expect(seconds).toBeLessThan(45);
    console.log(
      `fuzz: ${cases.length} cases in ${seconds.toFixed(1)} s; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}; ` +
        `${received200} answered 200; RSS ${rssBefore.toFixed(0)} → ${rssAfter.toFixed(0)} MB`,
    );
  });
});
