/**
 * API keys, the management side: a secret shown once and stored only as a hash, revocation,
 * rotation with a grace period under the same key id, limits, and the notification that makes
 * the gateways drop the key from their cache once the change is committed.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { db } from "@/server/db";
import { logger } from "@/server/logger";
import { API_KEY_PATTERN, apiKeyPrefix, apiKeySecretAccepted, GATEWAY_CHANNELS, hashApiKey } from "@/server/services/api-key-secrets";
import { startOfMonthUtc } from "@/server/services/api-keys";
import { rollUpUsage } from "@/server/services/usage-rollup";
import { verifyAuditChain } from "@/server/services/audit";
import { curlSnippet, exampleModel, pythonSnippet, typescriptSnippet } from "@/components/api-keys/snippets";
import { callerFor, createTenant, databaseDigest, outcome, refusal, unique, type Tenant } from "../helpers";

let a: Tenant;
let b: Tenant;
let owner: ReturnType<typeof callerFor>;
let orgId: string;

beforeAll(async () => {
  a = await createTenant("keys-a");
  b = await createTenant("keys-b");
  owner = callerFor(a.ownerId);
  orgId = a.org.id;
});

const create = (overrides: Record<string, unknown> = {}) => owner.apiKeys.create({ orgId, name: unique("key"), scopes: ["inference"], ...overrides } as never);
const row = (id: string) => db.apiKey.findUniqueOrThrow({ where: { id } });
const listed = async (id: string) => (await owner.apiKeys.list({ orgId })).items.find((k) => k.id === id)!;

/** Rows of every table (all schemas) whose text contains `needle`, as "table: count". */
async function rowsContaining(needle: string): Promise<string[]> {
  const tables = await db.$queryRaw<{ schema: string; name: string }[]>`
    SELECT schemaname AS schema, tablename AS name FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2`;
  const hits: string[] = [];
  for (const { schema, name } of tables) {
    const [{ n }] = await db.$queryRawUnsafe<{ n: bigint }[]>(`SELECT count(*) AS n FROM "${schema}"."${name}" t WHERE strpos(t::text, $1) > 0`, needle);
    if (n > 0n) hits.push(`${schema}.${name}: ${n}`);
  }
  return hits;
}

/** Listens on the gateways' channel; `received` holds every payload delivered so far. */
async function listenForGateways() {
  const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
  const received: string[] = [];
  client.on("notification", (msg) => {
    if (msg.channel === GATEWAY_CHANNELS.apiKeys && msg.payload) received.push(msg.payload);
  });
  await client.connect();
  await client.query(`LISTEN ${GATEWAY_CHANNELS.apiKeys}`);
  return {
    received,
    async waitFor(payload: string) {
      for (let i = 0; i < 100 && !received.includes(payload); i++) await new Promise((r) => setTimeout(r, 20));
      return received.includes(payload);
    },
    // A round trip on the listening connection: anything notified before it has been delivered.
    flush: () => client.query("SELECT 1"),
    end: () => client.end(),
  };
}

describe("creating a key", () => {
  it("returns the secret once and stores only its prefix and SHA-256", async () => {
    const created = await create({ allowedDeploymentIds: [a.deployment.id], rateLimitRpm: 60, rateLimitTpm: 100_000, monthlyBudgetEur: 12.5 });
    expect(created.key).toMatch(API_KEY_PATTERN);
    expect(apiKeyPrefix(created.key)).toBe(created.prefix);

    const stored = await row(created.id);
    expect(stored.secretHash).toBe(hashApiKey(created.key));
    expect(stored).toMatchObject({ orgId, prefix: created.prefix, scopes: ["inference"], allowedDeploymentIds: [a.deployment.id], rateLimitRpm: 60, rateLimitTpm: 100_000, monthlyBudgetCents: 1250, createdById: a.ownerId });

    const secretPart = created.key.split("_").slice(2).join("_");
    expect(await rowsContaining(created.key)).toEqual([]);
    expect(await rowsContaining(secretPart)).toEqual([]);
    // The hash is in the key's row, and in no other table (audit trail included).
    expect(await rowsContaining(stored.secretHash)).toEqual(["public.ApiKey: 1"]);
  });

  it("lists keys with their deployments, limits, budget and this month's spend, and never a hash", async () => {
    const created = await create({ allowedDeploymentIds: [a.deployment.id], monthlyBudgetEur: 5000 });
    const monthStart = startOfMonthUtc();
    // Two requests this month whose sum overflows a 32-bit integer, and one last month that does not count.
    await db.usageRecord.createMany({
      data: [
        { orgId, apiKeyId: created.id, endpoint: "/v1/chat/completions", tokensIn: 1, tokensOut: 1, latencyMs: 1, status: 200, costMicroEur: 2_000_000_000, createdAt: new Date() },
        { orgId, apiKeyId: created.id, endpoint: "/v1/chat/completions", tokensIn: 1, tokensOut: 1, latencyMs: 1, status: 200, costMicroEur: 500_000_000, createdAt: monthStart },
        { orgId, apiKeyId: created.id, endpoint: "/v1/chat/completions", tokensIn: 1, tokensOut: 1, latencyMs: 1, status: 200, costMicroEur: 7_000_000, createdAt: new Date(monthStart.getTime() - 1) },
      ],
    });
    // The list reads the daily roll-ups (server/services/usage.ts).
    await rollUpUsage();
    const list = await owner.apiKeys.list({ orgId });
    const key = list.items.find((k) => k.id === created.id)!;
    expect(key).toMatchObject({
      name: created.name,
      prefix: created.prefix,
      scopes: ["inference"],
      status: "active",
      rotatingUntil: null,
      allowedDeployments: [{ id: a.deployment.id, name: a.deployment.name, deleted: false }],
      monthlyBudgetEur: 5000,
      spendThisMonthEur: 2500,
      lastUsedAt: null,
      createdBy: { name: "keys-a owner" },
    });
    const json = JSON.stringify(list);
    expect(json).not.toMatch(/secretHash|previousSecretHash/);
    for (const k of await db.apiKey.findMany({ where: { orgId, id: created.id } })) expect(json).not.toContain(k.secretHash);
    // B sees none of A's keys.
    expect(JSON.stringify(await callerFor(b.ownerId).apiKeys.list({ orgId: b.org.id }))).not.toContain(created.id);
  });

  it("refuses bad input with a message for the field, and writes nothing", async () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ name: "  " }, "name", /Name the key/],
      [{ scopes: [] }, "scopes", /Choose at least one scope/],
      [{ scopes: ["admin"] }, "scopes", /inference, read or manage/],
      [{ rateLimitRpm: 0 }, "rateLimitRpm", /at least 1 request per minute/],
      [{ rateLimitRpm: 1.5 }, "rateLimitRpm", /whole number of requests per minute/],
      [{ rateLimitRpm: 100_001 }, "rateLimitRpm", /At most 100,000 requests per minute/],
      [{ rateLimitTpm: 100_000_001 }, "rateLimitTpm", /At most 100,000,000 tokens per minute/],
      [{ monthlyBudgetEur: 0 }, "monthlyBudgetEur", /more than €0/],
      [{ monthlyBudgetEur: 1.005 }, "monthlyBudgetEur", /whole cents/],
      [{ monthlyBudgetEur: 2_000_000 }, "monthlyBudgetEur", /At most €1,000,000/],
      [{ expiresAt: new Date(Date.now() - 60_000) }, "expiresAt", /must be in the future/],
    ];
    const before = await databaseDigest();
    for (const [input, field, message] of cases) {
      const refused = await refusal(() => create(input));
      expect(refused.code, JSON.stringify(input)).toBe("BAD_REQUEST");
      expect(refused.fieldErrors[field]?.[0], JSON.stringify(input)).toMatch(message);
    }
    expect(await databaseDigest()).toBe(before);
  });

  it("refuses another tenant's deployment as not found, and a deleted one of its own", async () => {
    const before = await databaseDigest();
    const foreign = await refusal(() => create({ allowedDeploymentIds: [b.deployment.id] }));
    expect(foreign).toMatchObject({ code: "NOT_FOUND", fieldErrors: { allowedDeploymentIds: [expect.stringMatching(/not found/)] } });
    expect(await refusal(() => create({ allowedDeploymentIds: ["no-such-deployment"] }))).toMatchObject({ code: "NOT_FOUND" });
    expect(await databaseDigest()).toBe(before);

    const gone = await db.deployment.create({
      data: { orgId, name: unique("gone"), catalogModelId: a.model.id, regionId: a.region.id, gpuTypeId: a.gpuType.id, gpusPerReplica: 1, dataClassification: "INTERNAL", createdById: a.ownerId, phase: "DELETED", desiredState: "DELETED", deletedAt: new Date() },
    });
    expect(await refusal(() => create({ allowedDeploymentIds: [gone.id] }))).toMatchObject({ code: "BAD_REQUEST", fieldErrors: { allowedDeploymentIds: [expect.stringMatching(/deleted/)] } });
  });

  it("is for admins: a member may list keys but not create, revoke, rotate or update one", async () => {
    const member = callerFor(a.member.user.id);
    const existing = await create();
    expect(await outcome(() => member.apiKeys.list({ orgId }))).toBe("OK");
    expect(await outcome(() => callerFor(a.viewer.user.id).apiKeys.list({ orgId }))).toBe("OK");
    expect(await outcome(() => member.apiKeys.create({ orgId, name: "nope", scopes: ["inference"] }))).toBe("FORBIDDEN");
    expect(await outcome(() => member.apiKeys.revoke({ orgId, apiKeyId: existing.id }))).toBe("FORBIDDEN");
    expect(await outcome(() => member.apiKeys.rotate({ orgId, apiKeyId: existing.id, graceMinutes: 0 }))).toBe("FORBIDDEN");
    expect(await outcome(() => member.apiKeys.update({ orgId, apiKeyId: existing.id, rateLimitRpm: 1 }))).toBe("FORBIDDEN");
    expect(await outcome(() => callerFor(a.admin.user.id).apiKeys.revoke({ orgId, apiKeyId: existing.id }))).toBe("OK");
  });
});

describe("revoking a key", () => {
  it("marks it revoked at once; a second revocation is a conflict, and it can no longer be rotated or changed", async () => {
    const created = await create();
    const revoked = await owner.apiKeys.revoke({ orgId, apiKeyId: created.id });
    expect(revoked.revokedAt).toBeInstanceOf(Date);
    expect((await row(created.id)).revokedAt).toEqual(revoked.revokedAt);
    expect((await listed(created.id)).status).toBe("revoked");

    const before = await databaseDigest();
    expect(await refusal(() => owner.apiKeys.revoke({ orgId, apiKeyId: created.id }))).toMatchObject({ code: "CONFLICT", message: expect.stringMatching(/already revoked/) });
    expect(await outcome(() => owner.apiKeys.rotate({ orgId, apiKeyId: created.id, graceMinutes: 60 }))).toBe("CONFLICT");
    expect(await outcome(() => owner.apiKeys.update({ orgId, apiKeyId: created.id, rateLimitRpm: 10 }))).toBe("CONFLICT");
    expect(await databaseDigest()).toBe(before);
  });
});

describe("rotating a key", () => {
  it("keeps the id and gives a new secret; both secrets work during the grace period, the old one no longer after it", async () => {
    const first = await create({ rateLimitRpm: 30 });
    const rotated = await owner.apiKeys.rotate({ orgId, apiKeyId: first.id, graceMinutes: 60 });
    expect(rotated.id).toBe(first.id);
    expect(rotated.key).toMatch(API_KEY_PATTERN);
    expect(rotated.key).not.toBe(first.key);
    expect(rotated.prefix).not.toBe(first.prefix);
    expect(rotated.previousPrefix).toBe(first.prefix);

    const stored = await row(first.id);
    expect(stored).toMatchObject({ prefix: rotated.prefix, secretHash: hashApiKey(rotated.key), previousPrefix: first.prefix, previousSecretHash: hashApiKey(first.key), rateLimitRpm: 30 });
    const graceEnd = stored.previousSecretExpiresAt!;
    expect(Math.abs(graceEnd.getTime() - (Date.now() + 3_600_000))).toBeLessThan(60_000);

    // The gateway finds the key by either prefix.
    for (const prefix of [first.prefix, rotated.prefix]) {
      expect((await db.apiKey.findFirst({ where: { OR: [{ prefix }, { previousPrefix: prefix }] } }))?.id).toBe(first.id);
    }
    const during = new Date(graceEnd.getTime() - 1000);
    const after = new Date(graceEnd.getTime() + 1);
    expect(apiKeySecretAccepted(rotated.key, stored, during)).toBe(true);
    expect(apiKeySecretAccepted(first.key, stored, during)).toBe(true);
    expect(apiKeySecretAccepted(rotated.key, stored, after)).toBe(true);
    expect(apiKeySecretAccepted(first.key, stored, after)).toBe(false);

    const seen = await listed(first.id);
    expect(seen).toMatchObject({ status: "rotating", rotatingUntil: graceEnd, previousPrefix: first.prefix, prefix: rotated.prefix });
    expect(await rowsContaining(rotated.key)).toEqual([]);
    expect(await rowsContaining(first.key)).toEqual([]);
  });

  it("without a grace period the old secret stops at once; a second rotation ends the first one's grace", async () => {
    const first = await create();
    const second = await owner.apiKeys.rotate({ orgId, apiKeyId: first.id, graceMinutes: 1440 });
    const third = await owner.apiKeys.rotate({ orgId, apiKeyId: first.id, graceMinutes: 1440 });
    let stored = await row(first.id);
    expect(apiKeySecretAccepted(first.key, stored)).toBe(false);
    expect(apiKeySecretAccepted(second.key, stored)).toBe(true);
    expect(apiKeySecretAccepted(third.key, stored)).toBe(true);

    const fourth = await owner.apiKeys.rotate({ orgId, apiKeyId: first.id, graceMinutes: 0 });
    stored = await row(first.id);
    expect(stored).toMatchObject({ previousPrefix: null, previousSecretHash: null, previousSecretExpiresAt: null });
    expect(apiKeySecretAccepted(third.key, stored)).toBe(false);
    expect(apiKeySecretAccepted(fourth.key, stored)).toBe(true);
    expect((await listed(first.id)).status).toBe("active");
  });

  it("refuses a grace period beyond 7 days, and an expired key", async () => {
    const created = await create();
    expect(await refusal(() => owner.apiKeys.rotate({ orgId, apiKeyId: created.id, graceMinutes: 10_081 }))).toMatchObject({ code: "BAD_REQUEST", fieldErrors: { graceMinutes: [expect.stringMatching(/at most 7 days/)] } });
    await db.apiKey.update({ where: { id: created.id }, data: { expiresAt: new Date(Date.now() - 1000) } });
    expect((await listed(created.id)).status).toBe("expired");
    expect(await refusal(() => owner.apiKeys.rotate({ orgId, apiKeyId: created.id, graceMinutes: 0 }))).toMatchObject({ code: "CONFLICT", message: expect.stringMatching(/expired/) });
  });
});

describe("updating a key", () => {
  it("changes limits, clears them with null, and leaves out what is not given", async () => {
    const created = await create({ rateLimitRpm: 10, rateLimitTpm: 1000, monthlyBudgetEur: 20 });
    const expiry = new Date(Date.now() + 7 * 86_400_000);
    const updated = await owner.apiKeys.update({ orgId, apiKeyId: created.id, name: "renamed", rateLimitRpm: 100, monthlyBudgetEur: null, expiresAt: expiry, allowedDeploymentIds: [a.deployment.id] });
    expect(updated).toMatchObject({ name: "renamed", rateLimitRpm: 100, rateLimitTpm: 1000, monthlyBudgetEur: null, expiresAt: expiry, allowedDeploymentIds: [a.deployment.id] });
    expect(await row(created.id)).toMatchObject({ name: "renamed", rateLimitRpm: 100, rateLimitTpm: 1000, monthlyBudgetCents: null, expiresAt: expiry, secretHash: hashApiKey(created.key) });

    const cleared = await owner.apiKeys.update({ orgId, apiKeyId: created.id, rateLimitTpm: null, expiresAt: null, allowedDeploymentIds: [] });
    expect(cleared).toMatchObject({ rateLimitRpm: 100, rateLimitTpm: null, expiresAt: null, allowedDeploymentIds: [] });

    const audit = await db.auditEvent.findFirstOrThrow({ where: { orgId, action: "api_key.updated", targetId: created.id }, orderBy: { seq: "desc" } });
    expect(audit.after).toEqual({ rateLimitTpm: null, expiresAt: null, allowedDeploymentIds: [] });

    // Nothing to change: nothing written.
    const before = await databaseDigest();
    await owner.apiKeys.update({ orgId, apiKeyId: created.id, rateLimitRpm: 100 });
    expect(await databaseDigest()).toBe(before);
  });

  it("refuses a past expiry, another tenant's deployment, and another tenant's key", async () => {
    const created = await create();
    const before = await databaseDigest();
    expect(await refusal(() => owner.apiKeys.update({ orgId, apiKeyId: created.id, expiresAt: new Date(Date.now() - 1) }))).toMatchObject({ code: "BAD_REQUEST", fieldErrors: { expiresAt: [expect.any(String)] } });
    expect(await refusal(() => owner.apiKeys.update({ orgId, apiKeyId: created.id, allowedDeploymentIds: [b.deployment.id] }))).toMatchObject({ code: "NOT_FOUND", fieldErrors: { allowedDeploymentIds: [expect.any(String)] } });
    expect(await refusal(() => owner.apiKeys.update({ orgId, apiKeyId: b.apiKey.id, rateLimitRpm: 5 }))).toMatchObject({ code: "NOT_FOUND", message: "API key was not found" });
    expect(await refusal(() => owner.apiKeys.update({ orgId, apiKeyId: created.id, rateLimitRpm: -1 }))).toMatchObject({ code: "BAD_REQUEST", fieldErrors: { rateLimitRpm: [expect.any(String)] } });
    expect(await databaseDigest()).toBe(before);
  });
});

describe("telling the gateways", () => {
  it("notifies the key's id on commit of every change, and nothing for a refused one", async () => {
    const listener = await listenForGateways();
    try {
      const created = await create();
      expect(await listener.waitFor(created.id)).toBe(true);

      for (const change of [
        () => owner.apiKeys.update({ orgId, apiKeyId: created.id, rateLimitRpm: 7 }),
        () => owner.apiKeys.rotate({ orgId, apiKeyId: created.id, graceMinutes: 60 }),
        () => owner.apiKeys.revoke({ orgId, apiKeyId: created.id }),
      ]) {
        const count = listener.received.length;
        await change();
        for (let i = 0; i < 100 && listener.received.length === count; i++) await new Promise((r) => setTimeout(r, 20));
        expect(listener.received.slice(count)).toEqual([created.id]);
      }

      // Refused inside the transaction (already revoked; a foreign deployment): rolled back, so never delivered.
      const count = listener.received.length;
      expect(await outcome(() => owner.apiKeys.revoke({ orgId, apiKeyId: created.id }))).toBe("CONFLICT");
      expect(await outcome(() => create({ allowedDeploymentIds: [b.deployment.id] }))).toBe("NOT_FOUND");
      await new Promise((r) => setTimeout(r, 200));
      await listener.flush();
      expect(listener.received.length).toBe(count);
    } finally {
      await listener.end();
    }
  });
});

describe("secrets stay secret", () => {
  it("no audit row and no log line produced while creating, rotating and revoking holds a secret or its hash", async () => {
    const writes: string[] = [];
    const capture = (stream: NodeJS.WriteStream) =>
      vi.spyOn(stream, "write").mockImplementation(((chunk: unknown) => {
        writes.push(String(chunk));
        return true;
      }) as never);
    const spies = [capture(process.stdout), capture(process.stderr), ...(["log", "info", "warn", "error", "debug"] as const).map((m) => vi.spyOn(console, m).mockImplementation((...args: unknown[]) => void writes.push(args.map(String).join(" "))))];
    const previousDebug = process.env.ENCLAVE_DEBUG;
    process.env.ENCLAVE_DEBUG = "1";
    let secrets: string[];
    let created: Awaited<ReturnType<typeof create>>;
    let rotated: Awaited<ReturnType<typeof owner.apiKeys.rotate>>;
    try {
      logger.info("api-keys test: log capture is on");
      created = await create({ monthlyBudgetEur: 3 });
      rotated = await owner.apiKeys.rotate({ orgId, apiKeyId: created.id, graceMinutes: 60 });
      await owner.apiKeys.update({ orgId, apiKeyId: created.id, name: "renamed after rotation" });
      await owner.apiKeys.revoke({ orgId, apiKeyId: created.id });
      // A refused call logs nothing secret either.
      await outcome(() => owner.apiKeys.rotate({ orgId, apiKeyId: created.id, graceMinutes: 60 }));
      const stored = await row(created.id);
      secrets = [created.key, rotated.key, ...[created.key, rotated.key].map((k) => k.split("_").slice(2).join("_")), hashApiKey(created.key), stored.secretHash, stored.previousSecretHash!];
    } finally {
      for (const spy of spies) spy.mockRestore();
      if (previousDebug === undefined) delete process.env.ENCLAVE_DEBUG;
      else process.env.ENCLAVE_DEBUG = previousDebug;
    }
    const logged = writes.join("\n");
    expect(logged).toContain("log capture is on");

    const audit = await db.auditEvent.findMany({ where: { orgId } });
    const auditText = JSON.stringify(audit);
    expect(audit.filter((e) => e.action.startsWith("api_key.")).map((e) => e.action)).toEqual(expect.arrayContaining(["api_key.created", "api_key.rotated", "api_key.updated", "api_key.revoked"]));
    for (const secret of secrets) {
      expect(logged).not.toContain(secret);
      expect(auditText).not.toContain(secret);
    }
    // What the trail does say: the key's name, prefixes, scopes and limits.
    const trail = Object.fromEntries(audit.filter((e) => e.targetId === created.id).map((e) => [e.action, e]));
    expect(trail["api_key.created"].after).toMatchObject({ name: created.name, prefix: created.prefix, scopes: ["inference"], monthlyBudgetCents: 300 });
    expect(trail["api_key.rotated"]).toMatchObject({ before: { prefix: created.prefix }, after: { prefix: rotated.prefix, graceMinutes: 60 } });
    expect((await verifyAuditChain(db, orgId)).ok).toBe(true);
  });
});

describe("the gateway's address", () => {
  it("is offered to every member for the snippets shown with a new key", async () => {
    expect(await callerFor(a.viewer.user.id).apiKeys.gatewayUrl({ orgId })).toEqual({ baseUrl: process.env.GATEWAY_PUBLIC_URL?.replace(/\/+$/, "") ?? "http://localhost:8080/v1" });
  });
});

describe("the snippets shown with a new key", () => {
  it("use the gateway's base URL, the key and the first running deployment the key may call", () => {
    const deployments = [
      { id: "d1", name: "starting", phase: "PENDING" },
      { id: "d2", name: "mistral-prod", phase: "RUNNING" },
      { id: "d3", name: "llama-eval", phase: "RUNNING" },
    ];
    expect(exampleModel(deployments, [])).toBe("mistral-prod");
    expect(exampleModel(deployments, ["d1", "d3"])).toBe("llama-eval");
    expect(exampleModel(deployments, ["d1"])).toBe("starting");
    expect(exampleModel([], [])).toBeNull();

    const input = { baseUrl: "https://api.example.eu/v1", key: "enc_0123456789ab_" + "x".repeat(43), model: "mistral-prod" };
    expect(curlSnippet(input)).toContain(`curl $OPENAI_BASE_URL/chat/completions`);
    expect(curlSnippet(input)).toContain(`-H "Authorization: Bearer ${input.key}"`);
    expect(pythonSnippet(input)).toContain(`client = OpenAI(base_url="https://api.example.eu/v1", api_key="${input.key}")`);
    expect(typescriptSnippet(input)).toContain(`new OpenAI({ baseURL: "https://api.example.eu/v1", apiKey: "${input.key}" })`);
    for (const snippet of [curlSnippet(input), pythonSnippet(input), typescriptSnippet(input)]) expect(snippet).toContain("mistral-prod");
  });
});
