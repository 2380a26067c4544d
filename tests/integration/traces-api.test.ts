/**
 * Reading traces over tRPC and REST: the list of an organisation's traced requests (newest first,
 * cursor pages with no gap or repeat, filters by deployment, key, status, period and trace id, on
 * the Trace indexes), one W3C trace read whole (every request of the organisation in it, spans,
 * residency reasons, artifact digest, names for links, content only when stored, unknown spans
 * and verdicts as they are), another organisation's trace answered like a missing one, and the
 * per-key content-capture setting. Rows are written as the gateway writes them (tests/trace-fixtures.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "@/server/db";
import { newTraceId } from "@/server/gateway/trace";
import { Prisma } from "@/server/generated/prisma/client";
import { listTracesSql, type TraceFilters } from "@/server/services/traces";
import { callerFor, createTenant, refusal, unique, type Tenant } from "../helpers";
import { call, issueKey, startRestServer, type RestServer } from "../rest-fixtures";
import { createTrace, insertTrace, traceRecord } from "../trace-fixtures";

const server: RestServer = await startRestServer();

let a: Tenant;
let b: Tenant;
let owner: ReturnType<typeof callerFor>;
let viewer: ReturnType<typeof callerFor>;
let readKey: string;
/** A window in the past that only this file's rows fill (the tenant fixture's own trace is "now"). */
const T0 = Date.UTC(2026, 9, 14, 8, 0, 0);
const at = (offsetMs: number) => new Date(T0 + offsetMs);
const window = { from: new Date(T0).toISOString(), to: new Date(T0 + 3_600_000).toISOString() };

beforeAll(async () => {
  a = await createTenant("traces-a");
  b = await createTenant("traces-b");
  owner = callerFor(a.ownerId);
  viewer = callerFor(a.viewer.user.id);
  readKey = (await issueKey(a.org.id, a.ownerId, ["read"], "traces reader")).key;
});
afterAll(() => server.close());

const key = (t: Tenant) => ({ id: t.apiKey.id, name: t.apiKey.name, prefix: t.apiKey.prefix });

describe("the list of traced requests", () => {
  it("is newest first, a page at a time, with no gap and no repeat across pages (same-millisecond requests included)", async () => {
    const org = await createTenant("traces-pages");
    const made = [];
    for (let i = 0; i < 7; i++) made.push(await createTrace({ orgId: org.org.id, startedAt: at(i * 1000), apiKey: key(org), deployment: org.deployment, region: org.region }));
    // Three requests in the same millisecond: the span id breaks the tie.
    for (let i = 0; i < 3; i++) made.push(await createTrace({ orgId: org.org.id, startedAt: at(3500), apiKey: key(org), deployment: org.deployment }));
    const expected = [...made].sort((x, y) => y.startedAt - x.startedAt || (y.spanId < x.spanId ? -1 : 1)).map((r) => r.spanId);

    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await callerFor(org.ownerId).traces.list({ orgId: org.org.id, ...window, limit: 3, cursor });
      expect(page.items.length).toBeLessThanOrEqual(3);
      seen.push(...page.items.map((i) => i.spanId));
      cursor = page.nextCursor ?? undefined;
      pages++;
    } while (cursor && pages < 10);
    expect(seen).toEqual(expected);
    expect(pages).toBe(4);

    // Without a period the tenant fixture's own request (made now) comes first.
    const all = await callerFor(org.ownerId).traces.list({ orgId: org.org.id, limit: 50 });
    expect(all.items.map((i) => i.spanId)).toEqual([org.trace.spanId, ...expected]);
    expect(all.nextCursor).toBeNull();
  });

  it("shows what a list needs: time, model, deployment, key, status, latency, TTFT, tokens, cost and trace id", async () => {
    const r = await createTrace({ orgId: a.org.id, startedAt: at(10), apiKey: key(a), deployment: a.deployment, region: a.region, durationMs: 87.5, ttftMs: 21.25, tokensIn: 12, tokensOut: 34, costMicroEur: 1500 });
    const [item] = (await viewer.traces.list({ orgId: a.org.id, ...window, traceId: r.traceId })).items;
    expect(item).toEqual({
      traceId: r.traceId,
      spanId: r.spanId,
      requestId: r.requestId,
      startedAt: new Date(r.startedAt),
      model: r.model,
      endpoint: "/v1/chat/completions",
      stream: false,
      dataClass: "INTERNAL",
      status: 200,
      errorCode: null,
      durationMs: 87.5,
      ttftMs: 21.25,
      tokensIn: 12,
      tokensOut: 34,
      costEur: 0.0015,
      hasContent: false,
      deployment: { id: a.deployment.id, name: a.deployment.name, deleted: false },
      apiKey: { id: a.apiKey.id, name: "fixture key", prefix: a.apiKey.prefix, deleted: false },
      region: { id: a.region.id, code: a.region.code, name: a.region.name },
    });
  });

  it("filters by deployment, key, status (ok, error or one HTTP status), period and trace id", async () => {
    const org = await createTenant("traces-filters");
    const other = await db.deployment.create({
      data: { orgId: org.org.id, name: unique("dep2"), catalogModelId: org.model.id, regionId: org.region.id, gpuTypeId: org.gpuType.id, gpusPerReplica: 1, dataClassification: "INTERNAL", createdById: org.ownerId },
    });
    const otherKey = await db.apiKey.create({ data: { orgId: org.org.id, name: "second key", prefix: unique("enc_f"), secretHash: "x", scopes: ["inference"], createdById: org.ownerId } });
    const k1 = key(org);
    const k2 = { id: otherKey.id, name: otherKey.name, prefix: otherKey.prefix };
    const shared = newTraceId();
    const rows = {
      ok1: await createTrace({ orgId: org.org.id, startedAt: at(1_000), apiKey: k1, deployment: org.deployment, status: 200 }),
      limited: await createTrace({ orgId: org.org.id, startedAt: at(2_000), apiKey: k2, deployment: org.deployment, status: 429, errorCode: "rate_limit_exceeded" }),
      upstream: await createTrace({ orgId: org.org.id, startedAt: at(3_000), apiKey: k1, deployment: other, status: 502, traceId: shared }),
      gone: await createTrace({ orgId: org.org.id, startedAt: at(4_000), apiKey: k2, deployment: other, status: 499, traceId: shared }),
      ok2: await createTrace({ orgId: org.org.id, startedAt: at(5_000), apiKey: k2, deployment: other, status: 200 }),
      // Refused before authentication: no key, no deployment.
      unauthenticated: await createTrace({ orgId: org.org.id, startedAt: at(6_000), apiKey: null, status: 401, errorCode: "invalid_api_key" }),
    };
    const list = async (filters: Record<string, unknown>) =>
      (await callerFor(org.ownerId).traces.list({ orgId: org.org.id, ...window, limit: 50, ...filters } as never)).items.map((i) => i.requestId);
    const ids = (...names: (keyof typeof rows)[]) => names.map((n) => rows[n].requestId);

    expect(await list({})).toEqual(ids("unauthenticated", "ok2", "gone", "upstream", "limited", "ok1"));
    expect(await list({ deploymentId: org.deployment.id })).toEqual(ids("limited", "ok1"));
    expect(await list({ apiKeyId: k2.id })).toEqual(ids("ok2", "gone", "limited"));
    expect(await list({ status: "ok" })).toEqual(ids("ok2", "ok1"));
    expect(await list({ status: "error" })).toEqual(ids("unauthenticated", "gone", "upstream", "limited"));
    expect(await list({ status: "429" })).toEqual(ids("limited"));
    expect(await list({ status: "499" })).toEqual(ids("gone"));
    expect(await list({ traceId: shared })).toEqual(ids("gone", "upstream"));
    expect(await list({ from: at(2_000).toISOString(), to: at(4_000).toISOString() })).toEqual(ids("upstream", "limited"));
    expect(await list({ deploymentId: other.id, apiKeyId: k2.id, status: "error" })).toEqual(ids("gone"));
    // Another organisation's deployment or key as a filter finds nothing of it.
    expect(await list({ deploymentId: a.deployment.id })).toEqual([]);
    expect((await callerFor(org.ownerId).traces.list({ orgId: org.org.id, apiKeyId: a.apiKey.id, limit: 50 })).items).toEqual([]);
  });

  it("names the deployment and key of each request, and keeps the id of a deleted deployment or of a key that no longer exists", async () => {
    const doomed = await db.deployment.create({
      data: { orgId: a.org.id, name: unique("doomed"), catalogModelId: a.model.id, regionId: a.region.id, gpuTypeId: a.gpuType.id, gpusPerReplica: 1, dataClassification: "INTERNAL", createdById: a.ownerId },
    });
    const r = await createTrace({ orgId: a.org.id, startedAt: at(20), apiKey: { id: "key-that-is-gone", name: "gone", prefix: "gone" }, deployment: doomed });
    await db.deployment.update({ where: { id: doomed.id }, data: { name: `${doomed.name}~deleted-123`, phase: "DELETED", deletedAt: new Date() } });
    const [item] = (await owner.traces.list({ orgId: a.org.id, ...window, traceId: r.traceId })).items;
    expect(item.deployment).toEqual({ id: doomed.id, name: doomed.name, deleted: true });
    expect(item.apiKey).toEqual({ id: "key-that-is-gone", name: null, prefix: null, deleted: true });
    expect((await owner.traces.get({ orgId: a.org.id, traceId: r.traceId })).requests[0].deployment).toEqual({ id: doomed.id, name: doomed.name, deleted: true });
  });

  it("refuses a cursor it did not give, a period that ends before it starts, and a status or trace id it cannot read, naming the input", async () => {
    const refused = (input: Record<string, unknown>) => refusal(() => owner.traces.list({ orgId: a.org.id, limit: 10, ...input } as never));
    expect((await refused({ cursor: "not-a-cursor" })).fieldErrors).toEqual({ cursor: [expect.stringMatching(/cursor is not one this list gave/)] });
    expect((await refused({ from: window.to, to: window.from })).fieldErrors).toEqual({ from: ["from must be before to"] });
    expect((await refused({ from: "yesterday" })).fieldErrors.from?.[0]).toMatch(/from must be a date and time \(RFC 3339/);
    expect((await refused({ status: "failed" })).fieldErrors.status?.[0]).toMatch(/status is ok .* or an HTTP status such as 429/);
    expect((await refused({ status: "99" })).code).toBe("BAD_REQUEST");
    expect((await refused({ traceId: "4BF92F3577B34DA6A3CE929D0E0E4736" })).fieldErrors.traceId?.[0]).toMatch(/32 lowercase hexadecimal digits/);
  });

  it("reads a page along the Trace indexes, never with a sequential scan or a sort of the whole table", async () => {
    const orgs = [a.org.id, b.org.id, "bulk-org-1", "bulk-org-2"];
    const bulkPrefix = "bulkplan";
    // 20,000 lean rows over 30 days and four organisations, so that the planner's choice means something.
    await db.$executeRaw`
      INSERT INTO "Trace" ("spanId", "startedAt", "traceId", "orgId", "requestId", "recordId", "apiKeyId", "deploymentId", "endpoint", "status",
                           "durationMs", "tokensIn", "tokensOut", "costMicroEur", "record")
      SELECT lpad(to_hex(g), 16, '0'), now() - (g * interval '130 seconds'), md5(g::text), (${orgs}::text[])[1 + g % 4], ${bulkPrefix} || g, 'rec' || g,
             CASE WHEN g % 3 = 0 THEN ${a.apiKey.id} ELSE 'other-key' END, CASE WHEN g % 5 = 0 THEN ${a.deployment.id} ELSE 'other-dep' END, '/v1/chat/completions',
             CASE WHEN g % 10 = 0 THEN 502 ELSE 200 END, 10, 1, 1, 0, '{}'::jsonb
      FROM generate_series(1, 20000) AS g`;
    try {
      await db.$executeRawUnsafe(`ANALYZE "Trace"`);
      // Months other tests created stay empty: a sequential scan of an empty partition reads nothing, and the planner may pick one.
      const filled = new Set((await db.$queryRaw<{ part: string }[]>`SELECT DISTINCT tableoid::regclass::text AS part FROM "Trace"`).map((r) => r.part.replaceAll('"', "")));
      const last24h = { from: new Date(Date.now() - 86_400_000), to: new Date(Date.now() + 60_000) };
      // [label, filters, whether the filters leave the rows unbounded (then the index order must serve ORDER BY: no sort)]
      const variants: [string, Omit<TraceFilters, "limit">, boolean][] = [
        ["everything", {}, true],
        ["the console's default period", last24h, false],
        ["a deployment", { deploymentId: a.deployment.id }, true],
        ["a key", { apiKeyId: a.apiKey.id }, true],
        ["errors", { status: "error" }, true],
        ["errors of the period", { status: "error", ...last24h }, false],
        ["one status of a deployment", { status: 502, deploymentId: a.deployment.id, ...last24h }, false],
        ["a trace id", { traceId: a.trace.traceId }, false],
        ["a later page", { cursor: `${Date.now() - 3_600_000}.${"0".repeat(16)}` }, true],
      ];
      for (const [label, filters, unbounded] of variants) {
        const sql = listTracesSql(a.org.id, { ...filters, limit: 50 });
        const [{ "QUERY PLAN": plan }] = await db.$queryRaw<{ "QUERY PLAN": unknown }[]>(Prisma.sql`EXPLAIN (FORMAT JSON) ${sql}`);
        type PlanNode = { "Node Type": string; "Relation Name"?: string; "Index Cond"?: string; Plans?: PlanNode[] };
        const nodes: PlanNode[] = [];
        const walk = (n: PlanNode) => {
          nodes.push(n);
          for (const c of n.Plans ?? []) walk(c);
        };
        walk((plan as { Plan: PlanNode }[])[0].Plan);
        const shape = `${label}: ${nodes.map((n) => n["Node Type"]).join(" > ")}`;
        const types = nodes.map((n) => n["Node Type"]);
        expect(nodes.filter((n) => n["Node Type"] === "Seq Scan" && filled.has(n["Relation Name"] ?? "")).map((n) => n["Relation Name"]), shape).toEqual([]);
        // Every read of the table goes through an index, starting from the organisation.
        const scans = nodes.filter((n) => /Index/.test(n["Node Type"]) && n["Node Type"] !== "Bitmap Heap Scan");
        expect(scans.length, shape).toBeGreaterThan(0);
        for (const scan of scans) expect(scan["Index Cond"], shape).toMatch(/"orgId" =/);
        // An unbounded list is read in index order and stops at the page (an incremental sort breaks same-millisecond ties only).
        if (unbounded) expect(types, shape).not.toContain("Sort");
      }
    } finally {
      await db.$executeRaw`DELETE FROM "Trace" WHERE "requestId" LIKE ${bulkPrefix + "%"}`;
    }
  });
});

describe("one trace", () => {
  it("holds every request of the organisation in the W3C trace, oldest first, with their spans, residency reasons and artifact digest", async () => {
    const traceId = newTraceId();
    const caller = "00f067aa0ba902b7";
    const artifact = { uri: "hf://enclave/tiny-random-llama/model.gguf", sha256: "9f".repeat(32) };
    const first = await createTrace({ orgId: a.org.id, traceId, parentSpanId: caller, startedAt: at(100), apiKey: key(a), deployment: a.deployment, region: a.region, artifact, status: 502 });
    const second = await createTrace({ orgId: a.org.id, traceId, parentSpanId: caller, startedAt: at(300), apiKey: key(a), deployment: a.deployment, region: a.region, artifact, durationMs: 50 });
    // The same trace id in another organisation (a shared upstream program): never shown to A.
    await createTrace({ orgId: b.org.id, traceId, startedAt: at(200), apiKey: key(b), deployment: b.deployment });

    const trace = await viewer.traces.get({ orgId: a.org.id, traceId });
    expect(trace.traceId).toBe(traceId);
    expect(trace.startedAt).toEqual(at(100));
    expect(trace.durationMs).toBe(250);
    expect(trace.requests.map((r) => r.spanId)).toEqual([first.spanId, second.spanId]);
    const [r] = trace.requests;
    expect(r).toMatchObject({
      traceId,
      parentSpanId: caller,
      sampled: true,
      requestId: first.requestId,
      recordId: first.recordId,
      status: 502,
      errorCode: "upstream_error",
      deployment: { id: a.deployment.id, name: a.deployment.name, deleted: false },
      apiKey: { id: a.apiKey.id, name: "fixture key", deleted: false },
      region: { id: a.region.id, code: a.region.code, name: a.region.name },
      residency: { dataClass: "INTERNAL", verdict: "allowed", policy: "applied", reasons: ["Region jurisdiction FR is allowed for INTERNAL data", "No extraterritorial exposure"] },
      artifact,
      verdicts: [],
      content: null,
    });
    expect(r.spans.map((s) => s.name)).toEqual(["gateway.request", "auth", "residency", "limits", "route", "upstream"]);
    expect(r.spans[0]).toMatchObject({ spanId: first.spanId, parentSpanId: caller, kind: "server", status: "error", startMs: 0, durationMs: first.durationMs });
    for (const s of r.spans.slice(1)) expect(s.parentSpanId).toBe(first.spanId);
    // Timings and attributes as recorded, to the microsecond.
    expect(r.spans).toEqual(first.spans.map((s) => ({ ...s, events: s.events?.map((e) => ({ ...e, attributes: e.attributes ?? {} })) ?? [] })));
    const upstream = r.spans.find((s) => s.name === "upstream")!;
    expect(upstream.events.map((e) => e.name)).toEqual(["connected", "first_token"]);
    expect(upstream.attributes["enclave.upstream.output_tokens_per_second"]).toBe(512.5);
  });

  it("reads a row written before records were compressed (json record, no stream column) like a new one, and a damaged record as no spans", async () => {
    const legacy = await insertTrace({ ...traceRecord({ orgId: a.org.id, startedAt: at(3_000_000), apiKey: key(a), deployment: a.deployment, region: a.region }), stream: true }, { legacy: true });
    const current = await insertTrace({ ...traceRecord({ orgId: a.org.id, startedAt: at(3_000_100), apiKey: key(a), deployment: a.deployment, region: a.region }), stream: true });
    const rows = await db.trace.findMany({ where: { spanId: { in: [legacy.spanId, current.spanId] } }, orderBy: { startedAt: "asc" } });
    expect(rows.map((r) => [r.record !== null, r.recordZlib !== null, r.stream])).toEqual([[true, false, null], [false, true, true]]);
    for (const made of [legacy, current]) {
      const [r] = (await viewer.traces.get({ orgId: a.org.id, traceId: made.traceId })).requests;
      expect(r.spans.map((s) => s.name)).toEqual(made.spans.map((s) => s.name));
      expect(r.stream).toBe(true);
    }
    const listed = await viewer.traces.list({ orgId: a.org.id, from: at(3_000_000).toISOString(), to: at(3_000_200).toISOString() });
    expect(listed.items.map((i) => [i.spanId, i.stream])).toEqual([[current.spanId, true], [legacy.spanId, true]]);
    // Not a zlib stream: the request is still shown, without spans, and nothing fails.
    await db.trace.update({ where: { spanId_startedAt: { spanId: current.spanId, startedAt: at(3_000_100) } }, data: { recordZlib: new Uint8Array(Buffer.from("not zlib")) } });
    const [damaged] = (await viewer.traces.get({ orgId: a.org.id, traceId: current.traceId })).requests;
    expect(damaged).toMatchObject({ spanId: current.spanId, status: 200, spans: [] });
  });

  it("answers another organisation's trace id exactly like one that does not exist, over tRPC and REST", async () => {
    const foreign = await refusal(() => owner.traces.get({ orgId: a.org.id, traceId: b.trace.traceId }));
    const missing = await refusal(() => owner.traces.get({ orgId: a.org.id, traceId: newTraceId() }));
    expect(foreign).toEqual({ message: "Trace was not found", code: "NOT_FOUND", fieldErrors: {} });
    expect(missing).toEqual(foreign);

    const overRest = async (traceId: string) => {
      const answer = await call(server, "GET", `/orgs/${a.org.id}/traces/${traceId}`, { auth: readKey });
      return { status: answer.status, type: answer.body.error?.type, code: answer.body.error?.code, message: answer.body.error?.message };
    };
    const restForeign = await overRest(b.trace.traceId);
    expect(restForeign).toMatchObject({ status: 404, message: "Trace was not found" });
    expect(await overRest(newTraceId())).toEqual(restForeign);
  });

  it("shows span names, attributes and verdicts it does not know as they are (later issues add guardrails and audit proofs)", async () => {
    const r = await createTrace({
      orgId: a.org.id,
      startedAt: at(400),
      apiKey: key(a),
      deployment: a.deployment,
      extraSpans: [
        // A span of a later issue, with an attribute that is not an OpenTelemetry value.
        { name: "guardrail.pii", kind: "internal", startMs: 0.3, durationMs: 0.2, status: "ok", attributes: { "enclave.guardrail.stage": "input", "enclave.guardrail.detail": { types: ["email"] } as never } },
        { name: "audit.append", kind: "weird" as never, startMs: 40, durationMs: 1, status: "ok", attributes: {} },
      ],
      verdicts: [{ check: "pii", stage: "input", action: "redact", outcome: "redacted", findings: { email: 2, positions: [[3, 20]] }, score: 0.98 }],
    });
    const [request] = (await owner.traces.get({ orgId: a.org.id, traceId: r.traceId })).requests;
    const pii = request.spans.find((s) => s.name === "guardrail.pii")!;
    expect(pii.attributes).toEqual({ "enclave.guardrail.stage": "input", "enclave.guardrail.detail": '{"types":["email"]}' });
    expect(request.spans.find((s) => s.name === "audit.append")).toMatchObject({ kind: "internal", parentSpanId: r.spanId });
    expect(request.verdicts).toEqual([{ check: "pii", stage: "input", action: "redact", outcome: "redacted", reason: null, findings: { email: 2, positions: [[3, 20]] }, score: 0.98 }]);
  });

  it("returns the prompt and completion only when they were stored, only to admins and owners, and the list says which requests have them", async () => {
    const content = { request: { model: "tiny-demo", messages: [{ role: "user", content: "Bonjour" }] }, completion: "Bonjour !" };
    const withContent = await createTrace({ orgId: a.org.id, startedAt: at(500), apiKey: key(a), deployment: a.deployment, content });
    const without = await createTrace({ orgId: a.org.id, startedAt: at(600), apiKey: key(a), deployment: a.deployment });
    expect((await owner.traces.get({ orgId: a.org.id, traceId: withContent.traceId })).requests[0].content).toEqual(content);
    expect((await owner.traces.get({ orgId: a.org.id, traceId: without.traceId })).requests[0]).toMatchObject({ content: null, contentWithheld: false });
    // Prompts may hold personal data: those below Admin see that content exists, not what it says.
    const asAdmin = (await callerFor(a.admin.user.id).traces.get({ orgId: a.org.id, traceId: withContent.traceId })).requests[0];
    expect(asAdmin).toMatchObject({ content, contentWithheld: false });
    for (const role of [a.member.user.id, a.viewer.user.id]) {
      const seen = (await callerFor(role).traces.get({ orgId: a.org.id, traceId: withContent.traceId })).requests[0];
      expect(seen).toMatchObject({ content: null, contentWithheld: true });
      expect(JSON.stringify(seen)).not.toContain("Bonjour");
    }
    const listed = (await owner.traces.list({ orgId: a.org.id, from: at(500).toISOString(), to: at(700).toISOString(), limit: 10 })).items;
    expect(listed.map((i) => [i.requestId, i.hasContent])).toEqual([
      [without.requestId, false],
      [withContent.requestId, true],
    ]);
  });
});

describe("traces over REST", () => {
  it("lists with filters in the query string and reads a trace, with an API key that has read", async () => {
    const r = await createTrace({ orgId: a.org.id, startedAt: at(700), apiKey: key(a), deployment: a.deployment, status: 503, errorCode: "no_healthy_replica" });
    const qs = new URLSearchParams({ status: "error", deploymentId: a.deployment.id, from: at(700).toISOString(), to: at(701).toISOString(), limit: "5" });
    const list = await call(server, "GET", `/orgs/${a.org.slug}/traces?${qs}`, { auth: readKey });
    expect(list.status, JSON.stringify(list.body)).toBe(200);
    expect(list.body).toEqual({ items: [expect.objectContaining({ traceId: r.traceId, status: 503, errorCode: "no_healthy_replica", startedAt: at(700).toISOString() })], nextCursor: null });

    const one = await call(server, "GET", `/orgs/${a.org.id}/traces/${r.traceId}`, { auth: readKey });
    expect(one.status).toBe(200);
    expect(one.body.requests[0].artifact).toEqual({ uri: "hf://enclave/tiny-random-llama/model.gguf", sha256: "ab".repeat(32) });
    expect(one.body.requests[0].spans.map((s: { name: string }) => s.name)).toContain("upstream");
  });

  it("refuses a trace id that is not 32 lowercase hex digits, and bad filters, with a 400 naming the input", async () => {
    const refused = async (path: string) => {
      const answer = await call(server, "GET", path, { auth: readKey });
      expect(answer.status, JSON.stringify(answer.body)).toBe(400);
      return { param: answer.body.error.param, message: answer.body.error.message };
    };
    const base = `/orgs/${a.org.id}/traces`;
    for (const bad of ["4BF92F3577B34DA6A3CE929D0E0E4736", "4bf92f3577b34da6a3ce929d0e0e473", "zz".repeat(16)]) {
      expect(await refused(`${base}/${bad}`)).toEqual({ param: "traceId", message: expect.stringMatching(/traceId must be 32 lowercase hexadecimal digits/) });
    }
    expect((await refused(`${base}?status=broken`)).param).toBe("status");
    expect((await refused(`${base}?from=2026-13-01`)).param).toBe("from");
    expect((await refused(`${base}?traceId=abc`)).param).toBe("traceId");
    expect((await refused(`${base}?cursor=abc`)).param).toBe("cursor");
  });
});

describe("content capture, per key", () => {
  it("is off unless asked for, is set on creation and changed later, and each change is in the audit trail", async () => {
    const plain = await owner.apiKeys.create({ orgId: a.org.id, name: unique("plain"), scopes: ["inference"] });
    const capturing = await owner.apiKeys.create({ orgId: a.org.id, name: unique("capturing"), scopes: ["inference"], captureContent: true });
    const listed = async (id: string) => (await owner.apiKeys.list({ orgId: a.org.id, limit: 200 })).items.find((k) => k.id === id)!;
    expect((await listed(plain.id)).captureContent).toBe(false);
    expect((await listed(capturing.id)).captureContent).toBe(true);
    expect((await db.apiKey.findUniqueOrThrow({ where: { id: capturing.id } })).captureContent).toBe(true);
    const created = await db.auditEvent.findFirstOrThrow({ where: { orgId: a.org.id, action: "api_key.created", targetId: capturing.id } });
    expect(created.after).toMatchObject({ captureContent: true });

    const updated = await owner.apiKeys.update({ orgId: a.org.id, apiKeyId: capturing.id, captureContent: false });
    expect(updated.captureContent).toBe(false);
    const audit = await db.auditEvent.findFirstOrThrow({ where: { orgId: a.org.id, action: "api_key.updated", targetId: capturing.id }, orderBy: { seq: "desc" } });
    expect(audit.before).toMatchObject({ captureContent: true });
    expect(audit.after).toEqual({ captureContent: false });
    // A change of something else leaves it as it is.
    await owner.apiKeys.update({ orgId: a.org.id, apiKeyId: plain.id, captureContent: true });
    expect((await owner.apiKeys.update({ orgId: a.org.id, apiKeyId: plain.id, rateLimitRpm: 10 })).captureContent).toBe(true);
  });

  it("is refused to a viewer, and a value that is not a boolean is refused by name", async () => {
    expect((await refusal(() => viewer.apiKeys.update({ orgId: a.org.id, apiKeyId: a.apiKey.id, captureContent: true }))).code).toBe("FORBIDDEN");
    const bad = await refusal(() => owner.apiKeys.update({ orgId: a.org.id, apiKeyId: a.apiKey.id, captureContent: "yes" as never }));
    expect(bad.fieldErrors.captureContent?.[0]).toBe("captureContent is true or false");
  });
});
