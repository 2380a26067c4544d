/**
 * The `local` cluster driver with real detached model-server processes: apply, observe, chat
 * through the endpoint, idempotency, a restarted (and a SIGKILLed) worker finding its replicas
 * again, delete, and a crashed replica reported as failed.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { isReplicaProcess, LocalDriver, REPLICA_MARKER, stopAllLocalReplicas } from "@/workers/drivers/local";
import { DriverError, type ObservedReplica, type ReplicaPhase, type ReplicaSpec } from "@/workers/drivers/types";
import { replicaAuthorization } from "@/workers/model-server/replica-auth";
import { TINY_MODEL_URI } from "@/workers/model-server/tiny-model";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const stateDir = mkdtempSync(path.join(os.tmpdir(), "enclave-local-cluster-"));
const portRange = { from: 19100, to: 19899 };
const run = Date.now().toString(36);
const deploymentId = `dep-${run}`;
const helpers: ChildProcess[] = [];

function spec(suffix: string, overrides: Partial<ReplicaSpec> = {}): ReplicaSpec {
  return {
    replicaId: `${run}-${suffix}`,
    deploymentId,
    servedModelName: "tiny-chat",
    tenant: "acme",
    revision: 2,
    model: { slug: "tiny-random-llama", artifactUri: TINY_MODEL_URI, artifactSha256: "", runtime: "LLAMA_CPP", contextLength: 512 },
    gpu: { type: "CPU-SIM", count: 1 },
    ...overrides,
  };
}

const newDriver = () => new LocalDriver({ stateDir, portRange, totalGpus: { "CPU-SIM": 8, "H100-80GB": 2 } });
const driver = newDriver();

async function observeOne(replicaId: string, using = driver) {
  return (await using.observe({ deploymentId })).find((r) => r.replicaId === replicaId);
}

async function waitForPhase(replicaId: string, phase: ReplicaPhase, seen: ReplicaPhase[] = [], timeoutMs = 30_000): Promise<ObservedReplica> {
  const deadline = Date.now() + timeoutMs;
  let last: ObservedReplica | undefined;
  while (Date.now() < deadline) {
    last = await observeOne(replicaId);
    if (last && !seen.includes(last.phase)) seen.push(last.phase);
    if (last?.phase === phase) return last;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${replicaId} never became ${phase}; last: ${JSON.stringify(last)}`);
}

/** Pids of every process on this machine carrying the replica's marker. */
function markedProcesses(replicaId: string): number[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes(`${REPLICA_MARKER}${replicaId}`);
      } catch {
        return false;
      }
    })
    .map(Number);
}

const portAccepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
  });

async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

afterAll(async () => {
  for (const helper of helpers) if (helper.exitCode === null && helper.signalCode === null) helper.kill("SIGKILL");
  await stopAllLocalReplicas(stateDir);
  rmSync(stateDir, { recursive: true, force: true });
});

describe("local driver", () => {
  const a = spec("a");

  it("applies a replica that goes starting → ready and answers chat through its endpoint", async () => {
    const applied = await driver.apply(a);
    expect(applied).toMatchObject({ replicaId: a.replicaId, deploymentId, revision: 2, phase: "starting" });
    expect(Number(applied.clusterRef)).toBeGreaterThan(0);
    const state = JSON.parse(readFileSync(path.join(stateDir, `${a.replicaId}.json`), "utf8"));
    expect(state).toMatchObject({ replicaId: a.replicaId, deploymentId, revision: 2, pid: Number(applied.clusterRef), servedModelName: "tiny-chat" });
    expect(state.port).toBeGreaterThanOrEqual(portRange.from);
    expect(state.port).toBeLessThanOrEqual(portRange.to);

    const seen: ReplicaPhase[] = [];
    const ready = await waitForPhase(a.replicaId, "ready", seen);
    expect(seen[0]).toBe("starting");
    expect(ready.endpoint).toBe(`http://127.0.0.1:${state.port}`);
    expect(ready.startedAt).toBeInstanceOf(Date);

    const response = await fetch(`${ready.endpoint}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: replicaAuthorization(deploymentId, a.replicaId) },
      body: JSON.stringify({ model: "tiny-chat", messages: [{ role: "user", content: "hello" }], max_tokens: 6 }),
    });
    expect(response.status).toBe(200);
    const body = await response.json();
    expect(body.usage.completion_tokens).toBeGreaterThan(0);
    expect(readFileSync(path.join(stateDir, `${a.replicaId}.log`), "utf8")).toContain('"event":"ready"');
  });

  it("is idempotent: applying again neither starts a second process nor changes the replica", async () => {
    const before = await observeOne(a.replicaId);
    const again = await driver.apply(a);
    expect(again).toMatchObject({ clusterRef: before!.clusterRef, phase: "ready", endpoint: before!.endpoint });
    expect(markedProcesses(a.replicaId)).toEqual([Number(before!.clusterRef)]);
  });

  it("is found again by a new driver instance (a restarted worker), which counts it against capacity", async () => {
    const restarted = newDriver();
    const found = await observeOne(a.replicaId, restarted);
    expect(found).toMatchObject({ phase: "ready", clusterRef: (await observeOne(a.replicaId))!.clusterRef });
    expect(await restarted.capacity()).toEqual(
      expect.arrayContaining([
        { gpuType: "CPU-SIM", total: 8, free: 7 },
        { gpuType: "H100-80GB", total: 2, free: 2 },
      ]),
    );
    expect(await restarted.observe({ deploymentId: "another-deployment" })).toEqual([]);
  });

  it("keeps replicas running when the worker that started them is SIGKILLed, and reports a crashed one as failed", async () => {
    const b = spec("b");
    // A separate worker process applies the replica, then dies without any chance to clean up.
    const code = `const { LocalDriver } = await import(${JSON.stringify(path.join(ROOT, "workers", "drivers", "local.ts"))});
      const d = new LocalDriver({ stateDir: ${JSON.stringify(stateDir)}, portRange: ${JSON.stringify(portRange)} });
      const o = await d.apply(${JSON.stringify(b)});
      process.stdout.write(JSON.stringify(o) + "\\n");
      setInterval(() => {}, 1000);`;
    const worker = spawn(process.execPath, ["--import", path.join(ROOT, "node_modules", "tsx", "dist", "esm", "index.mjs"), "--input-type=module", "-e", code], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "inherit"],
    });
    helpers.push(worker);
    const line = await new Promise<string>((resolve, reject) => {
      let out = "";
      worker.stdout!.on("data", (d) => {
        out += d;
        if (out.includes("\n")) resolve(out.split("\n")[0]);
      });
      worker.once("exit", (c) => reject(new Error(`worker exited (${c}) before applying: ${out}`)));
    });
    const applied = JSON.parse(line) as ObservedReplica;
    const pid = Number(applied.clusterRef);
    worker.kill("SIGKILL");
    await new Promise((resolve) => worker.once("exit", resolve));

    expect(isReplicaProcess(pid, b.replicaId)).toBe(true);
    const ready = await waitForPhase(b.replicaId, "ready");
    expect(ready.clusterRef).toBe(String(pid));
    expect((await fetch(`${ready.endpoint}/health`)).status).toBe(200);

    // Now the replica itself dies.
    process.kill(pid, "SIGKILL");
    await waitUntil(() => !isReplicaProcess(pid, b.replicaId));
    const failed = await observeOne(b.replicaId);
    expect(failed).toMatchObject({ phase: "failed", clusterRef: String(pid) });
    expect(failed!.endpoint).toBeUndefined();
    expect(failed!.message).toContain(`process ${pid} is not running`);
    expect(failed!.message).toContain('"event":"ready"'); // the log's last lines
    expect((await driver.capacity()).find((c) => c.gpuType === "CPU-SIM")).toEqual({ gpuType: "CPU-SIM", total: 8, free: 7 });

    await driver.delete(b.replicaId);
    expect(existsSync(path.join(stateDir, `${b.replicaId}.json`))).toBe(false);
    expect(existsSync(path.join(stateDir, `${b.replicaId}.log`))).toBe(false);
  });

  it("deletes a replica: process stopped, port closed, files gone; unknown ids are fine", async () => {
    const observed = (await observeOne(a.replicaId))!;
    const pid = Number(observed.clusterRef);
    const port = Number(new URL(observed.endpoint!).port);
    await driver.delete(a.replicaId);
    expect(isReplicaProcess(pid, a.replicaId)).toBe(false);
    expect(markedProcesses(a.replicaId)).toEqual([]);
    expect(await portAccepts(port)).toBe(false);
    expect(await observeOne(a.replicaId)).toBeUndefined();
    expect(readdirSync(stateDir).filter((f) => f.startsWith(a.replicaId))).toEqual([]);
    await driver.delete(a.replicaId);
    await driver.delete(`${run}-never-existed`);
    expect((await driver.capacity()).find((c) => c.gpuType === "CPU-SIM")!.free).toBe(8);
  });

  it("refuses artifacts it cannot fetch and unsafe replica ids, without starting anything", async () => {
    const hub = driver.apply(spec("hub", { model: { ...a.model, artifactUri: "hf://meta-llama/Llama-3-8B" } }));
    await expect(hub).rejects.toBeInstanceOf(DriverError);
    await expect(hub).rejects.toMatchObject({ retryable: false, message: expect.stringContaining("cannot fetch") });
    await expect(driver.apply(spec("x", { replicaId: "../escape" }))).rejects.toBeInstanceOf(DriverError);
    expect(await driver.observe({ deploymentId })).toEqual([]);
  });
});
