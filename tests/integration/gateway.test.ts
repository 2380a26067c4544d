/**
 * The gateway in front of a real deployment: the tiny model served by real model-server processes
 * (local driver, reconcile loop), called with the official `openai` npm client, unmodified, whose
 * baseURL is the gateway. Errors come in OpenAI's shape; residency policies and organisation status
 * are enforced on every call; a replica killed under traffic does not fail requests.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "@/server/db";
import { createGateway, type Gateway } from "@/server/gateway/server";
import { createApiKey, localDeploymentFixture, reconcileUntil } from "../deployment-fixtures";
import { postChat, waitFor } from "../gateway-fixtures";
import { callerFor, unique } from "../helpers";

let f: Awaited<ReturnType<typeof localDeploymentFixture>>;
let gateway: Gateway;
let spoolRoot: string;
let key: string;
let keyId: string;
let client: OpenAI;
let orgId: string;
let deploymentId: string;
const name = unique("assistant");
const logLines: string[] = [];

beforeAll(async () => {
  f = await localDeploymentFixture({ quota: 3, capacity: 4 });
  orgId = f.tenant.org.id;
  const owner = callerFor(f.tenant.ownerId);
  const d = await owner.deployments.create({
    orgId,
    name,
    catalogModelId: f.model.id,
    regionId: f.region.id,
    gpuTypeId: f.slot.id,
    replicas: 2,
    minReplicas: 1,
    maxReplicas: 3,
    dataClassification: "INTERNAL",
  });
  deploymentId = d.id;
  spoolRoot = mkdtempSync(path.join(os.tmpdir(), "enclave-gateway-engine-"));
  gateway = createGateway({
    databaseUrl: process.env.DATABASE_URL!,
    port: 0,
    spoolDir: path.join(spoolRoot, "gw"),
    log: (level, message, fields) => logLines.push(JSON.stringify({ level, message, ...fields })),
  });
  // Started before the deployment is ready: the reconcile loop's NOTIFY brings the route in.
  await gateway.listen();
  await reconcileUntil(d.id, f.driver, (r, phase) => phase === "RUNNING" && r.status === "converged");
  const created = await createApiKey(orgId, f.tenant.ownerId);
  key = created.key;
  keyId = created.row.id;
  client = new OpenAI({ apiKey: key, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
  await waitFor(() => gateway.state.route(orgId, name)?.replicas.length === 2, 5000);
});

afterAll(async () => {
  await gateway?.close();
  for (const s of f.driver.recorded()) await f.driver.delete(s.replicaId);
  rmSync(f.stateDir, { recursive: true, force: true });
  rmSync(spoolRoot, { recursive: true, force: true });
});

describe("the official openai client against the gateway", () => {
  it("lists the organisation's running deployments as models", async () => {
    const other = await createApiKey(f.tenant.org.id, f.tenant.ownerId, { allowedDeploymentIds: [f.tenant.deployment.id] });
    const models = [];
    for await (const m of client.models.list()) models.push(m);
    expect(models.map((m) => m.id)).toContain(name);
    expect(models.find((m) => m.id === name)).toMatchObject({ object: "model", owned_by: "organization" });
    // The tenant's fixture deployment is not running: not listed.
    expect(models.map((m) => m.id)).not.toContain(f.tenant.deployment.name);
    expect((await client.models.retrieve(name)).id).toBe(name);
    // A key limited to other deployments does not see this one.
    const limited = new OpenAI({ apiKey: other.key, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    expect((await limited.models.list()).data.map((m) => m.id)).not.toContain(name);
  });

  it("answers a chat completion, with usage", async () => {
    const completion = await client.chat.completions.create({ model: name, messages: [{ role: "user", content: "Bonjour" }], max_tokens: 4 });
    expect(completion.object).toBe("chat.completion");
    expect(completion.choices[0].message.role).toBe("assistant");
    expect(completion.usage!.prompt_tokens).toBeGreaterThan(0);
    expect(completion.usage!.completion_tokens).toBeGreaterThan(0);
  });

  it("streams a chat completion and passes the usage chunk through", async () => {
    const stream = await client.chat.completions.create({
      model: name,
      messages: [{ role: "user", content: "Tell me a story" }],
      max_tokens: 8,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.length).toBeGreaterThan(2);
    expect(chunks.every((c) => c.object === "chat.completion.chunk")).toBe(true);
    const usage = chunks.at(-1)!.usage!;
    expect(usage.completion_tokens).toBeGreaterThan(0);
    expect(usage.total_tokens).toBe(usage.prompt_tokens + usage.completion_tokens);
  });

  it("answers a legacy completion", async () => {
    const completion = await client.completions.create({ model: name, prompt: "hello", max_tokens: 4 });
    expect(completion.choices[0].text).toEqual(expect.any(String));
    expect(completion.usage!.completion_tokens).toBeGreaterThan(0);
  });

  it("meters every call in batches: key, deployment, tokens from usage, latency, time to first token", async () => {
    await gateway.spool.drain(5000);
    const before = await db.usageRecord.count({ where: { apiKeyId: keyId } });
    const stream = await client.chat.completions.create({ model: name, messages: [{ role: "user", content: "count" }], max_tokens: 6, stream: true, stream_options: { include_usage: true } });
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) usage = chunk.usage ?? usage;
    await gateway.spool.drain(5000);
    const records = await db.usageRecord.findMany({ where: { apiKeyId: keyId }, orderBy: { createdAt: "asc" } });
    expect(records.length).toBe(before + 1);
    const last = records.at(-1)!;
    expect(last).toMatchObject({ orgId, deploymentId, endpoint: "/v1/chat/completions", status: 200, tokensIn: usage!.prompt_tokens, tokensOut: usage!.completion_tokens, costMicroEur: 0 });
    expect(last.ttftMs).toBeGreaterThan(0);
    expect(last.latencyMs).toBeGreaterThanOrEqual(last.ttftMs!);
    expect((await db.apiKey.findUniqueOrThrow({ where: { id: keyId } })).lastUsedAt).not.toBeNull();
  });
});

describe("refusals, in OpenAI's error shape", () => {
  const shape = async (call: () => Promise<unknown>) => {
    const error = (await call().then(
      () => null,
      (e: unknown) => e,
    )) as InstanceType<typeof OpenAI.APIError> | null;
    expect(error).toBeInstanceOf(OpenAI.APIError);
    return { status: error!.status, error: error!.error as { message: string; type: string; code: string; param: string | null } };
  };
  const chat = (c: OpenAI, model = name, headers?: Record<string, string>) =>
    c.chat.completions.create({ model, messages: [{ role: "user", content: "hi" }], max_tokens: 2 }, { headers });

  it("401 for a missing, malformed or wrong key, never echoing it", async () => {
    const wrongSecret = `${key.slice(0, 17)}${"A".repeat(43)}`;
    for (const apiKey of ["", "sk-not-an-enclave-key", wrongSecret]) {
      const { status, error } = await shape(() => chat(new OpenAI({ apiKey: apiKey || "x", baseURL: `${gateway.url}/v1`, maxRetries: 0 })));
      expect(status).toBe(401);
      expect(error).toMatchObject({ type: "invalid_request_error", code: "invalid_api_key", param: null });
      expect(error.message).not.toContain(apiKey || "x");
    }
    const missing = await fetch(`${gateway.url}/v1/models`);
    expect(missing.status).toBe(401);
    expect(missing.headers.get("x-request-id")).toMatch(/^req_/);
    expect(logLines.join("\n")).not.toContain(key.slice(17));
  });

  it("404 for an unknown model, 403 for a key without the inference scope or not allowed this deployment", async () => {
    expect(await shape(() => chat(client, "no-such-model"))).toMatchObject({ status: 404, error: { code: "model_not_found", param: "model" } });
    const readOnly = await createApiKey(orgId, f.tenant.ownerId, { scopes: ["read"] });
    expect(await shape(() => chat(new OpenAI({ apiKey: readOnly.key, baseURL: `${gateway.url}/v1`, maxRetries: 0 })))).toMatchObject({
      status: 403,
      error: { type: "permission_error", code: "insufficient_scope" },
    });
    const other = await createApiKey(orgId, f.tenant.ownerId, { allowedDeploymentIds: [f.tenant.deployment.id] });
    expect(await shape(() => chat(new OpenAI({ apiKey: other.key, baseURL: `${gateway.url}/v1`, maxRetries: 0 })))).toMatchObject({
      status: 403,
      error: { type: "permission_error", code: "model_not_allowed", param: "model" },
    });
    // Another organisation's deployment of the same name does not exist for this key.
    const strangerOrg = await db.organization.create({ data: { name: "Stranger", slug: unique("stranger") } });
    const stranger = await createApiKey(strangerOrg.id, f.tenant.ownerId);
    expect(await shape(() => chat(new OpenAI({ apiKey: stranger.key, baseURL: `${gateway.url}/v1`, maxRetries: 0 })))).toMatchObject({ status: 404 });
  });

  it("400 for embeddings on a deployment that does not serve them", async () => {
    const { status, error } = await shape(() => client.embeddings.create({ model: name, input: "hello" }));
    expect(status).toBe(400);
    expect(error).toMatchObject({ type: "invalid_request_error", code: "model_not_supported", param: "model" });
  });

  it("403 with the policy's reasons when the residency policy refuses the region", async () => {
    const policy = await db.residencyPolicy.create({
      data: { orgId, dataClassification: "INTERNAL", allowedJurisdictions: ["DE"], requiredCertifications: ["SecNumCloud"] },
    });
    try {
      await waitFor(async () => (await postChat(gateway.url, key, name)).status === 403, 10_000, 50);
      const { status, error } = await shape(() => chat(client));
      expect(status).toBe(403);
      expect(error).toMatchObject({ type: "permission_error", code: "residency_policy_violation" });
      expect(error.message).toContain("jurisdiction FR is not allowed for INTERNAL data");
      expect(error.message).toContain("missing certification SecNumCloud");
      // A PUBLIC request has no policy in its way; a RESTRICTED one exceeds what the deployment was made for.
      expect((await chat(client, name, { "X-Data-Classification": "PUBLIC" })).choices).toHaveLength(1);
      expect(await shape(() => chat(client, name, { "X-Data-Classification": "RESTRICTED" }))).toMatchObject({
        status: 403,
        error: { code: "data_classification_not_allowed" },
      });
      expect(await shape(() => chat(client, name, { "X-Data-Classification": "SECRET" }))).toMatchObject({ status: 400, error: { code: "invalid_data_classification" } });
    } finally {
      await db.residencyPolicy.delete({ where: { id: policy.id } });
    }
    await waitFor(async () => (await postChat(gateway.url, key, name)).status === 200, 10_000, 50);
  });

  it("403 while the organisation is suspended, with the reason", async () => {
    await db.organization.update({ where: { id: orgId }, data: { status: "SUSPENDED", statusReason: "unpaid invoice" } });
    try {
      await waitFor(async () => (await postChat(gateway.url, key, name)).status === 403, 10_000, 50);
      expect(await shape(() => chat(client))).toMatchObject({ status: 403, error: { code: "organization_suspended", message: expect.stringContaining("unpaid invoice") } });
    } finally {
      await db.organization.update({ where: { id: orgId }, data: { status: "ACTIVE", statusReason: null } });
    }
    await waitFor(async () => (await postChat(gateway.url, key, name)).status === 200, 10_000, 50);
  });
});

describe("replica failover", () => {
  it("keeps answering when one of two replicas is killed", async () => {
    const replicas = f.driver.recorded().filter((s) => s.deploymentId === deploymentId && s.pid !== null);
    expect(replicas).toHaveLength(2);
    // Both replicas serve traffic before the kill.
    for (let i = 0; i < 4; i++) expect((await postChat(gateway.url, key, name)).status).toBe(200);
    process.kill(replicas[0].pid!, "SIGKILL");
    await waitFor(() => {
      try {
        process.kill(replicas[0].pid!, 0);
        return false;
      } catch {
        return true;
      }
    }, 5000);
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await postChat(gateway.url, key, name)).status);
    const streamed = await client.chat.completions.create({ model: name, messages: [{ role: "user", content: "hi" }], max_tokens: 3, stream: true });
    let chunks = 0;
    for await (const _ of streamed) chunks++;
    expect(statuses).toEqual(Array(8).fill(200));
    expect(chunks).toBeGreaterThan(0);
  });
});

describe("the gateway's own log", () => {
  it("has no internal error and never a key", () => {
    expect(logLines.filter((l) => l.includes('"level":"error"'))).toEqual([]);
    expect(logLines.join("\n")).not.toContain(key.slice(4));
  });
});
