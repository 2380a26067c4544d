/**
 * The gateway as it runs in production: several processes (server/gateway/main.ts spawned with
 * `node --import tsx`) sharing one PostgreSQL. Revocation reaches every process within a second,
 * rate limits and budgets hold in total across processes, a stream that breaks upstream ends with
 * an error event, and a gateway SIGKILLed under load loses no usage record.
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "@/server/db";
import { createGateway } from "@/server/gateway/server";
import { usageRecordId } from "@/server/gateway/usage-sql";
import { createApiKey } from "../deployment-fixtures";
import {
  loadUntilStopped,
  postChat,
  registerDeployment,
  revokeKey,
  spawnGateway,
  startBrokenStreamUpstream,
  startFastUpstream,
  waitFor,
  waitForModel,
  type FakeUpstream,
  type GatewayProcess,
} from "../gateway-fixtures";
import { createTenant, type Tenant } from "../helpers";

let spoolRoot: string;
let tenant: Tenant;
let upstream: FakeUpstream;
let deploymentName: string;
let a: GatewayProcess;
let b: GatewayProcess;
const extra: GatewayProcess[] = [];

beforeAll(async () => {
  spoolRoot = mkdtempSync(path.join(os.tmpdir(), "enclave-gateway-spool-"));
  tenant = await createTenant("gateway");
  upstream = await startFastUpstream();
  deploymentName = (await registerDeployment(tenant, [upstream.url])).name;
  [a, b] = await Promise.all([spawnGateway({ spoolDir: path.join(spoolRoot, "a") }), spawnGateway({ spoolDir: path.join(spoolRoot, "b") })]);
});

afterAll(async () => {
  await Promise.all([a, b, ...extra].filter(Boolean).map((g) => g.kill()));
  await upstream?.close();
  rmSync(spoolRoot, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Fixed one-minute windows: start a limit test with enough of the current minute left. */
async function withinOneMinuteWindow(secondsNeeded = 20) {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < secondsNeeded * 1000) await sleep(left + 50);
}

describe("revocation", () => {
  it("is refused by every gateway process within one second of the commit", async () => {
    const { key, row } = await createApiKey(tenant.org.id, tenant.ownerId);
    expect((await postChat(a.url, key, deploymentName)).status).toBe(200);
    expect((await postChat(b.url, key, deploymentName)).status).toBe(200);

    const revokedAt = await revokeKey(row.id);
    const refusedAfter = await Promise.all(
      [a, b].map(async (g) => {
        await waitFor(async () => (await postChat(g.url, key, deploymentName)).status === 401, 2000, 10);
        return Date.now() - revokedAt;
      }),
    );
    for (const ms of refusedAfter) expect(ms).toBeLessThan(1000);

    const refusal = await postChat(a.url, key, deploymentName);
    expect(refusal.json.error).toEqual({ message: expect.stringContaining("revoked"), type: "invalid_request_error", param: null, code: "invalid_api_key" });
    expect(refusal.text).not.toContain(key);
    expect(refusal.text).not.toContain(key.slice(17));
  });
});

describe("a revocation whose NOTIFY never arrives", () => {
  it("is still refused within about a second, found by the gateways' one-query poll", async () => {
    const { key, row } = await createApiKey(tenant.org.id, tenant.ownerId);
    expect((await postChat(a.url, key, deploymentName)).status).toBe(200);
    expect((await postChat(b.url, key, deploymentName)).status).toBe(200);
    await db.$executeRaw`UPDATE "ApiKey" SET "revokedAt" = now() WHERE id = ${row.id}`;
    const revokedAt = Date.now();
    for (const g of [a, b]) await waitFor(async () => (await postChat(g.url, key, deploymentName)).status === 401, 3000, 20);
    expect(Date.now() - revokedAt).toBeLessThan(2500);
  });
});

describe("a rate limit of N requests per minute", () => {
  it("admits exactly N of 3N requests split across two processes", async () => {
    const N = 20;
    const { key } = await createApiKey(tenant.org.id, tenant.ownerId, { rateLimitRpm: N });
    await withinOneMinuteWindow();
    const results = await Promise.all(Array.from({ length: 3 * N }, (_, i) => postChat(i % 2 ? a.url : b.url, key, deploymentName)));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(N);
    expect(statuses.filter((s) => s === 429)).toHaveLength(2 * N);
    const refused = results.find((r) => r.status === 429)!;
    expect(refused.json.error).toMatchObject({ type: "requests", code: "rate_limit_exceeded" });
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    // Both processes served part of the allowance: a global limit, not a per-process one.
    expect(results.filter((r, i) => r.status === 200 && i % 2 === 1).length).toBeGreaterThan(0);
    expect(results.filter((r, i) => r.status === 200 && i % 2 === 0).length).toBeGreaterThan(0);
  });
});

describe("a monthly budget", () => {
  it("refuses on every process once this month's usage has reached it", async () => {
    const spent = await createApiKey(tenant.org.id, tenant.ownerId, { monthlyBudgetCents: 1 });
    const within = await createApiKey(tenant.org.id, tenant.ownerId, { monthlyBudgetCents: 1 });
    const usage = (apiKeyId: string, costMicroEur: number, createdAt = new Date()) => ({
      orgId: tenant.org.id,
      apiKeyId,
      endpoint: "/v1/chat/completions",
      tokensIn: 1,
      tokensOut: 1,
      latencyMs: 1,
      status: 200,
      costMicroEur,
      createdAt,
    });
    const lastMonth = new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), 1) - 1000);
    await db.usageRecord.createMany({
      data: [usage(spent.row.id, 6_000), usage(spent.row.id, 4_000), usage(within.row.id, 5_000), usage(within.row.id, 50_000, lastMonth)],
    });
    for (const g of [a, b]) {
      const refusal = await postChat(g.url, spent.key, deploymentName);
      expect(refusal.status).toBe(429);
      expect(refusal.json.error).toMatchObject({ type: "insufficient_quota", code: "insufficient_quota", message: expect.stringContaining("€0.01") });
      expect(Number(refusal.headers.get("retry-after"))).toBeGreaterThan(0);
      // Last month's spending does not count against this month.
      expect((await postChat(g.url, within.key, deploymentName)).status).toBe(200);
    }
  });

  it("is exhausted by metered traffic at exactly the budget when calls have a price", async () => {
    // 7 tokens in and 3 out at 250 µ€ a token: 2,500 µ€ a call, so a 1-cent budget pays for 4.
    const gateway = createGateway({
      databaseUrl: process.env.DATABASE_URL!,
      port: 0,
      spoolDir: path.join(spoolRoot, "priced"),
      tokenPrice: { inputMicroEurPerMillionTokens: 250_000_000, outputMicroEurPerMillionTokens: 250_000_000 },
      log: () => {},
    });
    await gateway.listen();
    try {
      const { key, row } = await createApiKey(tenant.org.id, tenant.ownerId, { monthlyBudgetCents: 1 });
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) statuses.push((await postChat(gateway.url, key, deploymentName)).status);
      expect(statuses).toEqual([200, 200, 200, 200, 429, 429]);
      await gateway.spool.drain(5000);
      const spent = await db.usageRecord.aggregate({ where: { apiKeyId: row.id }, _sum: { costMicroEur: true }, _count: true });
      expect(spent).toMatchObject({ _count: 4, _sum: { costMicroEur: 10_000 } });
    } finally {
      await gateway.close();
    }
  });
});

describe("a stream that breaks after it started", () => {
  it("ends with an error event, never a clean end", async () => {
    const broken = await startBrokenStreamUpstream();
    try {
      const deployment = await registerDeployment(tenant, [broken.url]);
      const { key, row } = await createApiKey(tenant.org.id, tenant.ownerId);
      for (const g of [a, b]) await waitForModel(g.url, key, deployment.name);
      const res = await fetch(`${a.url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ model: deployment.name, messages: [{ role: "user", content: "Bonjour" }], stream: true }),
      });
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text).toContain('"content":"Bon"');
      expect(text).not.toContain("[DONE]");
      const events = text.split("\n\n").filter(Boolean);
      expect(JSON.parse(events.at(-1)!.replace(/^data: /, ""))).toMatchObject({ error: { type: "server_error", code: "stream_interrupted" } });

      // The official client surfaces it as an error while iterating.
      const client = new OpenAI({ apiKey: key, baseURL: `${b.url}/v1`, maxRetries: 0 });
      const stream = await client.chat.completions.create({ model: deployment.name, messages: [{ role: "user", content: "Bonjour" }], stream: true });
      const received: string[] = [];
      const iterate = async () => {
        for await (const chunk of stream) received.push(chunk.choices[0]?.delta?.content ?? "");
      };
      await expect(iterate()).rejects.toThrow(/closed the stream before it finished/);
      expect(received.join("")).toBe("Bonjour");

      // Metered as a failure, with the tokens it did deliver counted from the deltas.
      await waitFor(async () => (await db.usageRecord.count({ where: { apiKeyId: row.id } })) === 2, 5000);
      const records = await db.usageRecord.findMany({ where: { apiKeyId: row.id } });
      for (const r of records) expect(r).toMatchObject({ status: 502, tokensOut: 2, deploymentId: deployment.id });
    } finally {
      await broken.close();
    }
  });
});

describe("a gateway SIGKILLed under load", () => {
  it("loses no usage record and no trace of a request that got its response: a restarted gateway replays the spool", async () => {
    const { key, row } = await createApiKey(tenant.org.id, tenant.ownerId);
    // Batches every 2 s: the kill lands while answered requests are still only in the spool.
    const victim = await spawnGateway({ spoolDir: path.join(spoolRoot, "victim"), env: { GATEWAY_SPOOL_BATCH_MS: "2000" } });
    extra.push(victim);
    const load = loadUntilStopped(victim.url, key, deploymentName);
    const { answered, answeredSpans } = load;
    await waitFor(() => answered.length >= 300, 20_000, 5);
    await victim.kill();
    await load.stop();
    // Every call got an answer or a closed connection: none was left waiting.
    expect(load.hung).toEqual([]);
    const inDatabase = async () => new Set((await db.usageRecord.findMany({ where: { apiKeyId: row.id }, select: { id: true } })).map((r) => r.id));
    const beforeReplay = await inDatabase();
    const missingBeforeReplay = answered.filter((id) => !beforeReplay.has(usageRecordId(id))).length;
    expect(missingBeforeReplay).toBeGreaterThan(0);
    // The victim's spool is still on disk.
    expect(readdirSync(path.join(spoolRoot, "victim")).some((f) => f.endsWith(".jsonl"))).toBe(true);

    const successor = await spawnGateway({ spoolDir: path.join(spoolRoot, "successor") });
    extra.push(successor);
    await waitFor(async () => {
      const ids = await inDatabase();
      return answered.every((id) => ids.has(usageRecordId(id)));
    }, 20_000, 100);
    const rows = await db.usageRecord.count({ where: { apiKeyId: row.id } });
    expect(rows).toBeGreaterThanOrEqual(answered.length);
    // Only requests cut off by the kill may have a record without a response.
    expect(rows - answered.length).toBeLessThanOrEqual(16);
    // The dead process's directory was claimed and removed once replayed.
    await waitFor(() => !readdirSync(spoolRoot).includes("victim") && !readdirSync(spoolRoot).some((d) => d.startsWith(".replay-")), 5000);
    expect((await db.apiKey.findUniqueOrThrow({ where: { id: row.id } })).lastUsedAt).not.toBeNull();

    // Traces travel in the same spool lines and the same transactions: one per usage record, and
    // every answered request has its own.
    const traces = await db.trace.findMany({ where: { apiKeyId: row.id }, select: { spanId: true, recordId: true, requestId: true, status: true } });
    expect(traces.length).toBe(rows);
    const usageIds = await inDatabase();
    expect(new Set(traces.map((t) => usageRecordId(t.recordId)))).toEqual(usageIds);
    const traced = new Set(traces.map((t) => t.spanId));
    expect(answeredSpans.filter((s) => !traced.has(s))).toEqual([]);
    expect(new Set(traces.map((t) => t.requestId)).size).toBe(traces.length);
  });
});
