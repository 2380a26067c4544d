/**
 * Model servers are not an open side door (issue 9, hardening 8): replicas started by the local and
 * Slurm drivers answer only callers holding their replica's bearer token (HMAC of the installation's
 * replica secret over the deployment and replica ids); `GET /health` stays open and says nothing
 * else, so the drivers' probes still work; the gateway sends each replica its token. No token or
 * secret reaches a state file, a log line, a command line or an error message.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import { createServer, type AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "@/server/db";
import { createGateway, type Gateway } from "@/server/gateway/server";
import { LocalDriver, stopAllLocalReplicas } from "@/workers/drivers/local";
import { modelServerJobScript, SlurmDriver } from "@/workers/drivers/slurm";
import type { ObservedReplica, ReplicaSpec } from "@/workers/drivers/types";
import { REPLICA_SECRET_ENV, REPLICA_TOKEN_ENV, replicaToken, TOKEN_REFUSED } from "@/workers/model-server/replica-auth";
import { startModelServer, type RunningModelServer } from "@/workers/model-server/server";
import { ensureTinyModel, resolveConfinedArtifact, TINY_MODEL_URI } from "@/workers/model-server/tiny-model";
import { createApiKey } from "../deployment-fixtures";
import { notifyRoute, postChat, registerDeployment, waitForModel } from "../gateway-fixtures";
import { createTenant, unique } from "../helpers";

const run = Date.now().toString(36);
const tmp = mkdtempSync(path.join(os.tmpdir(), "enclave-replica-auth-"));
const secret = () => process.env[REPLICA_SECRET_ENV]!;
const started: ChildProcess[] = [];

function spec(suffix: string, deploymentId = `dep-${run}`): ReplicaSpec {
  return {
    replicaId: `${run}-${suffix}`,
    deploymentId,
    servedModelName: "tiny-chat",
    tenant: "acme",
    revision: 1,
    model: { slug: "tiny-random-llama", artifactUri: TINY_MODEL_URI, artifactSha256: "", runtime: "LLAMA_CPP", contextLength: 512 },
    gpu: { type: "CPU-SIM", count: 1 },
  };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function until<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 45_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    last = value;
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  throw new Error(`${what} did not happen in ${timeoutMs} ms (last: ${JSON.stringify(last)})`);
}

const chat = (endpoint: string, headers: Record<string, string> = {}, model = "tiny-chat") =>
  fetch(`${endpoint}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ model, messages: [{ role: "user", content: "hello" }], max_tokens: 4 }),
  });

/** Every way to not hold the replica's token, each of which must be a 401 that reveals nothing. */
async function expectRefusedWithoutItsToken(endpoint: string, replica: { deploymentId: string; replicaId: string }, model = "tiny-chat") {
  const token = replicaToken(replica);
  const otherReplica = replicaToken({ ...replica, replicaId: `${replica.replicaId}-other` });
  const otherDeployment = replicaToken({ ...replica, deploymentId: `${replica.deploymentId}-other` });
  const wrong: Record<string, string>[] = [
    {},
    { authorization: "Bearer wrong" },
    { authorization: `Bearer ${otherReplica}` },
    { authorization: `Bearer ${otherDeployment}` },
    { authorization: token }, // no scheme
    { authorization: `Basic ${Buffer.from(`x:${token}`).toString("base64")}` },
    { authorization: `Bearer ${secret()}` },
  ];
  for (const headers of wrong) {
    const response = await chat(endpoint, headers, model);
    const text = await response.text();
    expect(response.status, JSON.stringify(headers)).toBe(401);
    expect(response.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect(JSON.parse(text).error).toMatchObject({ type: "authentication_error", code: "invalid_replica_token" });
    expect(text).not.toContain(token);
    expect(text).not.toContain(secret());
  }
  // Nothing else either, not even which routes exist or the model's name.
  for (const route of ["/v1/models", `/v1/models/${model}`, "/v1/completions", "/nope"]) {
    const response = await fetch(`${endpoint}${route}`);
    expect(response.status, route).toBe(401);
    expect(await response.text()).not.toContain(model);
  }
  // The open health endpoint says whether it is up, and nothing more.
  const health = await fetch(`${endpoint}/health`);
  expect(health.status).toBe(200);
  expect(await health.json()).toEqual({ status: "ok" });
  // A wrong token is refused there too (how drivers notice a replica started under another secret).
  expect((await fetch(`${endpoint}/health`, { headers: { authorization: `Bearer ${otherReplica}` } })).status).toBe(401);
}

async function expectServedWithItsToken(endpoint: string, replica: { deploymentId: string; replicaId: string }, model = "tiny-chat") {
  const authorization = `Bearer ${replicaToken(replica)}`;
  const response = await chat(endpoint, { authorization }, model);
  expect(response.status).toBe(200);
  expect(((await response.json()) as { usage: { completion_tokens: number } }).usage.completion_tokens).toBeGreaterThan(0);
  expect((await fetch(`${endpoint}/v1/models`, { headers: { authorization } })).status).toBe(200);
}

afterAll(async () => {
  for (const child of started) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
    }
  }
  rmSync(tmp, { recursive: true, force: true });
});

describe("a replica started by the local driver", () => {
  const stateDir = path.join(tmp, "local-cluster");
  const driver = new LocalDriver({ stateDir, portRange: { from: 19900, to: 19999 } });
  const replica = spec("local");
  let ready: ObservedReplica;

  beforeAll(async () => {
    await driver.apply(replica);
    // The driver's health probe still sees it become ready.
    ready = await until(async () => {
      const [observed] = await driver.observe({ deploymentId: replica.deploymentId });
      return observed?.phase === "ready" ? observed : undefined;
    }, "the local replica becoming ready");
  });

  afterAll(async () => {
    await stopAllLocalReplicas(stateDir);
  });

  it("refuses every call without its own token (401) and answers with it", async () => {
    await expectRefusedWithoutItsToken(ready.endpoint!, replica);
    await expectServedWithItsToken(ready.endpoint!, replica);
  });

  it("holds only its own token: not in the state file, the log or the command line, and never the secret", async () => {
    const token = replicaToken(replica);
    const state = readFileSync(path.join(stateDir, `${replica.replicaId}.json`), "utf8");
    const log = readFileSync(path.join(stateDir, `${replica.replicaId}.log`), "utf8");
    const pid = Number(ready.clusterRef);
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    const environ = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
    for (const text of [state, log, cmdline]) {
      expect(text).not.toContain(token);
      expect(text).not.toContain(secret());
    }
    expect(log).toContain('"auth":"replica-token"');
    expect(environ).toContain(`${REPLICA_TOKEN_ENV}=${token}`);
    expect(environ.join("\n")).not.toContain(secret());
  });

  it("is reported failed, not ready, to a worker whose secret has changed, without revealing either secret", async () => {
    const original = secret();
    process.env[REPLICA_SECRET_ENV] = `rotated-${original}`;
    try {
      const [observed] = await driver.observe({ deploymentId: replica.deploymentId });
      expect(observed).toMatchObject({ phase: "failed", message: TOKEN_REFUSED });
      expect(observed!.endpoint).toBeUndefined();
      expect(JSON.stringify(observed)).not.toContain(original);
    } finally {
      process.env[REPLICA_SECRET_ENV] = original;
    }
    const [again] = await driver.observe({ deploymentId: replica.deploymentId });
    expect(again!.phase).toBe("ready");
  });
});

describe("a replica started by the Slurm driver", () => {
  // A fake slurmrestd: it records the submission; the test then runs the job's script with the
  // job's environment exactly as slurmd would, and reports the job RUNNING on this machine.
  const submissions: { job: Record<string, unknown>; script: string }[] = [];
  let running: Record<string, unknown> | null = null;
  let slurmrestd: http.Server;
  let driver: SlurmDriver;
  const replica = spec("slurm");
  const slurmToken = `slurm-jwt-${run}`;

  beforeAll(async () => {
    slurmrestd = http.createServer((req, res) => {
      let body = "";
      req.on("data", (chunk) => (body += chunk));
      req.on("end", () => {
        const send = (value: unknown) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(value));
        if (req.headers["x-slurm-user-token"] !== slurmToken) return res.writeHead(401).end("Authentication failure");
        if (req.method === "POST" && req.url === "/slurm/v0.0.38/job/submit") {
          submissions.push(JSON.parse(body));
          return send({ job_id: 4242, errors: [] });
        }
        if (req.method === "GET" && req.url === "/slurm/v0.0.38/jobs") return send({ jobs: running ? [running] : [], errors: [] });
        if (req.method === "DELETE") return send({ errors: [] });
        res.writeHead(404).end();
      });
    });
    await new Promise<void>((resolve) => slurmrestd.listen(0, "127.0.0.1", resolve));
    const port = await freePort();
    driver = new SlurmDriver({
      restUrl: `http://127.0.0.1:${(slurmrestd.address() as AddressInfo).port}`,
      userName: "enclave",
      token: slurmToken,
      workDir: tmp,
      portRange: { from: port, to: port },
      // As the registry builds it (but on loopback: the "compute node" is this machine).
      modelServer: async (s, p) => modelServerJobScript({ modelPath: await resolveConfinedArtifact(s.model.artifactUri), servedModelName: s.servedModelName, port: p, host: "127.0.0.1" }),
    });
  });

  afterAll(async () => {
    slurmrestd?.closeAllConnections();
    await new Promise((resolve) => slurmrestd?.close(resolve));
  });

  it("puts the replica's token in the job's environment only, and the job's model server requires it", async () => {
    await ensureTinyModel();
    expect(await driver.apply(replica)).toMatchObject({ phase: "pending", clusterRef: "4242" });
    expect(submissions).toHaveLength(1);
    const { job, script } = submissions[0]!;
    const environment = job.environment as Record<string, string>;
    const token = replicaToken(replica);
    expect(environment[REPLICA_TOKEN_ENV]).toBe(token);
    // Not in what `squeue`/`scontrol` show other users (name, comment) nor in the script.
    const { environment: _, ...visible } = job;
    expect(JSON.stringify({ visible, script })).not.toContain(token);
    expect(JSON.stringify(submissions)).not.toContain(secret());

    const child = spawn("bash", ["-c", script], { cwd: tmp, env: environment as NodeJS.ProcessEnv, detached: true, stdio: "ignore" });
    started.push(child);
    const port = Number(JSON.parse(job.comment as string).port);
    running = { job_id: 4242, name: job.name, user_name: "enclave", job_state: "RUNNING", state_reason: "None", comment: job.comment, batch_host: "127.0.0.1", start_time: Math.floor(Date.now() / 1000) };

    // The driver's health probe still sees it become ready.
    const ready = await until(async () => {
      const [observed] = await driver.observe({ deploymentId: replica.deploymentId });
      return observed?.phase === "ready" ? observed : undefined;
    }, "the Slurm replica becoming ready");
    expect(ready.endpoint).toBe(`http://127.0.0.1:${port}`);
    await expectRefusedWithoutItsToken(ready.endpoint!, replica);
    await expectServedWithItsToken(ready.endpoint!, replica);
  });
});

describe("the gateway", () => {
  let server: RunningModelServer;
  let gateway: Gateway;
  const logs: string[] = [];

  afterAll(async () => {
    await gateway?.close();
    await server?.close();
  });

  it("sends each replica its token: calls through the gateway are served, direct ones refused", async () => {
    const tenant = await createTenant("replica-auth");
    const deployment = await registerDeployment(tenant, ["http://127.0.0.1:9"], { name: unique("guarded") });
    const row = await db.deploymentReplica.findFirstOrThrow({ where: { deploymentId: deployment.id } });
    const identity = { deploymentId: deployment.id, replicaId: row.id };
    // The real model server, guarded with this replica's token as a driver would start it.
    server = await startModelServer({ modelPath: (await ensureTinyModel()).path, modelName: deployment.name, authToken: replicaToken(identity), log: (entry) => logs.push(JSON.stringify(entry)) });
    await server.ready;
    await db.deploymentReplica.update({ where: { id: row.id }, data: { endpoint: server.url } });
    await notifyRoute(deployment.id);

    gateway = createGateway({ databaseUrl: process.env.DATABASE_URL!, port: 0, spoolDir: path.join(tmp, "spool"), log: (level, message, fields) => logs.push(JSON.stringify({ level, message, ...fields })) });
    await gateway.listen();
    const { key } = await createApiKey(tenant.org.id, tenant.ownerId);
    await waitForModel(gateway.url, key, deployment.name);

    const through = await postChat(gateway.url, key, deployment.name);
    expect(through.status, through.text).toBe(200);
    expect(through.json.usage).toMatchObject({ completion_tokens: expect.any(Number) });
    const stream = await postChat(gateway.url, key, deployment.name, {}, { stream: true });
    expect(stream.status).toBe(200);
    expect(stream.text).toContain("data: [DONE]");

    await expectRefusedWithoutItsToken(server.url, identity, deployment.name);
    // The caller's API key is not the replica's token either.
    expect((await chat(server.url, { authorization: `Bearer ${key}` }, deployment.name)).status).toBe(401);
    for (const line of logs) {
      expect(line).not.toContain(replicaToken(identity));
      expect(line).not.toContain(secret());
    }
  });
});
