/**
 * A trace for every request, written by the gateway through its durable spool: a real gateway
 * (createGateway, real HTTP) in front of a real deployment (the tiny model served by model-server
 * processes of the local driver) and of minimal upstreams, a real PostgreSQL. The caller's
 * `traceparent` comes back with the gateway's own span; every answer, errors included, carries
 * `traceparent` and `x-request-id`; the stored record has every span with real timings, the
 * artifact digest and the residency reasons; content is stored only for keys that capture it; a
 * replayed spool duplicates nothing.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "@/server/db";
import { GATEWAY_CHANNELS } from "@/server/services/api-key-secrets";
import { createGateway, type Gateway } from "@/server/gateway/server";
import { UsageSpool } from "@/server/gateway/spool";
import { newSpanId, newTraceId, parseTraceparent, type SpanRecord, type TraceRecord } from "@/server/gateway/trace";
import { storedTraceRecord } from "@/server/services/traces";
import { RequestTrace, serialiseTrace } from "@/server/gateway/tracing";
import { usageRecordId } from "@/server/gateway/usage-sql";
import { TINY_MODEL_SHA256, TINY_MODEL_URI } from "@/workers/model-server/tiny-model";
import { createApiKey, localDeploymentFixture, reconcileUntil } from "../deployment-fixtures";
import { registerDeployment, startFastUpstream, waitFor, type FakeUpstream } from "../gateway-fixtures";
import { callerFor, unique } from "../helpers";

let f: Awaited<ReturnType<typeof localDeploymentFixture>>;
let gateway: Gateway;
let spoolRoot: string;
let orgId: string;
let deploymentId: string;
let key: string;
let keyRow: { id: string; name: string; prefix: string };
let captureKey: string;
let captureKeyId: string;
let fast: FakeUpstream;
let fastName: string;
const name = unique("traced");
const seen: TraceRecord[] = [];
const quiet = () => {};

beforeAll(async () => {
  f = await localDeploymentFixture({ quota: 2, capacity: 4 });
  orgId = f.tenant.org.id;
  // PUBLIC data may not go to this FR region without ISO 27001 (two reasons); INTERNAL may.
  await db.residencyPolicy.create({ data: { orgId, dataClassification: "PUBLIC", allowedJurisdictions: ["DE"], requiredCertifications: ["ISO 27001"] } });
  await db.residencyPolicy.create({ data: { orgId, dataClassification: "INTERNAL", allowedJurisdictions: ["FR"] } });
  const d = await callerFor(f.tenant.ownerId).deployments.create({
    orgId,
    name,
    catalogModelId: f.model.id,
    regionId: f.region.id,
    gpuTypeId: f.slot.id,
    replicas: 1,
    minReplicas: 1,
    maxReplicas: 1,
    dataClassification: "INTERNAL",
  });
  deploymentId = d.id;
  await reconcileUntil(d.id, f.driver, (r, phase) => phase === "RUNNING" && r.status === "converged");
  fast = await startFastUpstream();
  fastName = (await registerDeployment(f.tenant, [fast.url])).name;

  const plain = await createApiKey(orgId, f.tenant.ownerId);
  key = plain.key;
  keyRow = plain.row;
  const capturing = await createApiKey(orgId, f.tenant.ownerId);
  await db.apiKey.update({ where: { id: capturing.row.id }, data: { captureContent: true } });
  captureKey = capturing.key;
  captureKeyId = capturing.row.id;

  spoolRoot = mkdtempSync(path.join(os.tmpdir(), "enclave-gateway-traces-"));
  gateway = createGateway({
    databaseUrl: process.env.DATABASE_URL!,
    port: 0,
    spoolDir: path.join(spoolRoot, "gw"),
    batchMs: 50,
    onTrace: (t) => seen.push(t),
    log: quiet,
  });
  await gateway.listen();
  await waitFor(() => gateway.state.route(orgId, name)?.replicas.length === 1, 5000);
});

afterAll(async () => {
  await gateway?.close();
  await fast?.close();
  for (const s of f.driver.recorded()) await f.driver.delete(s.replicaId);
  rmSync(f.stateDir, { recursive: true, force: true });
  rmSync(spoolRoot, { recursive: true, force: true });
});

async function call(pathname: string, options: { key?: string | null; body?: unknown; headers?: Record<string, string>; method?: string } = {}) {
  const headers: Record<string, string> = { "content-type": "application/json", ...options.headers };
  if (options.key !== null) headers.authorization = `Bearer ${options.key ?? key}`;
  const res = await fetch(`${gateway.url}${pathname}`, {
    method: options.method ?? (options.body === undefined ? "GET" : "POST"),
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await res.text();
  const traceparent = res.headers.get("traceparent");
  return { status: res.status, text, json: safeJson(text), requestId: res.headers.get("x-request-id"), traceparent, context: parseTraceparent(traceparent ?? undefined) };
}

function safeJson(text: string): { error?: { code: string | null } } & Record<string, unknown> {
  try {
    return JSON.parse(text);
  } catch {
    return {};
  }
}

const chat = (model: string, extra: Record<string, unknown> = {}) => ({ model, messages: [{ role: "user", content: "Bonjour, raconte une histoire" }], max_tokens: 6, ...extra });

/** The stored row of the request whose answer carried `traceparent` (its root span). */
async function stored(spanId: string) {
  expect(await gateway.spool.drain(10_000)).toBe(true);
  const row = await db.trace.findFirst({ where: { spanId } });
  expect(row, `a Trace row for span ${spanId}`).not.toBeNull();
  // The gateway stores the record compressed (server/gateway/trace-sql.ts); `record` is for rows written before.
  expect(row!.record).toBeNull();
  return { row: row!, record: storedTraceRecord(row!) as TraceRecord };
}

const spansNamed = (record: TraceRecord, spanName: string) => record.spans.filter((s) => s.name === spanName);
const only = (record: TraceRecord, spanName: string): SpanRecord => {
  const spans = spansNamed(record, spanName);
  expect(spans, `one ${spanName} span`).toHaveLength(1);
  return spans[0];
};

/** Every child inside its root, the root first, timings real (positive, microseconds). */
function expectWellFormed(record: TraceRecord) {
  const [root, ...children] = record.spans;
  expect(root).toMatchObject({ name: "gateway.request", kind: "server", spanId: record.spanId, parentSpanId: record.parentSpanId, startMs: 0 });
  expect(root.durationMs).toBeGreaterThan(0);
  expect(record.durationMs).toBe(root.durationMs);
  for (const span of children) {
    expect(span.parentSpanId).toBe(record.spanId);
    expect(span.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(span.startMs).toBeGreaterThanOrEqual(0);
    expect(span.durationMs).toBeGreaterThanOrEqual(0);
    expect(span.startMs + span.durationMs).toBeLessThanOrEqual(root.durationMs + 0.002);
  }
  // In the order they happened.
  for (let i = 1; i < children.length; i++) expect(children[i].startMs).toBeGreaterThanOrEqual(children[i - 1].startMs);
  expect(new Set(record.spans.map((s) => s.spanId)).size).toBe(record.spans.length);
}

describe("a request through a real deployment", () => {
  it("comes back with the caller's trace id and the gateway's own span; its stored trace has every span, real timings and the artifact digest", async () => {
    const traceId = newTraceId();
    const parent = newSpanId();
    const r = await call("/v1/chat/completions", { body: chat(name), headers: { traceparent: `00-${traceId}-${parent}-01` } });
    expect(r.status).toBe(200);
    expect(r.context).toMatchObject({ traceId, sampled: true });
    expect(r.context!.parentSpanId).not.toBe(parent);
    expect(r.requestId).toMatch(/^req_/);

    const { row, record } = await stored(r.context!.parentSpanId!);
    expect(row).toMatchObject({ traceId, orgId, apiKeyId: keyRow.id, deploymentId, regionId: f.region.id, model: name, endpoint: "/v1/chat/completions", status: 200, errorCode: null, dataClass: "INTERNAL", content: null });
    expect(record).toMatchObject({ version: 1, traceId, parentSpanId: parent, requestId: r.requestId, stream: false, status: 200, errorCode: null });
    expect(record.content).toBeUndefined();
    // The default guardrail policy (personal data observed on the input and the output) adds its two checks.
    expect(record.spans.map((s) => s.name)).toEqual(["gateway.request", "auth", "residency", "limits", "apply_guardrail pii", "route", "upstream", "apply_guardrail pii"]);
    expectWellFormed(record);

    expect(only(record, "auth").attributes).toEqual({
      "enclave.api_key.id": keyRow.id,
      "enclave.api_key.name": keyRow.name,
      "enclave.api_key.prefix": keyRow.prefix,
      "enclave.api_key.scopes": ["inference"],
    });
    expect(only(record, "residency")).toMatchObject({
      status: "ok",
      attributes: { "enclave.data_class": "INTERNAL", "enclave.residency.verdict": "allowed", "enclave.residency.reasons": [], "enclave.residency.policy": "applied" },
    });
    expect(only(record, "limits").attributes).toEqual({ "enclave.limits.checked": [] });

    const replica = await db.deploymentReplica.findFirstOrThrow({ where: { deploymentId, state: "ready" } });
    expect(replica.clusterRef).toBeTruthy();
    expect(only(record, "route").attributes).toEqual({
      "enclave.region.id": f.region.id,
      "enclave.region.code": f.region.code,
      "enclave.deployment.id": deploymentId,
      "enclave.deployment.name": name,
      "enclave.deployment.revision": 1,
      "enclave.replica.id": replica.id,
      "enclave.cluster.ref": replica.clusterRef,
      "enclave.artifact.uri": TINY_MODEL_URI,
      "enclave.artifact.sha256": f.model.artifactSha256,
      "enclave.route.attempt": 1,
    });
    expect(f.model.artifactSha256).toBe(TINY_MODEL_SHA256);

    const upstream = only(record, "upstream");
    expect(upstream).toMatchObject({ kind: "client", status: "ok", attributes: { "enclave.upstream.status": 200, "server.address": "127.0.0.1" } });
    expect(upstream.durationMs).toBeGreaterThan(0);
    const events = Object.fromEntries(upstream.events!.map((e) => [e.name, e.atMs]));
    expect(events.connected).toBeGreaterThanOrEqual(upstream.startMs);
    expect(events.first_token).toBeGreaterThanOrEqual(events.connected);
    expect(events.first_token).toBeLessThanOrEqual(upstream.startMs + upstream.durationMs + 0.002);
    expect(record.ttftMs).toBe(events.first_token);
    expect(record.ttftMs!).toBeLessThanOrEqual(record.durationMs);
    const completion = r.json as { usage: { prompt_tokens: number; completion_tokens: number } };
    expect(record).toMatchObject({ tokensIn: completion.usage.prompt_tokens, tokensOut: completion.usage.completion_tokens });
    expect(upstream.attributes["gen_ai.usage.output_tokens"]).toBe(completion.usage.completion_tokens);
    expect(upstream.attributes["enclave.upstream.output_tokens_per_second"]).toBeGreaterThan(0);

    // The trace and the usage record describe the same call: one spool line, one transaction.
    const usage = await db.usageRecord.findFirstOrThrow({ where: { id: usageRecordId(record.recordId) } });
    expect(usage).toMatchObject({ apiKeyId: keyRow.id, tokensIn: record.tokensIn, tokensOut: record.tokensOut, status: 200 });
    expect(usage.createdAt.getTime()).toBe(row.startedAt.getTime());
    // The listener saw the same record, once.
    expect(seen.filter((t) => t.spanId === record.spanId)).toHaveLength(1);
  });

  it("records the time to first token of a stream", async () => {
    const res = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify(chat(name, { stream: true, max_tokens: 8, stream_options: { include_usage: true } })),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const context = parseTraceparent(res.headers.get("traceparent") ?? undefined);
    expect(context).not.toBeNull();
    expect(res.headers.get("x-request-id")).toMatch(/^req_/);
    const text = await res.text();
    expect(text).toContain("[DONE]");

    const { row, record } = await stored(context!.parentSpanId!);
    expect(record.parentSpanId).toBeNull();
    expect(record.stream).toBe(true);
    expectWellFormed(record);
    const upstream = only(record, "upstream");
    const firstToken = upstream.events!.find((e) => e.name === "first_token")!.atMs;
    const firstByte = upstream.events!.find((e) => e.name === "first_byte")!.atMs;
    expect(row.ttftMs).toBeGreaterThan(0);
    expect(record.ttftMs).toBe(firstToken);
    expect(firstToken).toBeGreaterThanOrEqual(firstByte);
    expect(record.ttftMs!).toBeLessThan(record.durationMs);
    expect(record.tokensOut).toBeGreaterThan(0);
    expect(upstream.attributes["enclave.upstream.output_tokens_per_second"]).toBeGreaterThan(0);
  });
});

describe("error answers", () => {
  it("carry traceparent and x-request-id, and their stored trace the error code", async () => {
    const traceId = newTraceId();
    const traceparent = `00-${traceId}-${newSpanId()}-00`;
    const missing = await call("/v1/chat/completions", { body: chat("no-such-deployment"), headers: { traceparent } });
    expect(missing.status).toBe(404);
    expect(missing.requestId).toMatch(/^req_/);
    expect(missing.context).toMatchObject({ traceId, sampled: false });
    const notFound = await stored(missing.context!.parentSpanId!);
    expect(notFound.row).toMatchObject({ traceId, status: 404, errorCode: "model_not_found", model: "no-such-deployment", deploymentId: null, apiKeyId: keyRow.id });
    expect(notFound.record.spans.map((s) => s.name)).toEqual(["gateway.request", "auth"]);
    expect(notFound.record.spans[0].attributes).toMatchObject({ "http.response.status_code": 404, "error.type": "model_not_found" });
    expectWellFormed(notFound.record);

    // Residency refused, with every reason the policy gives.
    const refused = await call("/v1/chat/completions", { body: chat(fastName), headers: { "x-data-classification": "PUBLIC" } });
    expect(refused.status).toBe(403);
    expect(refused.json.error?.code).toBe("residency_policy_violation");
    const residency = await stored(refused.context!.parentSpanId!);
    expect(residency.row).toMatchObject({ errorCode: "residency_policy_violation", status: 403, dataClass: "PUBLIC" });
    const verdict = only(residency.record, "residency");
    expect(verdict.status).toBe("error");
    expect(verdict.attributes["enclave.residency.verdict"]).toBe("refused");
    expect(verdict.attributes["enclave.residency.reasons"]).toEqual([
      expect.stringContaining("jurisdiction FR is not allowed for PUBLIC data"),
      expect.stringContaining("missing certification ISO 27001"),
    ]);
    expect(spansNamed(residency.record, "upstream")).toHaveLength(0);

    // A class stricter than the deployment was made for.
    const tooHigh = await call("/v1/chat/completions", { body: chat(fastName), headers: { "x-data-classification": "RESTRICTED" } });
    expect(tooHigh.status).toBe(403);
    const high = await stored(tooHigh.context!.parentSpanId!);
    expect(high.row.errorCode).toBe("data_classification_not_allowed");
    expect(only(high.record, "residency").attributes).toMatchObject({ "enclave.data_class": "RESTRICTED", "enclave.residency.verdict": "refused" });

    // No usage record for refusals: they are traced, not metered.
    expect(await db.usageRecord.count({ where: { id: { in: [notFound.record, residency.record, high.record].map((r) => usageRecordId(r.recordId)) } } })).toBe(0);
  });

  it("a rate limit: the limits span says what was checked, what remained, and what refused", async () => {
    const limited = await createApiKey(orgId, f.tenant.ownerId, { rateLimitRpm: 1, rateLimitTpm: 100_000 });
    // Not within the last seconds of a UTC minute: the one allowed request and the refused one share a window.
    const left = 60_000 - (Date.now() % 60_000);
    if (left < 5000) await new Promise((r) => setTimeout(r, left + 50));
    const first = await call("/v1/chat/completions", { key: limited.key, body: chat(fastName) });
    expect(first.status).toBe(200);
    const second = await call("/v1/chat/completions", { key: limited.key, body: chat(fastName) });
    expect(second.status).toBe(429);
    expect(second.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(second.requestId).toMatch(/^req_/);
    const ok = await stored(first.context!.parentSpanId!);
    const limitsOk = only(ok.record, "limits");
    expect(limitsOk.status).toBe("ok");
    expect(limitsOk.attributes["enclave.limits.checked"]).toEqual(["tokens_per_minute", "requests_per_minute"]);
    expect(limitsOk.attributes["enclave.limits.remaining.requests_per_minute"]).toBe(0);
    expect(limitsOk.attributes["enclave.limits.remaining.tokens_per_minute"]).toBeGreaterThan(0);
    const refused = await stored(second.context!.parentSpanId!);
    expect(refused.row).toMatchObject({ status: 429, errorCode: "rate_limit_exceeded" });
    const limits = only(refused.record, "limits");
    expect(limits.status).toBe("error");
    expect(limits.attributes).toMatchObject({ "enclave.limits.refused": "requests_per_minute", "enclave.limits.remaining.requests_per_minute": 0 });
  });

  it("answers before authentication carry them too, reach onTrace with no organisation, and are not stored", async () => {
    const traceId = newTraceId();
    const headers = { traceparent: `00-${traceId}-${newSpanId()}-01` };
    const answers = [
      await call("/v1/chat/completions", { key: null, body: chat(name), headers }),
      await call("/v1/chat/completions", { key: `enc_${"a".repeat(12)}_${"B".repeat(43)}`, body: chat(name), headers }),
      await call("/v1/nothing-here", { headers }),
      await call("/v1/chat/completions", { method: "GET", headers }),
      await call("/health", { key: null, headers }),
    ];
    expect(answers.map((a) => a.status)).toEqual([401, 401, 404, 405, 200]);
    for (const a of answers) {
      expect(a.requestId).toMatch(/^req_/);
      expect(a.context?.traceId).toBe(traceId);
      const traced = seen.find((t) => t.spanId === a.context!.parentSpanId);
      expect(traced, `onTrace saw ${a.status}`).toMatchObject({ orgId: "", traceId, status: a.status, requestId: a.requestId });
    }
    expect(seen.find((t) => t.spanId === answers[0].context!.parentSpanId)!.errorCode).toBe("invalid_api_key");
    expect(seen.find((t) => t.spanId === answers[2].context!.parentSpanId)!.errorCode).toBe("unknown_url");
    // The failed authentication is a span of its own.
    expect(seen.find((t) => t.spanId === answers[1].context!.parentSpanId)!.spans.map((s) => [s.name, s.status])).toEqual([
      ["gateway.request", "unset"],
      ["auth", "error"],
    ]);
    expect(await gateway.spool.drain(10_000)).toBe(true);
    expect(await db.trace.count({ where: { traceId } })).toBe(0);
  });

  it("an unparsable request is answered with a traceparent and reaches onTrace", async () => {
    const before = seen.length;
    const { port } = new URL(gateway.url);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(Number(port), "127.0.0.1", () => socket.write("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"));
      let text = "";
      socket.on("data", (d) => (text += d));
      socket.on("close", () => resolve(text));
      socket.on("error", reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 400/);
    const traceparent = /\r\ntraceparent: (\S+)\r\n/.exec(answer)?.[1];
    expect(parseTraceparent(traceparent)).not.toBeNull();
    expect(answer).toMatch(/\r\nx-request-id: req_/);
    await waitFor(() => seen.slice(before).some((t) => t.errorCode === "malformed_request"), 2000);
    expect(seen.slice(before).find((t) => t.errorCode === "malformed_request")).toMatchObject({ orgId: "", status: 400, traceId: parseTraceparent(traceparent)!.traceId });
  });
});

describe("failover", () => {
  it("a failed attempt is its own upstream span, and the next attempt its own route", async () => {
    // A port nobody listens on: the first replica refuses the connection.
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const deadUrl = `http://127.0.0.1:${(closed.address() as net.AddressInfo).port}`;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const d = await registerDeployment(f.tenant, [deadUrl, fast.url]);
    await waitFor(() => gateway.state.route(orgId, d.name)?.replicas.length === 2, 5000);
    const replicas = await db.deploymentReplica.findMany({ where: { deploymentId: d.id }, orderBy: { ordinal: "asc" } });

    let record: TraceRecord | null = null;
    for (let i = 0; i < 4 && !record; i++) {
      const r = await call("/v1/chat/completions", { body: chat(d.name) });
      expect(r.status).toBe(200);
      const s = await stored(r.context!.parentSpanId!);
      if (spansNamed(s.record, "upstream").length === 2) record = s.record;
    }
    expect(record, "a request whose first attempt hit the dead replica").not.toBeNull();
    expect(record!.spans.map((s) => s.name)).toEqual(["gateway.request", "auth", "residency", "limits", "apply_guardrail pii", "route", "upstream", "route", "upstream", "apply_guardrail pii"]);
    expectWellFormed(record!);
    const [route1, route2] = spansNamed(record!, "route");
    const [failed, answered] = spansNamed(record!, "upstream");
    expect(route1.attributes).toMatchObject({ "enclave.route.attempt": 1, "enclave.replica.id": replicas[0].id });
    expect(route2.attributes).toMatchObject({ "enclave.route.attempt": 2, "enclave.replica.id": replicas[1].id });
    expect(failed).toMatchObject({ status: "error", attributes: { "error.type": "ECONNREFUSED" } });
    expect(answered).toMatchObject({ status: "ok", attributes: { "enclave.upstream.status": 200 } });
    expect(answered.startMs).toBeGreaterThanOrEqual(failed.startMs + failed.durationMs);
  });
});

describe("content capture", () => {
  it("stores prompt and completion only for keys that capture them, apart from the record", async () => {
    const plain = await call("/v1/chat/completions", { body: chat(name) });
    const capturing = await call("/v1/chat/completions", { key: captureKey, body: chat(name) });
    expect(capturing.status).toBe(200);
    const without = await stored(plain.context!.parentSpanId!);
    expect(without.row.content).toBeNull();
    const withContent = await stored(capturing.context!.parentSpanId!);
    const answer = (capturing.json as { choices: { message: { content: string } }[] }).choices[0].message.content;
    expect(withContent.row.content).toEqual({ request: chat(name), completion: answer });
    // The record column never holds the texts.
    expect(JSON.stringify(withContent.record)).not.toContain("raconte une histoire");
    expect(withContent.record.spans.length).toBeGreaterThan(3);

    // A stream's completion is the text of its deltas.
    const res = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${captureKey}`, "content-type": "application/json" },
      body: JSON.stringify(chat(name, { stream: true })),
    });
    const sse = await res.text();
    const deltas = sse
      .split("\n")
      .filter((l) => l.startsWith("data: ") && l !== "data: [DONE]")
      .map((l) => (JSON.parse(l.slice(6)) as { choices: { delta?: { content?: string } }[] }).choices[0]?.delta?.content ?? "")
      .join("");
    const streamed = await stored(parseTraceparent(res.headers.get("traceparent") ?? undefined)!.parentSpanId!);
    expect((streamed.row.content as { completion: string }).completion).toBe(deltas);

    // Bounded: a large request is kept as its first 64 KiB, marked truncated; a refusal keeps the request.
    const big = chat("no-such-deployment", { messages: [{ role: "user", content: "x".repeat(100_000) }] });
    const refused = await call("/v1/chat/completions", { key: captureKey, body: big });
    expect(refused.status).toBe(404);
    const kept = (await stored(refused.context!.parentSpanId!)).row.content as { request: { truncated: boolean; bytes: number; text: string }; completion: null };
    expect(kept.completion).toBeNull();
    expect(kept.request).toMatchObject({ truncated: true, bytes: JSON.stringify(big).length });
    expect(kept.request.text.length).toBe(64 << 10);

    // Turned off (as the console does: update and NOTIFY), the next request keeps nothing.
    await db.$transaction(async (tx) => {
      await tx.apiKey.update({ where: { id: captureKeyId }, data: { captureContent: false } });
      await tx.$executeRaw`SELECT pg_notify(${GATEWAY_CHANNELS.apiKeys}, ${captureKeyId})`;
    });
    await waitFor(() => gateway.state.keysById.get(captureKeyId)?.captureContent === false, 3000);
    const after = await call("/v1/chat/completions", { key: captureKey, body: chat(name) });
    expect((await stored(after.context!.parentSpanId!)).row.content).toBeNull();
  });
});

describe("the record's JSON", () => {
  it("written by hand for the hot path, is what JSON.stringify gives, for every record this file produced", () => {
    expect(seen.length).toBeGreaterThan(15);
    const shapes = new Set<string>();
    for (const record of seen) {
      const { content: _content, ...withoutContent } = record;
      expect(JSON.parse(serialiseTrace(record))).toEqual(JSON.parse(JSON.stringify(withoutContent)));
      shapes.add(record.spans.map((s) => s.name).join(","));
    }
    // Refusals at each stage, answers, streams and failovers.
    expect(shapes.size).toBeGreaterThanOrEqual(5);
  });
});

describe("the spool", () => {
  it("replays a line twice without a second trace or usage row, and still replays lines written before traces", async () => {
    const parent = path.join(spoolRoot, "replay");
    const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 2 });
    // A long batch interval: the line is read from the file before it is committed.
    const first = new UsageSpool({ dir: path.join(parent, "gw-first"), pool, batchMs: 60_000, batchSize: 10_000, log: quiet });
    await first.open();
    const started = performance.now();
    const t = new RequestTrace(undefined, started, Date.now(), unique("req"), unique("rec"), "POST", "/v1/chat/completions");
    t.orgId = orgId;
    t.apiKeyId = keyRow.id;
    t.span("auth", "internal", started, started + 0.05, "ok", { "enclave.api_key.id": keyRow.id });
    const trace = t.finish(started + 1, 200, null, 0, 1, 2, 0);
    const usage = { requestId: trace.recordId, orgId, apiKeyId: keyRow.id, deploymentId: null, endpoint: "/v1/chat/completions", tokensIn: 1, tokensOut: 2, latencyMs: 1, ttftMs: null, status: 200, costMicroEur: 0, at: trace.startedAt };
    const legacy = { ...usage, requestId: unique("legacy") };
    try {
      first.append(usage, trace, JSON.stringify({ request: { model: "x" }, completion: "y" }));
      const segment = readdirSync(first.dir).find((n) => n.endsWith(".jsonl"))!;
      const lines = readFileSync(path.join(first.dir, segment), "utf8");
      expect(lines.split("\n").filter(Boolean)).toHaveLength(1);
      expect(await first.drain(10_000)).toBe(true);
      expect(await db.trace.count({ where: { spanId: trace.spanId } })).toBe(1);

      // The same line left behind by a dead process (plus a line of the format before traces).
      const dead = path.join(parent, "gw-dead");
      mkdirSync(dead, { recursive: true });
      writeFileSync(path.join(dead, "owner"), JSON.stringify({ pid: 2 ** 30, start: "1", host: os.hostname() }));
      writeFileSync(path.join(dead, "usage-x-000001.jsonl"), `${lines}${JSON.stringify(legacy)}\n`);
      const second = new UsageSpool({ dir: path.join(parent, "gw-second"), pool, batchMs: 50, batchSize: 50, log: quiet });
      await second.open();
      try {
        expect(await second.drain(10_000)).toBe(true);
      } finally {
        await second.close();
      }
      expect(readdirSync(parent)).not.toContain("gw-dead");
      expect(await db.trace.count({ where: { spanId: trace.spanId } })).toBe(1);
      expect(await db.usageRecord.count({ where: { id: usageRecordId(usage.requestId) } })).toBe(1);
      expect(await db.usageRecord.count({ where: { id: usageRecordId(legacy.requestId) } })).toBe(1);
      const row = await db.trace.findFirstOrThrow({ where: { spanId: trace.spanId } });
      expect(row).toMatchObject({ traceId: trace.traceId, recordId: trace.recordId, tokensIn: 1, tokensOut: 2, content: { request: { model: "x" }, completion: "y" } });
      expect(row.startedAt.getTime()).toBe(trace.startedAt);
    } finally {
      await first.close();
      await pool.end();
    }
  });

  it("keeps the usage record when PostgreSQL refuses a trace's content", async () => {
    const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 2 });
    const spool = new UsageSpool({ dir: path.join(spoolRoot, "refused", "gw"), pool, batchMs: 50, batchSize: 50, log: quiet });
    await spool.open();
    try {
      const started = performance.now();
      const t = new RequestTrace(undefined, started, Date.now(), unique("req"), unique("rec"), "POST", "/v1/chat/completions");
      t.orgId = orgId;
      const trace = t.finish(started + 1, 200, null, 0, 1, 1, 0);
      const usage = { requestId: trace.recordId, orgId, apiKeyId: null, deploymentId: null, endpoint: "/v1/chat/completions", tokensIn: 1, tokensOut: 1, latencyMs: 1, ttftMs: null, status: 200, costMicroEur: 0, at: trace.startedAt };
      // A lone surrogate: valid JSON, refused by jsonb.
      spool.append(usage, trace, '{"request":null,"completion":"\\ud800"}');
      expect(await spool.drain(10_000)).toBe(true);
      expect(await db.usageRecord.count({ where: { id: usageRecordId(usage.requestId) } })).toBe(1);
      expect(await db.trace.findFirst({ where: { spanId: trace.spanId } })).toMatchObject({ content: null, recordId: trace.recordId });
    } finally {
      await spool.close();
      await pool.end();
    }
  });
});
