/**
 * The kubernetes driver's artifact check, against the FAKE Kubernetes API server (as
 * kubernetes-driver.test.ts; no real cluster runs here): a file:// artifact on the model volume
 * gets an init container that hashes it before the model server starts, and the init container's
 * refusal (exit 65, reason in its termination message) fails the replica with that reason. What
 * the fake cannot prove — that busybox's sha256sum runs in a real pod — is in docs/evidence.md.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { KubeConfig, type V1Deployment } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeKubeApiServer } from "../fakes/fake-kube-api-server";
import { ARTIFACT_MISMATCH_EXIT, sha256File } from "@/workers/drivers/artifact";
import { ARTIFACT_VERIFIER, ARTIFACT_VERIFY_SCRIPT, KubernetesDriver } from "@/workers/drivers/kubernetes";
import type { ReplicaSpec } from "@/workers/drivers/types";

let fake: FakeKubeApiServer;
let driver: KubernetesDriver;
const tmp = mkdtempSync(path.join(os.tmpdir(), "enclave-k8s-artifact-"));
const SHA = "d".repeat(64);

beforeAll(async () => {
  fake = await FakeKubeApiServer.start();
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "fake", server: fake.url, skipTLSVerify: true }],
    users: [{ name: "enclave-driver", token: fake.token }],
    contexts: [{ name: "fake", cluster: "fake", user: "enclave-driver" }],
    currentContext: "fake",
  });
  driver = new KubernetesDriver(kc, { mode: "deployment", modelVolume: { source: { nfs: { server: "nfs.example", path: "/models" } }, mountPath: "/models" } });
});
afterAll(async () => {
  await fake.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const spec = (replicaId: string): ReplicaSpec => ({
  replicaId,
  deploymentId: "cdepk",
  servedModelName: "chat",
  tenant: "acme",
  revision: 1,
  model: { slug: "m", artifactUri: "file:///models/m.gguf", artifactSha256: SHA, runtime: "LLAMA_CPP", contextLength: 512 },
  gpu: { type: "H100-80GB", count: 1 },
});

describe("kubernetes: the catalog's digest is checked by an init container", () => {
  it("adds the verifier to the pod, with the file and the expected digest, and reports its refusal as the replica's failure", async () => {
    const s = spec("crepk1x");
    await driver.apply(s);
    const d = fake.get("deployments", "enclave-acme", `r-${s.replicaId}`) as unknown as V1Deployment;
    const init = d.spec!.template.spec!.initContainers!;
    expect(init).toHaveLength(1);
    expect(init[0]).toMatchObject({
      name: ARTIFACT_VERIFIER,
      env: [
        { name: "ENCLAVE_ARTIFACT_PATH", value: "/models/m.gguf" },
        { name: "ENCLAVE_ARTIFACT_SHA256", value: SHA },
      ],
      volumeMounts: [{ name: "models", mountPath: "/models", readOnly: true }],
    });

    const reason = `artifact sha256 mismatch: the catalog says ${SHA}, the file is ${"e".repeat(64)}`;
    fake.seed("pods", {
      metadata: { name: `r-${s.replicaId}-abc`, namespace: "enclave-acme", labels: d.spec!.template.metadata!.labels! },
      spec: { ...d.spec!.template.spec!, nodeName: "gpu-1" },
      status: {
        phase: "Pending",
        conditions: [{ type: "PodScheduled", status: "True" }],
        initContainerStatuses: [{ name: ARTIFACT_VERIFIER, ready: false, restartCount: 2, image: "busybox", imageID: "", state: { waiting: { reason: "CrashLoopBackOff" } }, lastState: { terminated: { exitCode: ARTIFACT_MISMATCH_EXIT, message: `${reason}\n` } } }],
      },
    });
    const observed = (await driver.observe({ deploymentId: "cdepk" })).find((r) => r.replicaId === s.replicaId)!;
    expect(observed).toMatchObject({ phase: "failed", message: reason, artifact: { status: "mismatch", sha256: "e".repeat(64), expectedSha256: SHA, checkedBy: "kubernetes-init-container" } });
  });

  it("adds no verifier for an hf:// repository (many files): such replicas are reported unverified", async () => {
    const s = { ...spec("crepk2x"), model: { ...spec("x").model, artifactUri: "hf://org/model-GGUF" } };
    await driver.apply(s);
    const d = fake.get("deployments", "enclave-acme", `r-${s.replicaId}`) as unknown as V1Deployment;
    expect(d.spec!.template.spec!.initContainers).toBeUndefined();
  });

  it("the verifier's script (run here with this machine's sh and sha256sum) passes the right file and refuses another with the reason", async () => {
    const file = path.join(tmp, "m.gguf");
    writeFileSync(file, "weights");
    const right = await sha256File(file);
    const run = (expected: string) => {
      try {
        execFileSync("sh", ["-c", ARTIFACT_VERIFY_SCRIPT.replaceAll("/dev/termination-log", path.join(tmp, "termination-log"))], {
          env: { PATH: process.env.PATH ?? "", NODE_ENV: "test", ENCLAVE_ARTIFACT_PATH: file, ENCLAVE_ARTIFACT_SHA256: expected },
          stdio: ["ignore", "pipe", "pipe"],
        });
        return { code: 0, stderr: "" };
      } catch (error) {
        const e = error as { status: number; stderr: Buffer };
        return { code: e.status, stderr: e.stderr.toString() };
      }
    };
    expect(run(right)).toEqual({ code: 0, stderr: "" });
    expect(run(SHA)).toEqual({ code: ARTIFACT_MISMATCH_EXIT, stderr: `artifact sha256 mismatch: the catalog says ${SHA}, the file is ${right}\n` });
  });
});
