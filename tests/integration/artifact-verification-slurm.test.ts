/**
 * Artifact verification on a real single-node Slurm (scripts/slurm/start-local-slurm.sh, as
 * slurm-driver.test.ts): the job script's model server is given the catalog's digest
 * (`--expect-sha256`), hashes the file on the compute node before loading it, and exits 65 on a
 * mismatch; the driver reports the replica failed with the reason and the check as evidence.
 * Needs root; fails, never skips, when Slurm cannot start. Kept short: one job, a few seconds.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SlurmDriver, modelServerJobScript } from "@/workers/drivers/slurm";
import type { ObservedReplica, ReplicaSpec } from "@/workers/drivers/types";
import { resolveModelArtifact, TINY_MODEL_SHA256, TINY_MODEL_URI } from "@/workers/model-server/tiny-model";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const SLURM_DIR = process.env.ENCLAVE_SLURM_DIR ?? "/tmp/enclave-slurm";
const run = Date.now().toString(36);
const WRONG = "a".repeat(64);
let driver: SlurmDriver;
let wasRunning = false;
const replicaId = `${run}-sha`;

async function restAnswers(): Promise<boolean> {
  try {
    const env = readFileSync(path.join(SLURM_DIR, "env.sh"), "utf8");
    const url = /^export SLURM_REST_URL=(.*)$/m.exec(env)?.[1];
    if (!url) return false;
    await fetch(url, { signal: AbortSignal.timeout(1000) });
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error("This test starts a real Slurm (scripts/slurm/start-local-slurm.sh) and must run as root.");
  wasRunning = await restAnswers();
  try {
    await promisify(execFile)("bash", [path.join(ROOT, "scripts", "slurm", "start-local-slurm.sh"), SLURM_DIR], { timeout: 900_000, maxBuffer: 16 << 20 });
  } catch (error) {
    const { stderr, message } = error as { stderr?: string; message: string };
    throw new Error(`Could not start the local Slurm cluster in ${SLURM_DIR}:\n${stderr?.trim() || message}`);
  }
  const env: Record<string, string> = {};
  for (const line of readFileSync(path.join(SLURM_DIR, "env.sh"), "utf8").split("\n")) {
    const match = /^export (\w+)=(.*)$/.exec(line);
    if (match) env[match[1]!] = match[2]!;
  }
  driver = new SlurmDriver({
    restUrl: env.SLURM_REST_URL!,
    apiVersion: env.SLURM_REST_API_VERSION,
    userName: env.SLURM_USER_NAME!,
    token: env.SLURM_JWT,
    partition: "debug",
    workDir: env.SLURM_JOB_DIR!,
    jobTimeLimitMinutes: 5,
    // What registry.ts builds: the catalog's digest goes to the model server on the node.
    modelServer: async (spec, port) =>
      modelServerJobScript({ modelPath: await resolveModelArtifact(spec.model.artifactUri), servedModelName: spec.servedModelName, port, host: "127.0.0.1", expectSha256: spec.model.artifactSha256 }),
  });
}, 900_000);

afterAll(async () => {
  await driver?.delete(replicaId).catch(() => undefined);
  if (!wasRunning && process.env.ENCLAVE_SLURM_KEEP !== "1") {
    await promisify(execFile)("bash", [path.join(ROOT, "scripts", "slurm", "stop-local-slurm.sh"), SLURM_DIR], { timeout: 60_000 }).catch((error: Error) => console.error(error.message));
  }
}, 90_000);

describe("slurm: the model server verifies the artifact on the compute node", () => {
  it("a job whose file is not the catalog's ends failed, with the reason and the check as evidence", async () => {
    const spec: ReplicaSpec = {
      replicaId,
      deploymentId: `dep-${run}`,
      servedModelName: "tiny-chat",
      tenant: "acme",
      revision: 1,
      model: { slug: "tiny-random-llama", artifactUri: TINY_MODEL_URI, artifactSha256: WRONG, runtime: "LLAMA_CPP", contextLength: 512 },
      gpu: { type: "H100-80GB", count: 1 },
    };
    await driver.apply(spec);
    const deadline = Date.now() + 90_000;
    let last: ObservedReplica | undefined;
    while (Date.now() < deadline) {
      last = (await driver.observe({ deploymentId: spec.deploymentId })).find((r) => r.replicaId === replicaId);
      if (last?.phase === "failed" || last?.phase === "ready") break;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    expect(last?.phase, JSON.stringify(last)).toBe("failed");
    expect(last!.message).toMatch(new RegExp(`^artifact sha256 mismatch: the catalog says ${WRONG}, the file on the cluster differs .*exit code 65`));
    expect(last!.artifact).toMatchObject({ status: "mismatch", expectedSha256: WRONG, checkedBy: "model-server" });
    // The job's own log has both digests, as the model server wrote them.
    const jobId = last!.clusterRef;
    const env = readFileSync(path.join(SLURM_DIR, "env.sh"), "utf8");
    const jobDir = /^export SLURM_JOB_DIR=(.*)$/m.exec(env)![1]!;
    const log = readFileSync(path.join(jobDir, `enclave-${replicaId}-${jobId}.err`), "utf8");
    expect(log).toContain(`artifact sha256 mismatch: the catalog says ${WRONG}, the file is ${TINY_MODEL_SHA256}`);
  }, 120_000);
});
