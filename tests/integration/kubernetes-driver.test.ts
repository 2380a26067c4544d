/**
 * The kubernetes driver against a FAKE Kubernetes API server (tests/fakes/fake-kube-api-server.ts):
 * no real API server can run on this machine. The fake validates every request like the real one
 * (token, apiVersion/kind/namespace, DNS names, labels, GPU limits = requests, selector = template
 * labels, 409/404) and records them; the tests play the controllers by setting status. What this
 * cannot prove — scheduling, image pulls, device plugins, admission webhooks — is in docs/kubernetes.md.
 */
import { KubeConfig, type V1Deployment, type V1Service } from "@kubernetes/client-node";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FakeKubeApiServer, type KubeObject } from "../fakes/fake-kube-api-server";
import { gpuResourceForType, KubernetesDriver, type KubernetesDriverOptions } from "@/workers/drivers/kubernetes";
import { DriverError, type ReplicaSpec } from "@/workers/drivers/types";

let fake: FakeKubeApiServer;
let serial = 0;

beforeEach(async () => {
  fake = await FakeKubeApiServer.start();
});
afterEach(async () => {
  await fake.stop();
});

/** A kubeconfig pointing at the fake's http:// URL with its bearer token (client-node 1.x needs skipTLSVerify for http). */
function kubeConfig(token = fake.token): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "fake", server: fake.url, skipTLSVerify: true }],
    users: [{ name: "enclave-driver", token }],
    contexts: [{ name: "fake", cluster: "fake", user: "enclave-driver" }],
    currentContext: "fake",
  });
  return kc;
}

function driver(options: Partial<KubernetesDriverOptions> = {}, token?: string): KubernetesDriver {
  return new KubernetesDriver(kubeConfig(token), { mode: "deployment", ...options });
}

function spec(overrides: Partial<ReplicaSpec> = {}): ReplicaSpec {
  serial += 1;
  return {
    replicaId: `crep${serial}x`,
    deploymentId: "cdep1",
    servedModelName: "support-chat",
    tenant: "acme",
    revision: 3,
    model: { slug: "mistral-7b", artifactUri: "hf://mistralai/Mistral-7B-Instruct-v0.3", artifactSha256: "a".repeat(64), runtime: "VLLM", contextLength: 8192 },
    gpu: { type: "H100-80GB", count: 2 },
    ...overrides,
  };
}

const deploymentOf = (s: ReplicaSpec) => fake.get("deployments", "enclave-acme", `r-${s.replicaId}`) as unknown as V1Deployment | undefined;
const serviceOf = (s: ReplicaSpec) => fake.get("services", "enclave-acme", `r-${s.replicaId}`) as unknown as V1Service | undefined;

/** A pod as the ReplicaSet controller (or KServe) would create it for a replica: the fake has no controllers. */
function seedPod(s: ReplicaSpec, name: string, status: Record<string, unknown>, nodeName?: string): KubeObject {
  const template = deploymentOf(s)?.spec?.template;
  const predictor = (fake.get("inferenceservices", "enclave-acme", `r-${s.replicaId}`)?.spec as { predictor?: { labels?: Record<string, string>; containers?: unknown[] } } | undefined)?.predictor;
  const labels = template?.metadata?.labels ?? predictor?.labels ?? {};
  const podSpec = template?.spec ?? { containers: predictor?.containers ?? [] };
  return fake.seed("pods", {
    metadata: { name, namespace: "enclave-acme", labels },
    spec: { ...podSpec, ...(nodeName ? { nodeName } : {}) },
    status,
  });
}

async function rejection(promise: Promise<unknown>): Promise<DriverError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DriverError);
  return error as DriverError;
}

describe("kubernetes driver (deployment mode) against the fake Kubernetes API server", () => {
  it("creates the tenant namespace and its GPU ResourceQuota once for two replicas of the same tenant", async () => {
    const d = driver({ quotaGpusByTenant: (tenant) => (tenant === "acme" ? 8 : undefined) });
    await d.apply(spec());
    await d.apply(spec());

    expect(fake.creates("namespaces")).toHaveLength(1);
    expect(fake.creates("resourcequotas")).toHaveLength(1);
    expect(fake.creates("deployments")).toHaveLength(2);
    expect(fake.creates("services")).toHaveLength(2);
    const ns = fake.get("namespaces", undefined, "enclave-acme");
    expect(ns?.metadata.labels).toMatchObject({ "app.kubernetes.io/managed-by": "enclave", "enclave.eu/tenant": "acme" });
    const quota = fake.get("resourcequotas", "enclave-acme", "enclave-gpu-quota");
    expect(quota?.spec).toEqual({ hard: { "requests.nvidia.com/gpu": "8" } });
  });

  it("rewrites only its key of the ResourceQuota when the tenant's quota changes or another GPU vendor joins", async () => {
    await driver({ quotaGpusByTenant: () => 8 }).apply(spec());
    await driver({ quotaGpusByTenant: () => 4 }).apply(spec());
    await driver({ quotaGpusByTenant: () => 2 }).apply(spec({ gpu: { type: "MI250X", count: 1 } }));

    expect(fake.creates("resourcequotas")).toHaveLength(1);
    expect(fake.requestsMatching("PUT", /resourcequotas\/enclave-gpu-quota$/).map((r) => r.status)).toEqual([200, 200]);
    expect(fake.get("resourcequotas", "enclave-acme", "enclave-gpu-quota")?.spec).toEqual({ hard: { "requests.nvidia.com/gpu": "4", "requests.amd.com/gpu": "2" } });
  });

  it("shapes the Deployment and Service: labels, GPU resources per vendor, node selector, /health probe, served name", async () => {
    const d = driver();
    const nvidia = spec();
    const amd = spec({ gpu: { type: "MI250X", count: 4 }, model: { ...spec().model, runtime: "LLAMA_CPP", artifactUri: "hf://bartowski/Mistral-7B-Instruct-v0.3-GGUF", contextLength: 4096 } });
    const observed = await d.apply(nvidia);
    await d.apply(amd);

    const labels = { "app.kubernetes.io/managed-by": "enclave", "enclave.eu/tenant": "acme", "enclave.eu/replica-id": nvidia.replicaId, "enclave.eu/deployment-id": "cdep1", "enclave.eu/revision": "3" };
    const dep = deploymentOf(nvidia)!;
    expect(dep.metadata?.labels).toEqual(labels);
    expect(dep.spec?.replicas).toBe(1);
    expect(dep.spec?.template?.metadata?.labels).toEqual(labels);
    const pod = dep.spec!.template.spec!;
    expect(pod.nodeSelector).toEqual({ "enclave.eu/gpu-type": "H100-80GB" });
    const [container] = pod.containers;
    expect(container.image).toBe("vllm/vllm-openai");
    expect(container.resources).toEqual({ limits: { "nvidia.com/gpu": "2" }, requests: { "nvidia.com/gpu": "2" } });
    expect(container.readinessProbe?.httpGet).toEqual({ path: "/health", port: "http" });
    expect(container.ports).toEqual([{ name: "http", containerPort: 8080, protocol: "TCP" }]);
    expect(container.args).toEqual(expect.arrayContaining(["--served-model-name", "support-chat", "--model", "mistralai/Mistral-7B-Instruct-v0.3", "--port", "8080", "--tensor-parallel-size", "2"]));
    expect(pod.automountServiceAccountToken).toBe(false);

    const amdPod = deploymentOf(amd)!.spec!.template.spec!;
    expect(amdPod.nodeSelector).toEqual({ "enclave.eu/gpu-type": "MI250X" });
    expect(amdPod.containers[0].image).toBe("ghcr.io/ggml-org/llama.cpp:server");
    expect(amdPod.containers[0].resources).toEqual({ limits: { "amd.com/gpu": "4" }, requests: { "amd.com/gpu": "4" } });
    expect(amdPod.containers[0].args).toEqual(expect.arrayContaining(["--hf-repo", "bartowski/Mistral-7B-Instruct-v0.3-GGUF", "--alias", "support-chat", "--ctx-size", "4096"]));

    const svc = serviceOf(nvidia)!;
    expect(svc.metadata?.labels).toEqual(labels);
    expect(svc.spec?.type).toBe("ClusterIP");
    expect(svc.spec?.selector).toEqual({ "app.kubernetes.io/managed-by": "enclave", "enclave.eu/replica-id": nvidia.replicaId });
    expect(svc.spec?.ports).toEqual([{ name: "http", port: 80, targetPort: 8080, protocol: "TCP" }]);

    expect(observed).toMatchObject({
      replicaId: nvidia.replicaId,
      deploymentId: "cdep1",
      revision: 3,
      clusterRef: `enclave-acme/r-${nvidia.replicaId}`,
      phase: "pending",
      endpoint: `http://r-${nvidia.replicaId}.enclave-acme.svc.cluster.local`,
    });
    expect(observed.startedAt).toBeInstanceOf(Date);
    expect(gpuResourceForType("MI300X")).toBe("amd.com/gpu");
    expect(gpuResourceForType("A100-40GB")).toBe("nvidia.com/gpu");
  });

  it("is idempotent: applying again — twice at once, or from a fresh driver — creates nothing more", async () => {
    const s = spec();
    await driver({ quotaGpusByTenant: () => 8 }).apply(s);
    const postsAfterFirst = fake.requestsMatching("POST").length;
    expect(postsAfterFirst).toBe(4); // namespace, quota, deployment, service

    await driver({ quotaGpusByTenant: () => 8 }).apply(s);
    const [a, b] = await Promise.all([driver().apply(s), driver().apply(s)]);
    expect(fake.requestsMatching("POST").length).toBe(postsAfterFirst);
    expect(a.clusterRef).toBe(b.clusterRef);
    expect(fake.list("deployments")).toHaveLength(1);
    expect(fake.list("services")).toHaveLength(1);

    // Lost race: another worker creates the same Deployment between our read and our create → 409, which is fine.
    const raced = spec();
    fake.beforeNext({ method: "POST", path: /\/deployments$/ }, (body) => fake.seed("deployments", body as KubeObject));
    expect(await driver().apply(raced)).toMatchObject({ replicaId: raced.replicaId, phase: "pending" });
    expect(fake.requestsMatching("POST", /\/deployments$/).at(-1)?.status).toBe(409);
    expect(fake.list("deployments")).toHaveLength(2);

    // A 409 with nothing behind it is not hidden.
    const ghost = spec();
    fake.failNext({ method: "POST", path: /\/deployments$/, code: 409, reason: "AlreadyExists", message: `deployments.apps "r-${ghost.replicaId}" already exists` });
    expect((await rejection(driver().apply(ghost))).message).toContain("could not create Deployment");
  });

  it("observes pending → starting → ready as the (simulated) scheduler and controller progress; a fresh driver sees the same", async () => {
    const d = driver();
    const s = spec();
    const other = spec({ deploymentId: "cdep2" });
    await d.apply(s);
    await d.apply(other);

    const find = async (drv = d) => (await drv.observe({ deploymentId: "cdep1" })).find((r) => r.replicaId === s.replicaId);
    expect(await find()).toMatchObject({ phase: "pending", message: "waiting for a pod to be created" });

    seedPod(s, `r-${s.replicaId}-7d9f-abcde`, {
      phase: "Pending",
      conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable", message: "0/3 nodes are available: 3 Insufficient nvidia.com/gpu." }],
    });
    expect(await find()).toMatchObject({ phase: "pending", message: "0/3 nodes are available: 3 Insufficient nvidia.com/gpu." });

    fake.update("pods", "enclave-acme", `r-${s.replicaId}-7d9f-abcde`, (pod) => {
      (pod.spec as { nodeName?: string }).nodeName = "gpu-node-1";
      pod.status = {
        phase: "Pending",
        conditions: [{ type: "PodScheduled", status: "True" }],
        containerStatuses: [{ name: "model-server", ready: false, state: { waiting: { reason: "ContainerCreating" } } }],
      };
    });
    fake.setStatus("deployments", "enclave-acme", `r-${s.replicaId}`, {
      replicas: 1,
      unavailableReplicas: 1,
      conditions: [
        { type: "Available", status: "False", reason: "MinimumReplicasUnavailable", message: "Deployment does not have minimum availability." },
        { type: "Progressing", status: "True", reason: "ReplicaSetUpdated", message: `ReplicaSet "r-${s.replicaId}-7d9f" is progressing.` },
      ],
    });
    // Available=False is how every Deployment starts: starting, not failed.
    expect(await find()).toMatchObject({ phase: "starting", message: "ContainerCreating" });

    fake.setStatus("deployments", "enclave-acme", `r-${s.replicaId}`, {
      readyReplicas: 1,
      availableReplicas: 1,
      unavailableReplicas: 0,
      conditions: [{ type: "Available", status: "True", reason: "MinimumReplicasAvailable" }],
    });
    const ready = await find();
    expect(ready).toMatchObject({ phase: "ready", endpoint: `http://r-${s.replicaId}.enclave-acme.svc.cluster.local` });
    expect(ready?.message).toBeUndefined();

    // A fresh process finds the same replicas through labels alone.
    const fresh = new KubernetesDriver({ server: fake.url, token: fake.token, skipTLSVerify: true }, { mode: "deployment" });
    expect(await find(fresh)).toEqual(ready);
    const all = await fresh.observe();
    expect(all.map((r) => r.replicaId).sort()).toEqual([s.replicaId, other.replicaId].sort());
    expect((await fresh.observe({ deploymentId: "cdep2" })).map((r) => r.replicaId)).toEqual([other.replicaId]);
    expect(fake.requestsMatching("GET", /^\/apis\/apps\/v1\/deployments$/).at(-1)?.query.labelSelector).toBe("app.kubernetes.io/managed-by=enclave,enclave.eu/deployment-id=cdep2");
  });

  it("reports failed with Kubernetes' message on ProgressDeadlineExceeded and ReplicaFailure (e.g. quota exceeded)", async () => {
    const d = driver();
    const slow = spec();
    const overQuota = spec();
    await d.apply(slow);
    await d.apply(overQuota);
    fake.setStatus("deployments", "enclave-acme", `r-${slow.replicaId}`, {
      conditions: [
        { type: "Available", status: "False", reason: "MinimumReplicasUnavailable", message: "Deployment does not have minimum availability." },
        { type: "Progressing", status: "False", reason: "ProgressDeadlineExceeded", message: `ReplicaSet "r-${slow.replicaId}-5c" has timed out progressing.` },
      ],
    });
    fake.setStatus("deployments", "enclave-acme", `r-${overQuota.replicaId}`, {
      conditions: [
        { type: "ReplicaFailure", status: "True", reason: "FailedCreate", message: 'pods "r-x-5c-q" is forbidden: exceeded quota: enclave-gpu-quota, requested: requests.nvidia.com/gpu=2, used: requests.nvidia.com/gpu=8, limited: requests.nvidia.com/gpu=8' },
      ],
    });
    const observed = await d.observe();
    expect(observed.find((r) => r.replicaId === slow.replicaId)).toMatchObject({ phase: "failed", message: `ProgressDeadlineExceeded: ReplicaSet "r-${slow.replicaId}-5c" has timed out progressing.` });
    expect(observed.find((r) => r.replicaId === overQuota.replicaId)).toMatchObject({ phase: "failed", message: expect.stringContaining("FailedCreate: pods \"r-x-5c-q\" is forbidden: exceeded quota: enclave-gpu-quota") });
  });

  it("deletes the Deployment and the Service with Foreground propagation; deleting again or an unknown id is fine", async () => {
    const d = driver();
    const s = spec();
    const kept = spec();
    await d.apply(s);
    await d.apply(kept);

    await d.delete(s.replicaId);
    const deletes = fake.requestsMatching("DELETE");
    expect(deletes.map((r) => r.path).sort()).toEqual([`/api/v1/namespaces/enclave-acme/services/r-${s.replicaId}`, `/apis/apps/v1/namespaces/enclave-acme/deployments/r-${s.replicaId}`]);
    expect(deletes.every((r) => r.query.propagationPolicy === "Foreground" && r.status === 200)).toBe(true);
    expect(deploymentOf(s)).toBeUndefined();
    expect(serviceOf(s)).toBeUndefined();
    expect(deploymentOf(kept)).toBeDefined();
    expect((await d.observe()).map((r) => r.replicaId)).toEqual([kept.replicaId]);

    await d.delete(s.replicaId);
    await d.delete("cnever-existed");
    expect(fake.requestsMatching("DELETE")).toHaveLength(2);

    // Someone else deleted it between our list and our delete: 404 is success.
    fake.failNext({ method: "DELETE", path: /\/deployments\//, code: 404, reason: "NotFound", message: `deployments.apps "r-${kept.replicaId}" not found` });
    await d.delete(kept.replicaId);
    expect(serviceOf(kept)).toBeUndefined();
  });

  it("turns a 403 into a non-retryable DriverError that names the reason", async () => {
    fake.failNext({
      method: "POST",
      path: /\/deployments$/,
      code: 403,
      reason: "Forbidden",
      message: 'deployments.apps is forbidden: User "system:serviceaccount:enclave:driver" cannot create resource "deployments" in API group "apps" in the namespace "enclave-acme"',
    });
    const error = await rejection(driver().apply(spec()));
    expect(error.retryable).toBe(false);
    expect(error.message).toContain("403 Forbidden");
    expect(error.message).toContain('cannot create resource "deployments"');
    expect(error.message).not.toContain(fake.url);
  });

  it("turns the fake's own 422 validation (an invalid object name) into a non-retryable DriverError", async () => {
    const error = await rejection(driver().apply(spec({ replicaId: "Not_A_DNS_Label" })));
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(/422 Invalid: Deployment\.apps "r-Not_A_DNS_Label" is invalid: metadata\.name/);
    expect(fake.list("deployments")).toHaveLength(0);
  });

  it("treats 503, 429, dropped connections and timeouts as retryable, and a wrong token (401) as not", async () => {
    fake.failNext({ method: "GET", path: /^\/apis\/apps\/v1\/deployments$/, code: 503, reason: "ServiceUnavailable", message: "the server is currently unable to handle the request" });
    const unavailable = await rejection(driver().observe());
    expect(unavailable).toMatchObject({ retryable: true });
    expect(unavailable.message).toContain("503 ServiceUnavailable: the server is currently unable to handle the request");

    fake.failNext({ method: "GET", path: /\/nodes$/, code: 429, reason: "TooManyRequests", message: "Too many requests, please try again later." });
    expect(await rejection(driver().capacity())).toMatchObject({ retryable: true });

    fake.failNext({ method: "GET", path: /\/namespaces\/enclave-acme$/, reset: true });
    const reset = await rejection(driver().apply(spec()));
    expect(reset.retryable).toBe(true);
    expect(reset.message).toMatch(/cannot reach the API server/);

    fake.failNext({ method: "GET", path: /\/nodes$/, stall: true });
    const timedOut = await rejection(driver({ requestTimeoutMs: 200 }).capacity());
    expect(timedOut).toMatchObject({ retryable: true, message: expect.stringContaining("timed out") });

    const unauthorized = await rejection(driver({}, "stolen-or-expired").observe());
    expect(unauthorized.retryable).toBe(false);
    expect(unauthorized.message).toContain("401 Unauthorized");
    expect(fake.requests.at(-1)?.status).toBe(401);

    const url = fake.url;
    await fake.stop();
    const down = await rejection(new KubernetesDriver({ server: url, token: "t", skipTLSVerify: true }, { mode: "deployment" }).observe());
    expect(down.retryable).toBe(true);
    expect(down.message).toContain("ECONNREFUSED");
    fake = await FakeKubeApiServer.start(); // afterEach stops it
  });

  it("refuses artifacts a pod cannot reach before creating anything", async () => {
    const error = await rejection(driver().apply(spec({ model: { ...spec().model, artifactUri: "s3://models/mistral.gguf" } })));
    expect(error.retryable).toBe(false);
    expect(error.message).toContain("s3://models/mistral.gguf");
    expect(fake.requestsMatching("POST")).toHaveLength(0);
  });

  it("computes capacity from node allocatable per GPU type minus GPU requests of unfinished pods", async () => {
    const node = (name: string, gpuType: string | null, allocatable: Record<string, string>, extra: Partial<KubeObject> = {}) =>
      fake.seed("nodes", {
        metadata: { name, labels: gpuType ? { "enclave.eu/gpu-type": gpuType } : {} },
        status: { allocatable, conditions: [{ type: "Ready", status: "True" }] },
        ...extra,
      });
    node("h100-a", "H100-80GB", { cpu: "96", "nvidia.com/gpu": "8" });
    node("h100-b", "H100-80GB", { cpu: "96", "nvidia.com/gpu": "8" });
    node("h100-cordoned", "H100-80GB", { "nvidia.com/gpu": "8" }, { spec: { unschedulable: true } });
    node("mi250x-a", "MI250X", { "amd.com/gpu": "4" });
    node("cpu-only", null, { cpu: "32" });
    fake.seed("namespaces", { metadata: { name: "other-team" } });
    const gpuPod = (name: string, nodeName: string | undefined, phase: string, resource: string, count: number, init = 0) =>
      fake.seed("pods", {
        metadata: { name, namespace: "other-team" },
        spec: {
          ...(nodeName ? { nodeName } : {}),
          containers: [{ name: "main", image: "x", resources: { limits: { [resource]: String(count) }, requests: { [resource]: String(count) } } }],
          ...(init ? { initContainers: [{ name: "warmup", image: "x", resources: { limits: { [resource]: String(init) } } }] } : {}),
        },
        status: { phase },
      });
    gpuPod("training", "h100-a", "Running", "nvidia.com/gpu", 2, 1);
    gpuPod("big-init", "h100-b", "Pending", "nvidia.com/gpu", 1, 3); // init container needs 3 → holds 3
    gpuPod("finished", "h100-a", "Succeeded", "nvidia.com/gpu", 4);
    gpuPod("crashed", "h100-b", "Failed", "nvidia.com/gpu", 4);
    gpuPod("unscheduled", undefined, "Pending", "nvidia.com/gpu", 8);
    gpuPod("amd-job", "mi250x-a", "Running", "amd.com/gpu", 1);

    expect(await driver().capacity()).toEqual([
      { gpuType: "H100-80GB", total: 24, free: 6 + 5 }, // cordoned node counts in total, offers nothing
      { gpuType: "MI250X", total: 4, free: 3 },
    ]);
    expect(fake.requestsMatching("GET", /^\/api\/v1\/pods$/).at(-1)?.query.fieldSelector).toBe("status.phase!=Succeeded,status.phase!=Failed");
  });
});

describe("kubernetes driver (kserve mode) against the fake Kubernetes API server", () => {
  it("creates an InferenceService with the replica's labels and GPUs, and reads the endpoint from status.url once Ready", async () => {
    const d = driver({ mode: "kserve", kserveDeploymentMode: "RawDeployment" });
    const s = spec({ gpu: { type: "MI250X", count: 1 } });
    const first = await d.apply(s);
    await d.apply(s);
    expect(fake.creates("inferenceservices")).toHaveLength(1);
    expect(fake.creates("deployments")).toHaveLength(0);
    expect(first).toMatchObject({ phase: "pending", clusterRef: `enclave-acme/r-${s.replicaId}` });
    expect(first.endpoint).toBeUndefined();

    const isvc = fake.get("inferenceservices", "enclave-acme", `r-${s.replicaId}`)!;
    expect(isvc.apiVersion).toBe("serving.kserve.io/v1beta1");
    expect(isvc.metadata.labels).toMatchObject({ "app.kubernetes.io/managed-by": "enclave", "enclave.eu/replica-id": s.replicaId, "enclave.eu/deployment-id": "cdep1", "enclave.eu/revision": "3" });
    expect(isvc.metadata.annotations).toMatchObject({ "serving.kserve.io/deploymentMode": "RawDeployment" });
    const predictor = (isvc.spec as { predictor: Record<string, unknown> & { containers: { name: string; resources: unknown; readinessProbe: unknown }[] } }).predictor;
    expect(predictor).toMatchObject({ minReplicas: 1, maxReplicas: 1, nodeSelector: { "enclave.eu/gpu-type": "MI250X" }, labels: { "enclave.eu/replica-id": s.replicaId } });
    expect(predictor.containers[0]).toMatchObject({ name: "kserve-container", resources: { limits: { "amd.com/gpu": "1" }, requests: { "amd.com/gpu": "1" } }, readinessProbe: { httpGet: { path: "/health", port: 8080 } } });

    fake.setStatus("inferenceservices", "enclave-acme", `r-${s.replicaId}`, {
      conditions: [{ type: "PredictorReady", status: "False", reason: "MinimumReplicasUnavailable" }, { type: "Ready", status: "False", reason: "MinimumReplicasUnavailable", message: "Deployment does not have minimum availability." }],
    });
    seedPod(s, `r-${s.replicaId}-predictor-abc`, { phase: "Pending", conditions: [{ type: "PodScheduled", status: "True" }] }, "mi250x-a");
    expect((await d.observe())[0]).toMatchObject({ phase: "starting", message: "MinimumReplicasUnavailable: Deployment does not have minimum availability." });

    const url = `http://r-${s.replicaId}-enclave-acme.inference.example.eu`;
    fake.setStatus("inferenceservices", "enclave-acme", `r-${s.replicaId}`, {
      url,
      conditions: [{ type: "PredictorReady", status: "True" }, { type: "IngressReady", status: "True" }, { type: "Ready", status: "True" }],
    });
    const fresh = new KubernetesDriver(kubeConfig(), { mode: "kserve" });
    expect(await fresh.observe({ deploymentId: "cdep1" })).toEqual([expect.objectContaining({ replicaId: s.replicaId, phase: "ready", endpoint: url })]);

    await fresh.delete(s.replicaId);
    expect(fake.requestsMatching("DELETE").map((r) => [r.path, r.query.propagationPolicy])).toEqual([[`/apis/serving.kserve.io/v1beta1/namespaces/enclave-acme/inferenceservices/r-${s.replicaId}`, "Foreground"]]);
    expect(await fresh.observe()).toEqual([]);
    await fresh.delete(s.replicaId);
  });

  it("reports a model that failed to load as failed with KServe's failure message", async () => {
    const d = driver({ mode: "kserve" });
    const s = spec();
    await d.apply(s);
    fake.setStatus("inferenceservices", "enclave-acme", `r-${s.replicaId}`, {
      conditions: [{ type: "Ready", status: "False", reason: "RuntimeUnhealthy" }],
      modelStatus: { transitionStatus: "BlockedByFailedLoad", lastFailureInfo: { reason: "ModelLoadFailed", message: "CUDA out of memory" } },
    });
    expect(await d.observe()).toEqual([expect.objectContaining({ phase: "failed", message: "ModelLoadFailed: CUDA out of memory" })]);
  });
});

describe("the fake Kubernetes API server checks requests like a real one", () => {
  const call = (method: string, path: string, body?: unknown, token: string | null = fake.token) =>
    fetch(`${fake.url}${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { "content-type": "application/json" } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    }).then(async (r) => ({ status: r.status, body: (await r.json()) as { kind?: string; reason?: string; message?: string } }));

  const deployment = (overrides: { gpuRequest?: string; templateLabels?: Record<string, string>; name?: string; namespace?: string } = {}) => ({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: overrides.name ?? "r-ok", namespace: overrides.namespace ?? "t" },
    spec: {
      selector: { matchLabels: { app: "x" } },
      template: {
        metadata: { labels: overrides.templateLabels ?? { app: "x" } },
        spec: { containers: [{ name: "c", image: "i", resources: { limits: { "nvidia.com/gpu": "1" }, requests: { "nvidia.com/gpu": overrides.gpuRequest ?? "1" } } }] },
      },
    },
  });

  it("rejects missing tokens, mismatched kinds and namespaces, invalid objects, duplicates and missing namespaces", async () => {
    expect((await call("GET", "/api/v1/namespaces", undefined, null)).status).toBe(401);
    expect((await call("GET", "/api/v1/namespaces", undefined, "wrong")).body).toMatchObject({ kind: "Status", reason: "Unauthorized" });
    expect((await call("POST", "/apis/apps/v1/namespaces/t/deployments", deployment())).body).toMatchObject({ reason: "NotFound", message: 'namespaces "t" not found' });
    expect((await call("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "t" } })).status).toBe(201);

    expect((await call("POST", "/apis/apps/v1/namespaces/t/deployments", { ...deployment(), kind: "StatefulSet" })).status).toBe(400);
    expect((await call("POST", "/apis/apps/v1/namespaces/t/deployments", deployment({ namespace: "elsewhere" }))).status).toBe(400);
    const gpuMismatch = await call("POST", "/apis/apps/v1/namespaces/t/deployments", deployment({ gpuRequest: "2" }));
    expect(gpuMismatch).toMatchObject({ status: 422, body: { reason: "Invalid", message: expect.stringContaining("must be equal to nvidia.com/gpu limit of 1") } });
    expect((await call("POST", "/apis/apps/v1/namespaces/t/deployments", deployment({ templateLabels: { app: "y" } }))).body.message).toContain("`selector` does not match template `labels`");
    expect((await call("POST", "/apis/apps/v1/namespaces/t/deployments", deployment({ name: "Bad_Name" }))).status).toBe(422);
    expect((await call("POST", "/api/v1/namespaces/t/services", { apiVersion: "v1", kind: "Service", metadata: { name: "9starts-with-digit" }, spec: { ports: [{ port: 80 }] } })).status).toBe(422);

    expect((await call("POST", "/apis/apps/v1/namespaces/t/deployments", deployment())).status).toBe(201);
    expect((await call("POST", "/apis/apps/v1/namespaces/t/deployments", deployment())).body).toMatchObject({ reason: "AlreadyExists" });
    expect((await call("DELETE", "/apis/apps/v1/namespaces/t/deployments/r-ok?propagationPolicy=Foreground")).status).toBe(200);
    expect((await call("DELETE", "/apis/apps/v1/namespaces/t/deployments/r-ok")).status).toBe(404);
    expect((await call("GET", "/api/v1/pods?labelSelector=app%20in%20(x,y)")).status).toBe(400);
    expect((await call("GET", "/api/v1/pods?fieldSelector=spec.restartPolicy%3DAlways")).status).toBe(400);
    // …and every request was recorded with what it got.
    expect(fake.requests.map((r) => r.status)).toEqual([401, 401, 404, 201, 400, 400, 422, 422, 422, 422, 201, 409, 200, 404, 400, 400]);
  });
});
