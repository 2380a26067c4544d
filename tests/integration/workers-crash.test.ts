/**
 * Crash safety with real kills: the workers process is SIGKILLed at random moments while
 * deployments are created, scaled and deleted; after a final restart every deployment converges
 * with no duplicate replica, no lost deletion and no orphaned model-server process.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "@/server/db";
import { isReplicaProcess } from "@/workers/drivers/local";
import { localDeploymentFixture } from "../deployment-fixtures";
import { callerFor, unique } from "../helpers";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
let f: Awaited<ReturnType<typeof localDeploymentFixture>>;
let worker: ChildProcess | null = null;
const workerLog: string[] = [];

function startWorker() {
  worker = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "workers", "index.ts")], {
    cwd: ROOT,
    env: { ...process.env, ENCLAVE_LOCAL_CLUSTER_DIR: f.stateDir, ENCLAVE_RECONCILE_SWEEP_MS: "1000" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  worker.stdout!.on("data", (d) => workerLog.push(String(d)));
  worker.stderr!.on("data", (d) => workerLog.push(String(d)));
}

async function killWorker() {
  if (!worker || worker.exitCode !== null) return;
  const exited = new Promise((r) => worker!.once("exit", r));
  worker.kill("SIGKILL");
  await exited;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  // The workers process reconciles every deployment in the database; earlier test files leave
  // theirs behind (their processes already stopped). Retire them so this cluster holds only ours.
  await db.deployment.updateMany({ where: { phase: { not: "DELETED" } }, data: { phase: "DELETED", desiredState: "DELETED", deletedAt: new Date() } });
  f = await localDeploymentFixture({ quota: 8, capacity: 8 });
});

afterAll(async () => {
  await killWorker();
  for (const s of f.driver.recorded()) await f.driver.delete(s.replicaId);
  rmSync(f.stateDir, { recursive: true, force: true });
});

describe("workers killed with SIGKILL at any moment", () => {
  it("converge after a restart: no duplicate replica, no lost deletion, no orphan", async () => {
    const owner = callerFor(f.tenant.ownerId);
    const orgId = f.tenant.org.id;
    const create = (replicas: number) =>
      owner.deployments.create({ orgId, name: unique("crash"), catalogModelId: f.model.id, regionId: f.region.id, gpuTypeId: f.slot.id, replicas, minReplicas: 1, maxReplicas: 3, dataClassification: "INTERNAL" });

    const a = await create(2);
    const b = await create(1);
    const c = await create(1);
    // Seeded random kill times, so a failure can be replayed.
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const changes = [
      () => owner.deployments.scale({ orgId, deploymentId: b.id, replicas: 2 }),
      () => owner.deployments.delete({ orgId, deploymentId: c.id }),
      () => owner.deployments.update({ orgId, deploymentId: a.id, catalogModelId: f.modelV2.id }),
      () => owner.deployments.scale({ orgId, deploymentId: a.id, replicas: 1 }),
      () => owner.deployments.stop({ orgId, deploymentId: b.id }),
      () => owner.deployments.start({ orgId, deploymentId: b.id }),
    ];
    for (const change of changes) {
      startWorker();
      await sleep(400 + random() * 2500);
      await killWorker();
      await change();
    }
    startWorker();

    const deadline = Date.now() + 150_000;
    let state = "";
    while (Date.now() < deadline) {
      const rows = await db.deployment.findMany({ where: { id: { in: [a.id, b.id, c.id] } }, select: { id: true, phase: true } });
      state = rows.map((r) => `${r.id === a.id ? "a" : r.id === b.id ? "b" : "c"}:${r.phase}`).sort().join(" ");
      if (state === "a:RUNNING b:RUNNING c:DELETED") {
        // Converged means the cluster too: exactly the live replicas' processes (leftovers of an
        // interrupted pass are removed by the next pass or by the orphan collector).
        const live = await db.deploymentReplica.findMany({ where: { deploymentId: { in: [a.id, b.id, c.id] }, state: { not: "gone" } }, select: { id: true } });
        const onCluster = f.driver.recorded().map((s) => s.replicaId).sort();
        if (live.length === 3 && JSON.stringify(onCluster) === JSON.stringify(live.map((r) => r.id).sort())) break;
      }
      await sleep(500);
    }
    expect(state, workerLog.join("").slice(-3000)).toBe("a:RUNNING b:RUNNING c:DELETED");
    await sleep(2500); // a few more sweeps: converged means it stays converged

    const replicas = await db.deploymentReplica.findMany({ where: { deploymentId: { in: [a.id, b.id, c.id] }, state: { not: "gone" } } });
    expect(replicas.filter((r) => r.deploymentId === a.id).map((r) => [r.revision, r.state])).toEqual([[2, "ready"]]);
    expect(replicas.filter((r) => r.deploymentId === b.id).map((r) => r.state)).toEqual(["ready", "ready"]);
    expect(replicas.filter((r) => r.deploymentId === c.id)).toEqual([]);
    // The cluster holds exactly the live replicas: one process each, none for the deleted deployment.
    const onCluster = f.driver.recorded();
    const rows = await db.deploymentReplica.findMany({ where: { id: { in: onCluster.map((s) => s.replicaId) } }, select: { id: true, deploymentId: true, state: true, revision: true, ordinal: true } });
    const explain = JSON.stringify({ onCluster: onCluster.map((s) => [s.replicaId, s.deploymentId === a.id ? "a" : s.deploymentId === b.id ? "b" : "c", s.revision, s.pid]), rows }) + workerLog.join("").slice(-4000);
    expect(onCluster.map((s) => s.replicaId).sort(), explain).toEqual(replicas.map((r) => r.id).sort());
    for (const s of onCluster) expect(isReplicaProcess(s.pid!, s.replicaId)).toBe(true);
    expect(new Set(onCluster.map((s) => s.pid)).size).toBe(onCluster.length);
    // GPUs: a (1 replica) + b (2 replicas), c released.
    expect((await db.quota.findFirstOrThrow({ where: { orgId, regionId: f.region.id } })).allocatedGpus).toBe(3);
  }, 240_000);
});
