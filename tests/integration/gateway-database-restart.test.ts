/**
 * A database restart under a running gateway: calls keep being answered from memory while
 * PostgreSQL is down, their usage waits in the spool, and lands once PostgreSQL is back; the LISTEN
 * connection comes back too, so revocation works again. Runs on its own PostgreSQL, which the test
 * stops and starts (the shared test database must stay up for the other files).
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDb } from "@/server/db";
import { usageRecordId } from "@/server/gateway/usage-sql";
import { GATEWAY_CHANNELS, generateApiKey } from "@/server/services/api-key-secrets";
import { migrate } from "@/scripts/lib/database";
import { startEmbeddedPostgres, type EmbeddedDatabase } from "@/scripts/lib/embedded-postgres";
import { postChat, spawnGateway, startFastUpstream, waitFor, type FakeUpstream, type GatewayProcess } from "../gateway-fixtures";

const dataDir = path.resolve(`.data/vitest-gateway-restart-pg-${process.pid}`);
let database: EmbeddedDatabase | null = null;
let url: string;
let port: number;
let spoolRoot: string;
let upstream: FakeUpstream;
let gateway: GatewayProcess;
let key: string;
let keyId: string;
const model = "restart-assistant";

async function start() {
  database = await startEmbeddedPostgres({ dataDir, database: "gateway_restart", persistent: true, port });
  return database.url;
}

beforeAll(async () => {
  rmSync(dataDir, { recursive: true, force: true });
  url = await start();
  port = Number(new URL(url).port);
  await migrate(url);
  upstream = await startFastUpstream(model);
  const db = createDb(url);
  try {
    const user = await db.user.create({ data: { email: "restart@example.test", name: "restart" } });
    const org = await db.organization.create({ data: { name: "Restart", slug: "restart" } });
    const gpu = await db.gpuType.create({ data: { code: "SLOT", name: "slot", vendor: "none", memoryGb: 1 } });
    const region = await db.region.create({
      data: { code: "onprem", name: "On-premises", provider: "tests", country: "FR", city: "Lyon", jurisdiction: "FR", certifications: [], driverKind: "LOCAL", carbonIntensityGco2Kwh: 30 },
    });
    const catalog = await db.catalogModel.create({
      data: { slug: "m", family: "m", name: "m", version: "1", parameterCount: 1n, contextLength: 512, license: "MIT", openWeights: true, openData: true, origin: "tests", artifactUri: "local://m", runtime: "LLAMA_CPP", gpuMemoryGb: 1 },
    });
    await db.deployment.create({
      data: {
        orgId: org.id,
        name: model,
        catalogModelId: catalog.id,
        regionId: region.id,
        gpuTypeId: gpu.id,
        gpusPerReplica: 1,
        dataClassification: "INTERNAL",
        phase: "RUNNING",
        createdById: user.id,
        replicaSet: { create: { ordinal: 0, revision: 1, state: "ready", endpoint: upstream.url } },
      },
    });
    const secret = generateApiKey();
    // A rate limit too: leases fail while PostgreSQL is down, and the gateway enforces it locally.
    const row = await db.apiKey.create({ data: { orgId: org.id, name: "k", prefix: secret.prefix, secretHash: secret.secretHash, scopes: ["inference"], rateLimitRpm: 100_000, createdById: user.id } });
    key = secret.key;
    keyId = row.id;
  } finally {
    await db.$disconnect();
  }
  spoolRoot = mkdtempSync(path.join(os.tmpdir(), "enclave-gateway-restart-"));
  gateway = await spawnGateway({ spoolDir: path.join(spoolRoot, "gw"), env: { DATABASE_URL: url } });
}, 120_000);

afterAll(async () => {
  await gateway?.kill();
  await upstream?.close();
  await database?.stop();
  rmSync(dataDir, { recursive: true, force: true });
  if (spoolRoot) rmSync(spoolRoot, { recursive: true, force: true });
});

async function burst(n: number) {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await postChat(gateway.url, key, model);
    expect(r.status).toBe(200);
    ids.push(r.headers.get("x-request-id")!);
  }
  return ids;
}

describe("a PostgreSQL restart under a running gateway", () => {
  it("keeps answering, and every call's usage reaches the database once it is back", async () => {
    const before = await burst(20);
    await database!.stop();
    database = null;
    // Down: keys, routes and limits come from memory; usage waits in the spool.
    const during = await burst(50);
    url = await start();
    expect(Number(new URL(url).port)).toBe(port);
    const after = await burst(20);

    const db = createDb(url);
    try {
      const all = [...before, ...during, ...after];
      await waitFor(async () => (await db.usageRecord.count({ where: { id: { in: all.map(usageRecordId) } } })) === all.length, 30_000, 250);
      expect(await db.usageRecord.count({ where: { apiKeyId: keyId } })).toBe(all.length);

      // The LISTEN connection is back: a revocation is honoured again.
      await db.$transaction(async (tx) => {
        await tx.$executeRaw`UPDATE "ApiKey" SET "revokedAt" = now() WHERE id = ${keyId}`;
        await tx.$executeRaw`SELECT pg_notify(${GATEWAY_CHANNELS.apiKeys}, ${keyId})`;
      });
      await waitFor(async () => (await postChat(gateway.url, key, model)).status === 401, 15_000, 100);
    } finally {
      await db.$disconnect();
    }
    if (process.env.SHOW_GATEWAY_LOG) console.log(gateway.logs.join(""));
    expect(gateway.logs.join("")).toContain("records stay in the spool");
  });
});
