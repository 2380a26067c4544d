/**
 * Artifact verification on real parts: the local driver hashing the file it serves before starting
 * a real model-server process (and refusing a file whose sha256 is not the catalog's, with nothing
 * started or written), the reconcile loop carrying the verdict to the replica row and the
 * deployment's conditions, the digest cache, and the model server's own `--expect-sha256` check
 * (what the Slurm job script runs on a compute node).
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "@/server/db";
import { ARTIFACT_MISMATCH_EXIT, ArtifactDigestCache, ArtifactMismatchError, sha256File } from "@/workers/drivers/artifact";
import { LocalDriver, REPLICA_MARKER } from "@/workers/drivers/local";
import type { ObservedReplica, ReplicaSpec } from "@/workers/drivers/types";
import { modelServerCommand } from "@/workers/model-server/command";
import { ensureTinyModel, TINY_MODEL_SHA256, TINY_MODEL_URI } from "@/workers/model-server/tiny-model";
import { localDeploymentFixture, reconcileUntil } from "../deployment-fixtures";
import { callerFor, unique } from "../helpers";

const tmp = mkdtempSync(path.join(os.tmpdir(), "enclave-artifact-"));
const stateDir = path.join(tmp, "cluster");
const driver = new LocalDriver({ stateDir, portRange: { from: 19900, to: 19999 }, totalGpus: { "CPU-SIM": 8 } });
const run = Date.now().toString(36);
const WRONG = "b".repeat(64);

function spec(suffix: string, sha256: string): ReplicaSpec {
  return {
    replicaId: `${run}-${suffix}`,
    deploymentId: `dep-${run}`,
    servedModelName: "tiny-chat",
    tenant: "acme",
    revision: 1,
    model: { slug: "tiny-random-llama", artifactUri: TINY_MODEL_URI, artifactSha256: sha256, runtime: "LLAMA_CPP", contextLength: 512 },
    gpu: { type: "CPU-SIM", count: 1 },
  };
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

async function waitReady(replicaId: string, using: LocalDriver = driver): Promise<ObservedReplica> {
  const deadline = Date.now() + 60_000;
  let last: ObservedReplica | undefined;
  while (Date.now() < deadline) {
    last = (await using.observe()).find((r) => r.replicaId === replicaId);
    if (last?.phase === "ready") return last;
    if (last?.phase === "failed") break;
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  throw new Error(`${replicaId} did not become ready: ${JSON.stringify(last)}`);
}

afterAll(async () => {
  for (const s of driver.recorded()) await driver.delete(s.replicaId);
  rmSync(tmp, { recursive: true, force: true });
});

describe("the local driver verifies the artifact before starting the replica", () => {
  it("starts a replica whose file matches the catalog's sha256 and reports it verified", async () => {
    const replica = spec("good", TINY_MODEL_SHA256.toUpperCase()); // the catalog's hex case does not matter
    const applied = await driver.apply(replica);
    expect(applied.artifact).toMatchObject({ status: "verified", sha256: TINY_MODEL_SHA256, expectedSha256: TINY_MODEL_SHA256, checkedBy: "local-driver" });
    const ready = await waitReady(replica.replicaId);
    expect(ready.artifact).toMatchObject({ status: "verified", sha256: TINY_MODEL_SHA256 });
    expect(ready.artifact!.checkedAt).toBeInstanceOf(Date);
    // A new driver (a restarted worker) reads the check back from the replica's state file.
    const again = new LocalDriver({ stateDir, portRange: { from: 19900, to: 19999 } });
    expect((await again.observe()).find((r) => r.replicaId === replica.replicaId)?.artifact).toMatchObject({ status: "verified", sha256: TINY_MODEL_SHA256 });
  });

  it("refuses a file whose sha256 differs from the catalog's, with the reason, and starts or writes nothing", async () => {
    const replica = spec("bad", WRONG);
    const before = existsSync(stateDir) ? readdirSync(stateDir).sort() : [];
    const error = await driver.apply(replica).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(ArtifactMismatchError);
    const mismatch = error as ArtifactMismatchError;
    expect(mismatch.message).toBe(`artifact sha256 mismatch: the catalog says ${WRONG}, the file is ${TINY_MODEL_SHA256}`);
    expect(mismatch.retryable).toBe(false);
    expect(mismatch.check).toMatchObject({ status: "mismatch", sha256: TINY_MODEL_SHA256, expectedSha256: WRONG });
    expect(markedProcesses(replica.replicaId)).toEqual([]);
    expect(readdirSync(stateDir).sort()).toEqual(before);
    expect(driver.recorded().map((s) => s.replicaId)).not.toContain(replica.replicaId);
    expect(await driver.observe()).not.toContainEqual(expect.objectContaining({ replicaId: replica.replicaId }));
  });

  it("starts a model the catalog has no digest for, recording the observed digest as unverified", async () => {
    const replica = spec("nodigest", "");
    const applied = await driver.apply(replica);
    expect(applied.artifact).toMatchObject({ status: "unverified", sha256: TINY_MODEL_SHA256, expectedSha256: null, note: "unverified: the catalog has no digest for this model" });
    await driver.delete(replica.replicaId);
  });
});

describe("the digest cache", () => {
  it("hashes a file once per content (path, inode, size, mtime), across instances, and again once it changes", async () => {
    const file = path.join(tmp, "weights.bin");
    writeFileSync(file, Buffer.alloc(3 << 20, 7));
    const cacheFile = path.join(tmp, "digests");
    const cache = new ArtifactDigestCache(cacheFile);
    const first = await cache.digest(file);
    expect(first).toBe(await sha256File(file));
    expect(await cache.digest(file)).toBe(first);
    expect(cache.hashed).toBe(1);

    const restarted = new ArtifactDigestCache(cacheFile);
    expect(await restarted.digest(file)).toBe(first);
    expect(restarted.hashed).toBe(0);

    // Same size, new content, new mtime: hashed again, and the new digest is the new file's.
    writeFileSync(file, Buffer.alloc(3 << 20, 8));
    utimesSync(file, new Date(), new Date(Date.now() + 5_000));
    const second = await restarted.digest(file);
    expect(restarted.hashed).toBe(1);
    expect(second).not.toBe(first);
    expect(second).toBe(await sha256File(file));
  });
});

describe("the reconcile loop records the check on the replica and the deployment", () => {
  let f: Awaited<ReturnType<typeof localDeploymentFixture>>;
  beforeAll(async () => {
    f = await localDeploymentFixture({ quota: 2, capacity: 4 });
  });
  afterAll(async () => {
    for (const s of f.driver.recorded()) await f.driver.delete(s.replicaId);
    rmSync(f.stateDir, { recursive: true, force: true });
  });

  const create = (catalogModelId: string) =>
    callerFor(f.tenant.ownerId).deployments.create({
      orgId: f.tenant.org.id,
      name: unique("evidence"),
      catalogModelId,
      regionId: f.region.id,
      gpuTypeId: f.slot.id,
      replicas: 1,
      minReplicas: 1,
      maxReplicas: 1,
      dataClassification: "INTERNAL",
    });

  it("a matching artifact: RUNNING, and the replica row carries the verified digest and when", async () => {
    const d = await create(f.model.id);
    await reconcileUntil(d.id, f.driver, (_r, phase) => phase === "RUNNING");
    const replica = await db.deploymentReplica.findFirstOrThrow({ where: { deploymentId: d.id, state: "ready" } });
    expect(replica).toMatchObject({ artifactStatus: "verified", artifactSha256: TINY_MODEL_SHA256, artifactExpectedSha256: TINY_MODEL_SHA256, artifactCheckedBy: "local-driver" });
    expect(replica.artifactCheckedAt).toBeInstanceOf(Date);
  });

  it("a catalog digest that is not the file's: the replica fails with the reason, shown in the deployment's conditions", async () => {
    await db.catalogModel.update({ where: { id: f.modelV2.id }, data: { artifactSha256: WRONG } });
    const d = await create(f.modelV2.id);
    await reconcileUntil(d.id, f.driver, (_r, phase) => phase === "FAILED");
    const reason = `artifact sha256 mismatch: the catalog says ${WRONG}, the file is ${TINY_MODEL_SHA256}`;
    const detail = await callerFor(f.tenant.ownerId).deployments.get({ orgId: f.tenant.org.id, deploymentId: d.id });
    expect(detail.conditions).toContainEqual(expect.objectContaining({ type: "ReplicaFailure", status: "True", reason: "ArtifactMismatch", message: reason }));
    expect(detail.events).toContainEqual(expect.objectContaining({ type: "Warning", reason: "ArtifactMismatch", message: reason }));
    const replica = await db.deploymentReplica.findFirstOrThrow({ where: { deploymentId: d.id } });
    expect(replica).toMatchObject({ state: "failed", message: reason, artifactStatus: "mismatch", artifactSha256: TINY_MODEL_SHA256, artifactExpectedSha256: WRONG });
    // Nothing was started for it.
    expect(f.driver.recorded().map((s) => s.replicaId)).not.toContain(replica.id);
    expect(markedProcesses(replica.id)).toEqual([]);
  });
});

describe("the model server's own check (--expect-sha256), as Slurm jobs run it", () => {
  let modelPath: string;
  beforeAll(async () => {
    modelPath = (await ensureTinyModel(path.join(tmp, "models"))).path;
  });

  const freePort = () =>
    new Promise<number>((resolve) => {
      const server = createServer().listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo;
        server.close(() => resolve(port));
      });
    });

  async function runServer(expectSha256: string) {
    const port = await freePort();
    const command = modelServerCommand({ modelPath, servedModelName: "tiny-chat", port, expectSha256 });
    const child = spawn(command.command, command.args, { cwd: command.cwd, env: { PATH: process.env.PATH ?? "", NODE_ENV: "production", ...command.env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (err += d));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    return { child, port, exited, output: () => ({ out, err }) };
  }

  it("exits with status 65 and the reason before loading or listening when the file is not the expected one", async () => {
    const server = await runServer(WRONG);
    const code = await server.exited;
    const { out, err } = server.output();
    expect(code).toBe(ARTIFACT_MISMATCH_EXIT);
    expect(err).toContain(`artifact sha256 mismatch: the catalog says ${WRONG}, the file is ${TINY_MODEL_SHA256}`);
    expect(out).toContain('"event":"artifact_refused"');
    expect(out).not.toContain('"event":"listening"');
  });

  it("serves the file once its digest matches", async () => {
    const server = await runServer(TINY_MODEL_SHA256);
    try {
      const deadline = Date.now() + 60_000;
      let status = 0;
      while (Date.now() < deadline && server.child.exitCode === null) {
        status = await fetch(`http://127.0.0.1:${server.port}/health`).then((r) => r.status, () => 0);
        if (status === 200) break;
        await new Promise((resolve) => setTimeout(resolve, 150));
      }
      expect(status, JSON.stringify(server.output())).toBe(200);
      expect(server.output().out).toContain(`"event":"artifact_verified","sha256":"${TINY_MODEL_SHA256}"`);
    } finally {
      server.child.kill("SIGKILL");
      await server.exited;
    }
  });
});
