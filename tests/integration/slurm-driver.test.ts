/**
 * The slurm driver against a real single-node Slurm 22.05 (slurmctld + slurmd + slurmrestd v0.0.38)
 * started by scripts/slurm/start-local-slurm.sh, running the real model server as the batch job.
 * Needs root (slurmd starts jobs as user `slurmjob`); fails, never skips, when Slurm cannot start.
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mintSlurmToken, modelServerJobScript, renewingSlurmToken, SlurmDriver, type SlurmDriverOptions, type SlurmJobScript } from "@/workers/drivers/slurm";
import { DriverError, type ObservedReplica, type ReplicaPhase, type ReplicaSpec } from "@/workers/drivers/types";
import { replicaAuthorization } from "@/workers/model-server/replica-auth";
import { resolveModelArtifact, TINY_MODEL_URI } from "@/workers/model-server/tiny-model";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const SLURM_DIR = process.env.ENCLAVE_SLURM_DIR ?? "/tmp/enclave-slurm";
const MODEL_SERVER_MAIN = path.join(ROOT, "workers", "model-server", "main.ts");
const run = Date.now().toString(36);
const deploymentId = `dep-${run}`;
const submitted = new Set<string>();
const timings: Record<string, number> = {};

let env: Record<string, string> = {};
let options: SlurmDriverOptions;
let driver: SlurmDriver;

function spec(suffix: string, overrides: Partial<ReplicaSpec> = {}): ReplicaSpec {
  const replicaId = `${run}-${suffix}`;
  submitted.add(replicaId);
  return {
    replicaId,
    deploymentId,
    servedModelName: "tiny-chat",
    tenant: "acme",
    revision: 3,
    model: { slug: "tiny-random-llama", artifactUri: TINY_MODEL_URI, artifactSha256: "", runtime: "LLAMA_CPP", contextLength: 512 },
    gpu: { type: "H100-80GB", count: 1 },
    ...overrides,
  };
}

/** The real model server; a file:// path is taken as is, since it names a file on the cluster. */
async function modelServer(replica: ReplicaSpec, port: number): Promise<SlurmJobScript> {
  const uri = replica.model.artifactUri;
  const modelPath = uri.startsWith("file://") ? fileURLToPath(uri) : await resolveModelArtifact(uri);
  // The single node is this machine, and Slurm names it "localhost": loopback is enough.
  return modelServerJobScript({ modelPath, servedModelName: replica.servedModelName, port, host: "127.0.0.1" });
}

/** Raw REST call, to check what the driver did from Slurm's side. */
async function slurmJobsNamed(name: string): Promise<{ job_id: number; job_state: string }[]> {
  const response = await fetch(`${env.SLURM_REST_URL}/slurm/${env.SLURM_REST_API_VERSION}/jobs`, {
    headers: { "X-SLURM-USER-NAME": env.SLURM_USER_NAME!, "X-SLURM-USER-TOKEN": env.SLURM_JWT! },
  });
  const body = (await response.json()) as { jobs: { job_id: number; job_state: string; name: string }[] };
  return body.jobs.filter((job) => job.name === name);
}

async function observeOne(replicaId: string, using = driver): Promise<ObservedReplica | undefined> {
  return (await using.observe({ deploymentId })).find((replica) => replica.replicaId === replicaId);
}

/** Polls observe until the replica reaches `phase`, recording when each phase was first seen. */
async function waitForPhase(replicaId: string, phase: ReplicaPhase, timeoutMs: number, seen: Partial<Record<ReplicaPhase, number>> = {}) {
  const deadline = Date.now() + timeoutMs;
  let last: ObservedReplica | undefined;
  while (Date.now() < deadline) {
    last = await observeOne(replicaId);
    if (last) seen[last.phase] ??= Date.now();
    if (last?.phase === phase) return last;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`replica ${replicaId} did not become ${phase} within ${timeoutMs} ms; last seen: ${JSON.stringify(last)}`);
}

async function portAnswers(endpoint: string): Promise<boolean> {
  try {
    await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1000) });
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  if (process.getuid?.() !== 0) {
    throw new Error("The Slurm driver test starts a real Slurm (scripts/slurm/start-local-slurm.sh) and must run as root.");
  }
  if (!existsSync(MODEL_SERVER_MAIN)) throw new Error(`The model server ${MODEL_SERVER_MAIN} is missing; the Slurm jobs run it.`);
  const started = Date.now();
  try {
    await promisify(execFile)("bash", [path.join(ROOT, "scripts", "slurm", "start-local-slurm.sh"), SLURM_DIR], { timeout: 900_000, maxBuffer: 16 << 20 });
  } catch (error) {
    const { stderr, message } = error as { stderr?: string; message: string };
    throw new Error(`Could not start the local Slurm cluster in ${SLURM_DIR}:\n${stderr?.trim() || message}`);
  }
  timings.clusterStartMs = Date.now() - started;
  try {
    // Jobs run as `slurmjob`: a checkout under a private directory (e.g. /root) cannot work.
    await promisify(execFile)("runuser", ["-u", "slurmjob", "--", "test", "-r", MODEL_SERVER_MAIN]);
  } catch {
    throw new Error(`The Slurm job user "slurmjob" cannot read ${MODEL_SERVER_MAIN}: the checkout and its parent directories must be world-readable (o+rx).`);
  }
  for (const line of readFileSync(path.join(SLURM_DIR, "env.sh"), "utf8").split("\n")) {
    const match = /^export (\w+)=(.*)$/.exec(line);
    if (match) env[match[1]!] = match[2]!;
  }
  options = {
    restUrl: env.SLURM_REST_URL!,
    apiVersion: env.SLURM_REST_API_VERSION,
    userName: env.SLURM_USER_NAME!,
    token: env.SLURM_JWT,
    partition: "debug",
    workDir: env.SLURM_JOB_DIR!,
    jobTimeLimitMinutes: 30,
    modelServer,
  };
  driver = new SlurmDriver(options);
  // Replicas left by an interrupted earlier run would hold the fake GPUs.
  for (const replica of await driver.observe()) await driver.delete(replica.replicaId);
}, 900_000);

afterAll(async () => {
  if (driver) for (const replicaId of submitted) await driver.delete(replicaId).catch(() => undefined);
  console.log(`[slurm-driver] timings (ms): ${JSON.stringify(timings)}`);
  if (process.env.ENCLAVE_SLURM_KEEP !== "1" && existsSync(path.join(SLURM_DIR, "run"))) {
    await promisify(execFile)("bash", [path.join(ROOT, "scripts", "slurm", "stop-local-slurm.sh"), SLURM_DIR], { timeout: 60_000 }).catch((error: Error) => console.error(error.message));
  }
}, 90_000);

describe("slurm driver (real Slurm 22.05 + slurmrestd v0.0.38, real model server as the job)", () => {
  it("reports the node's GPUs from GET /nodes, in Enclave codes when a mapping is given", async () => {
    await expect.poll(() => driver.capacity(), { timeout: 15_000 }).toEqual([{ gpuType: "h100", total: 2, free: 2 }]);
    const mapped = new SlurmDriver({ ...options, gpuTypes: { "H100-80GB": "h100" } });
    expect(await mapped.capacity()).toEqual([{ gpuType: "H100-80GB", total: 2, free: 2 }]);
  });

  it("runs a replica as one batch job with its GPUs as GRES, observed pending/starting then ready, serving chat completions", async () => {
    const replica = spec("a");
    const submittedAt = Date.now();
    const first = await driver.apply(replica);
    expect(first).toMatchObject({ replicaId: replica.replicaId, deploymentId, revision: 3, phase: "pending" });
    expect(first.clusterRef).toMatch(/^\d+$/);

    const seen: Partial<Record<ReplicaPhase, number>> = {};
    const ready = await waitForPhase(replica.replicaId, "ready", 90_000, seen);
    timings.submitToRunningMs = (seen.starting ?? seen.ready!) - submittedAt;
    timings.submitToReadyMs = seen.ready! - submittedAt;
    expect(ready).toMatchObject({ clusterRef: first.clusterRef, phase: "ready" });
    expect(ready.endpoint).toMatch(/^http:\/\/localhost:\d+$/);
    expect(ready.startedAt).toBeInstanceOf(Date);

    const [job] = await slurmJobsNamed(`enclave-${replica.replicaId}`);
    const detail = await fetch(`${env.SLURM_REST_URL}/slurm/${env.SLURM_REST_API_VERSION}/job/${job!.job_id}`, {
      headers: { "X-SLURM-USER-NAME": env.SLURM_USER_NAME!, "X-SLURM-USER-TOKEN": env.SLURM_JWT! },
    });
    const slurmJob = ((await detail.json()) as { jobs: Record<string, unknown>[] }).jobs[0]!;
    expect(slurmJob.tres_per_node).toBe("gres:gpu:h100:1");
    expect(slurmJob.gres_detail).toEqual(["gpu:h100:1(IDX:0)"]);
    expect(JSON.parse(slurmJob.comment as string)).toEqual({ replicaId: replica.replicaId, deploymentId, revision: 3, port: Number(new URL(ready.endpoint!).port) });

    const started = Date.now();
    const completion = await fetch(`${ready.endpoint}/v1/chat/completions`, {
      method: "POST",
      headers: { "Content-Type": "application/json", authorization: replicaAuthorization(deploymentId, replica.replicaId) },
      body: JSON.stringify({ model: "tiny-chat", messages: [{ role: "user", content: "hello" }], max_tokens: 8 }),
    });
    timings.firstCompletionMs = Date.now() - started;
    expect(completion.status).toBe(200);
    const body = (await completion.json()) as { object: string; choices: { message: { role: string; content: string } }[] };
    expect(body.object).toBe("chat.completion");
    expect(body.choices[0]!.message.role).toBe("assistant");

    expect(await driver.capacity()).toEqual([{ gpuType: "h100", total: 2, free: 1 }]);
  }, 120_000);

  it("does not submit a second job when the replica is applied again", async () => {
    const replica = spec("a");
    const before = await observeOne(replica.replicaId);
    const again = await driver.apply(replica);
    expect(again).toMatchObject({ clusterRef: before!.clusterRef, phase: "ready", endpoint: before!.endpoint });
    expect(await slurmJobsNamed(`enclave-${replica.replicaId}`)).toHaveLength(1);
  });

  it("lets a restarted worker find the replica and its endpoint again (port kept in the job comment)", async () => {
    const restarted = new SlurmDriver({ ...options });
    const replica = await observeOne(`${run}-a`, restarted);
    const known = await observeOne(`${run}-a`);
    expect(replica).toMatchObject({ phase: "ready", clusterRef: known!.clusterRef, endpoint: known!.endpoint, deploymentId, revision: 3 });
    expect((await fetch(`${replica!.endpoint}/health`)).status).toBe(200);
  });

  it("keeps a replica that does not fit right now pending, with Slurm's reason", async () => {
    const replica = spec("queued", { gpu: { type: "H100-80GB", count: 2 } });
    const queued = await driver.apply(replica);
    expect(queued.phase).toBe("pending");
    // The scheduler sets the reason on its next pass (state_reason "None" until then).
    await expect.poll(() => observeOne(replica.replicaId), { timeout: 15_000 }).toMatchObject({
      phase: "pending",
      clusterRef: queued.clusterRef,
      message: expect.stringMatching(/^Slurm job \d+ pending: Resources$/),
    });
    await driver.delete(replica.replicaId);
    await expect.poll(() => observeOne(replica.replicaId), { timeout: 15_000 }).toMatchObject({ phase: "stopped", message: expect.stringContaining("CANCELLED") });
  }, 40_000);

  it("refuses 3 GPUs on a 2-GPU cluster with Slurm's own words, not retryable", async () => {
    const error = await driver.apply(spec("big", { gpu: { type: "H100-80GB", count: 3 } })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DriverError);
    expect(error).toMatchObject({ retryable: false, message: expect.stringContaining("Requested node configuration is not available") });
    expect((error as Error).message).not.toContain(env.SLURM_JWT!);
  });

  it("observes a job that exits with an error as failed, with its exit code", async () => {
    const replica = spec("bad", { model: { ...spec("a").model, artifactUri: "file:///nonexistent/enclave/model.gguf" } });
    await driver.apply(replica);
    const failed = await waitForPhase(replica.replicaId, "failed", 60_000);
    expect(failed.message).toMatch(/^Slurm job \d+ FAILED \(exit code [1-9]\d*/);
    expect(failed.endpoint).toBeUndefined();
  }, 70_000);

  it("deletes a replica: the job is cancelled, observed stopped, and its port closes", async () => {
    const replicaId = `${run}-a`;
    const { endpoint } = (await observeOne(replicaId))!;
    const started = Date.now();
    await driver.delete(replicaId);
    // Slurm shows the job COMPLETING for a moment, then CANCELLED.
    await expect.poll(() => observeOne(replicaId), { timeout: 20_000 }).toMatchObject({ phase: "stopped", message: expect.stringMatching(/^Slurm job \d+ CANCELLED/) });
    await expect.poll(() => portAnswers(endpoint!), { timeout: 15_000 }).toBe(false);
    timings.deleteToPortClosedMs = Date.now() - started;
    await expect.poll(() => driver.capacity(), { timeout: 15_000 }).toEqual([{ gpuType: "h100", total: 2, free: 2 }]);

    await driver.delete(replicaId);
    await driver.delete(`${run}-never-existed`);
  }, 60_000);

  it("works with a token minted from the cluster's HS256 key, and keeps tokens out of errors", async () => {
    const keyFile = path.join(SLURM_DIR, "jwt", "jwt_hs256.key");
    const token = await mintSlurmToken({ keyFile, userName: env.SLURM_USER_NAME!, lifespanSeconds: 300 });
    const [, payload] = token.split(".");
    expect(Object.keys(JSON.parse(Buffer.from(payload!, "base64url").toString())).sort()).toEqual(["exp", "iat", "sun"]);
    expect(await new SlurmDriver({ ...options, token }).capacity()).toEqual([{ gpuType: "h100", total: 2, free: 2 }]);
    const renewing = new SlurmDriver({ ...options, token: undefined, tokenProvider: renewingSlurmToken({ keyFile, userName: env.SLURM_USER_NAME!, lifespanSeconds: 600 }) });
    expect(await renewing.observe({ deploymentId: "no-such-deployment" })).toEqual([]);

    const forged = "eyJhbGciOiJIUzI1NiJ9.eyJzdW4iOiJzbHVybWpvYiJ9.forged-signature";
    const refused = await new SlurmDriver({ ...options, token: forged }).observe().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(DriverError);
    expect((refused as Error).message).toMatch(/Slurm refused to list the jobs/);
    expect((refused as Error).message).not.toContain(forged);

    const closedPort = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo;
        server.close(() => resolve(port));
      });
    });
    const unreachable = await new SlurmDriver({ ...options, restUrl: `http://127.0.0.1:${closedPort}` }).capacity().catch((e: unknown) => e);
    expect(unreachable).toMatchObject({ retryable: true, message: expect.stringContaining("ECONNREFUSED") });
    expect((unreachable as Error).message).not.toContain(env.SLURM_JWT!);
  });
});
