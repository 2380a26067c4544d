/**
 * The Kubernetes cluster driver. Object model (see docs/kubernetes.md):
 *   - one namespace per organisation, `<prefix><tenant>`, with a ResourceQuota capping its GPUs;
 *   - per replica, mode "deployment": a Deployment + ClusterIP Service named `r-<replicaId>`;
 *     mode "kserve": a KServe InferenceService named `r-<replicaId>`;
 *   - every object labelled with `app.kubernetes.io/managed-by=enclave` and the replica's ids, so
 *     `observe`/`delete` find them by label selector across namespaces, even from a fresh process.
 */
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  FetchError,
  KubeConfig,
  ServerConfiguration,
  createConfiguration,
  type Middleware,
  type V1Container,
  type V1Deployment,
  type V1Namespace,
  type V1Pod,
  type V1PodSpec,
  type V1ResourceQuota,
  type V1Service,
  type V1Volume,
} from "@kubernetes/client-node";
import { ARTIFACT_MISMATCH_EXIT, expectedDigest, UNVERIFIED_NOTE, type ArtifactCheck } from "./artifact";
import { DriverError, type ClusterDriver, type GpuCapacity, type ObservedReplica, type ReplicaPhase, type ReplicaSpec } from "./types";

export type ModelRuntime = ReplicaSpec["model"]["runtime"];

/** Where the API server is and how to authenticate, when no kubeconfig is at hand. */
export interface KubernetesConnection {
  server: string;
  token: string;
  /** Base64 PEM of the cluster CA, as in a kubeconfig's `certificate-authority-data`. */
  caData?: string;
  /** Also required (by @kubernetes/client-node 1.x) to talk plain `http://` to a server. */
  skipTLSVerify?: boolean;
}

export interface KubernetesDriverOptions {
  mode: "deployment" | "kserve";
  /** Model server image: one for every runtime, or one per runtime (missing ones use DEFAULT_IMAGES). */
  image?: string | Partial<Record<ModelRuntime, string>>;
  /** Extended resource for NVIDIA-style GPU types; AMD/Gaudi types map to their own (gpuResourceForType). */
  gpuResourceName?: string;
  /** Node label holding the GPU type code; used as the node selector and by `capacity()`. */
  gpuTypeLabel?: string;
  namespacePrefix?: string;
  /** The tenant's GPU cap, written as `requests.<gpu resource>` in the namespace's ResourceQuota. */
  quotaGpusByTenant?: (tenant: string) => number | undefined;
  /** Read-only volume source (NFS, CSI…) holding `file://` artifacts, mounted at `mountPath`. */
  modelVolume?: { source: Omit<V1Volume, "name">; mountPath: string };
  /** KServe `serving.kserve.io/deploymentMode` annotation; the cluster default when unset. */
  kserveDeploymentMode?: "RawDeployment" | "Serverless";
  /**
   * Image of the init container that checks a `file://` artifact's sha256 on the model volume before
   * the model server starts (docs/evidence.md); any image with `sh` and `sha256sum` (busybox, coreutils).
   */
  artifactVerifierImage?: string;
  /** Deployment `progressDeadlineSeconds`: how long a replica may load before it counts as failed. */
  progressDeadlineSeconds?: number;
  requestTimeoutMs?: number;
}

export const DEFAULT_IMAGES: Record<ModelRuntime, string> = {
  LLAMA_CPP: "ghcr.io/ggml-org/llama.cpp:server",
  VLLM: "vllm/vllm-openai",
  TGI: "ghcr.io/huggingface/text-generation-inference",
};

export const LABELS = {
  managedBy: "app.kubernetes.io/managed-by",
  tenant: "enclave.eu/tenant",
  replicaId: "enclave.eu/replica-id",
  deploymentId: "enclave.eu/deployment-id",
  revision: "enclave.eu/revision",
} as const;
export const MANAGED_BY = "enclave";
export const QUOTA_NAME = "enclave-gpu-quota";
const MODEL_PORT = 8080;
const KSERVE = { group: "serving.kserve.io", version: "v1beta1", plural: "inferenceservices" } as const;

/** The extended resource a GPU type is requested as: AMD Instinct → amd.com/gpu, Gaudi → habana.ai/gaudi. */
export function gpuResourceForType(gpuType: string, nvidiaStyleDefault = "nvidia.com/gpu"): string {
  if (/^(amd[-_ ]?)?(instinct[-_ ]?)?mi\d/i.test(gpuType)) return "amd.com/gpu";
  if (/^(intel[-_ ]?)?gaudi/i.test(gpuType)) return "habana.ai/gaudi";
  return nvidiaStyleDefault;
}

/** The Kubernetes name of a replica's objects; `r-` keeps it a DNS-1035 label (Services and KServe need a leading letter). */
export function replicaObjectName(replicaId: string): string {
  return `r-${replicaId}`;
}

interface KubeCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

/** The InferenceService fields this driver writes and reads (custom objects come back as plain JSON). */
export interface InferenceService {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; creationTimestamp?: string; deletionTimestamp?: string };
  spec: { predictor: { minReplicas: number; maxReplicas: number; labels?: Record<string, string>; annotations?: Record<string, string> } & Partial<V1PodSpec> };
  status?: {
    url?: string;
    address?: { url?: string };
    conditions?: KubeCondition[];
    modelStatus?: { transitionStatus?: string; lastFailureInfo?: { reason?: string; message?: string } };
  };
}

interface InferenceServiceList {
  items?: InferenceService[];
}

export class KubernetesDriver implements ClusterDriver {
  readonly kind = "kubernetes" as const;
  private readonly core: CoreV1Api;
  private readonly apps: AppsV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly options: Required<Pick<KubernetesDriverOptions, "mode" | "gpuResourceName" | "gpuTypeLabel" | "namespacePrefix" | "progressDeadlineSeconds">> & KubernetesDriverOptions;

  constructor(config: KubeConfig | KubernetesConnection, options: KubernetesDriverOptions) {
    const kc = config instanceof KubeConfig ? config : kubeConfigFor(config);
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new DriverError("Kubernetes driver: the kubeconfig has no current cluster", false);
    // Our own configuration (not kc.makeApiClient) so every request gets a timeout: node-fetch has none.
    const timeoutMs = options.requestTimeoutMs ?? 30_000;
    const timeout: Middleware = {
      pre: async (context) => {
        context.setSignal(AbortSignal.timeout(timeoutMs));
        return context;
      },
      post: async (response) => response,
    };
    const configuration = createConfiguration({
      baseServer: new ServerConfiguration(cluster.server, {}),
      authMethods: { default: kc },
      promiseMiddleware: [timeout],
    });
    this.core = new CoreV1Api(configuration);
    this.apps = new AppsV1Api(configuration);
    this.custom = new CustomObjectsApi(configuration);
    this.options = {
      gpuResourceName: "nvidia.com/gpu",
      gpuTypeLabel: "enclave.eu/gpu-type",
      namespacePrefix: "enclave-",
      progressDeadlineSeconds: 1800,
      ...options,
    };
  }

  namespaceFor(tenant: string): string {
    return `${this.options.namespacePrefix}${tenant}`;
  }

  gpuResourceFor(gpuType: string): string {
    return gpuResourceForType(gpuType, this.options.gpuResourceName);
  }

  async apply(spec: ReplicaSpec): Promise<ObservedReplica> {
    const namespace = this.namespaceFor(spec.tenant);
    const name = replicaObjectName(spec.replicaId);
    // Built first so an unservable spec fails before anything is created.
    const container = this.container(spec);
    await this.ensureNamespace(namespace, spec.tenant);
    await this.ensureQuota(namespace, spec);
    const where = `${namespace}/${name}`;
    if (this.options.mode === "deployment") {
      const deployment = await this.ensure(
        `Deployment ${where}`,
        () => this.apps.readNamespacedDeployment({ name, namespace }),
        () => this.apps.createNamespacedDeployment({ namespace, body: this.deploymentFor(spec, namespace, container) }),
      );
      await this.ensure(
        `Service ${where}`,
        () => this.core.readNamespacedService({ name, namespace }),
        () => this.core.createNamespacedService({ namespace, body: this.serviceFor(spec, namespace) }),
      );
      const pods = await this.podsOf(namespace, spec.replicaId);
      return this.fromDeployment(deployment, pods) ?? this.unlabelled(spec, where);
    }
    const isvc = await this.ensure<InferenceService>(
      `InferenceService ${where}`,
      () => this.custom.getNamespacedCustomObject({ ...KSERVE, namespace, name }),
      () => this.custom.createNamespacedCustomObject({ ...KSERVE, namespace, body: this.inferenceServiceFor(spec, namespace, container) }),
    );
    const pods = await this.podsOf(namespace, spec.replicaId);
    return this.fromInferenceService(isvc, pods) ?? this.unlabelled(spec, where);
  }

  async observe(filter?: { deploymentId?: string }): Promise<ObservedReplica[]> {
    const labelSelector = [`${LABELS.managedBy}=${MANAGED_BY}`, ...(filter?.deploymentId ? [`${LABELS.deploymentId}=${filter.deploymentId}`] : [])].join(",");
    const podList = this.call("list pods", () => this.core.listPodForAllNamespaces({ labelSelector }));
    const podsByReplica = (pods: V1Pod[]) => {
      const map = new Map<string, V1Pod[]>();
      for (const pod of pods) {
        const id = pod.metadata?.labels?.[LABELS.replicaId];
        if (id) map.set(id, [...(map.get(id) ?? []), pod]);
      }
      return map;
    };
    if (this.options.mode === "deployment") {
      const [deployments, pods] = await Promise.all([this.call("list Deployments", () => this.apps.listDeploymentForAllNamespaces({ labelSelector })), podList]);
      const byReplica = podsByReplica(pods.items);
      return deployments.items.flatMap((d) => this.fromDeployment(d, byReplica.get(d.metadata?.labels?.[LABELS.replicaId] ?? "") ?? []) ?? []);
    }
    const [list, pods] = await Promise.all([
      this.call<InferenceServiceList>("list InferenceServices", () => this.custom.listCustomObjectForAllNamespaces({ ...KSERVE, labelSelector })),
      podList,
    ]);
    const byReplica = podsByReplica(pods.items);
    return (list.items ?? []).flatMap((i) => this.fromInferenceService(i, byReplica.get(i.metadata.labels?.[LABELS.replicaId] ?? "") ?? []) ?? []);
  }

  async delete(replicaId: string): Promise<void> {
    // The namespace is not known from the id alone, so find the objects by label (also catches a half-deleted pair).
    const labelSelector = `${LABELS.managedBy}=${MANAGED_BY},${LABELS.replicaId}=${replicaId}`;
    const propagationPolicy = "Foreground";
    if (this.options.mode === "deployment") {
      const [deployments, services] = await Promise.all([
        this.call("list Deployments", () => this.apps.listDeploymentForAllNamespaces({ labelSelector })),
        this.call("list Services", () => this.core.listServiceForAllNamespaces({ labelSelector })),
      ]);
      await Promise.all([
        ...deployments.items.map((d) => this.ignoreNotFound(`delete Deployment ${ref(d.metadata)}`, () => this.apps.deleteNamespacedDeployment({ ...nameAndNamespace(d.metadata), propagationPolicy }))),
        ...services.items.map((s) => this.ignoreNotFound(`delete Service ${ref(s.metadata)}`, () => this.core.deleteNamespacedService({ ...nameAndNamespace(s.metadata), propagationPolicy }))),
      ]);
      return;
    }
    const list = await this.call<InferenceServiceList>("list InferenceServices", () => this.custom.listCustomObjectForAllNamespaces({ ...KSERVE, labelSelector }));
    await Promise.all(
      (list.items ?? []).map((i) =>
        this.ignoreNotFound(`delete InferenceService ${ref(i.metadata)}`, () => this.custom.deleteNamespacedCustomObject({ ...KSERVE, ...nameAndNamespace(i.metadata), propagationPolicy })),
      ),
    );
  }

  async capacity(): Promise<GpuCapacity[]> {
    const label = this.options.gpuTypeLabel;
    const [nodes, pods] = await Promise.all([
      this.call("list nodes", () => this.core.listNode({ labelSelector: label })),
      // Succeeded/Failed pods no longer hold their devices.
      this.call("list pods", () => this.core.listPodForAllNamespaces({ fieldSelector: "status.phase!=Succeeded,status.phase!=Failed" })),
    ]);
    const used = new Map<string, Map<string, number>>();
    for (const pod of pods.items) {
      const node = pod.spec?.nodeName;
      if (!node) continue; // Unscheduled pods hold nothing yet.
      const perResource = used.get(node) ?? new Map<string, number>();
      for (const resource of podResourceNames(pod)) perResource.set(resource, (perResource.get(resource) ?? 0) + podRequest(pod, resource));
      used.set(node, perResource);
    }
    const byType = new Map<string, GpuCapacity>();
    for (const node of nodes.items) {
      const gpuType = node.metadata?.labels?.[label];
      if (!gpuType) continue;
      const resource = this.gpuResourceFor(gpuType);
      const total = quantity(node.status?.allocatable?.[resource]);
      const schedulable = !node.spec?.unschedulable && !(node.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status !== "True");
      const free = schedulable ? Math.max(0, total - (used.get(node.metadata?.name ?? "")?.get(resource) ?? 0)) : 0;
      const entry = byType.get(gpuType) ?? { gpuType, total: 0, free: 0 };
      entry.total += total;
      entry.free += free;
      byType.set(gpuType, entry);
    }
    return [...byType.values()].sort((a, b) => a.gpuType.localeCompare(b.gpuType));
  }

  // ----- what gets created -----

  private labels(spec: ReplicaSpec): Record<string, string> {
    return {
      [LABELS.managedBy]: MANAGED_BY,
      [LABELS.tenant]: spec.tenant,
      [LABELS.replicaId]: spec.replicaId,
      [LABELS.deploymentId]: spec.deploymentId,
      [LABELS.revision]: String(spec.revision),
    };
  }

  private annotations(spec: ReplicaSpec): Record<string, string> {
    // Annotations, not labels: these values need not be valid label values.
    return {
      "enclave.eu/model": spec.model.slug,
      "enclave.eu/served-model-name": spec.servedModelName,
      "enclave.eu/artifact-uri": spec.model.artifactUri,
      "enclave.eu/artifact-sha256": spec.model.artifactSha256,
    };
  }

  private container(spec: ReplicaSpec, name = "model-server"): V1Container {
    const resource = this.gpuResourceFor(spec.gpu.type);
    const gpus = spec.gpu.count > 0 ? { [resource]: String(spec.gpu.count) } : undefined;
    const image = typeof this.options.image === "string" ? this.options.image : (this.options.image?.[spec.model.runtime] ?? DEFAULT_IMAGES[spec.model.runtime]);
    return {
      name,
      image,
      args: modelServerArgs(spec, this.modelLocation(spec)),
      ports: [{ name: "http", containerPort: MODEL_PORT, protocol: "TCP" }],
      env: [
        { name: "ENCLAVE_SERVED_MODEL_NAME", value: spec.servedModelName },
        { name: "ENCLAVE_ARTIFACT_SHA256", value: spec.model.artifactSha256 },
      ],
      // Extended resources must have requests equal to limits.
      ...(gpus ? { resources: { limits: gpus, requests: { ...gpus } } } : {}),
      // Readiness only: llama.cpp and vLLM answer 503 on /health while loading, which a liveness probe would kill.
      readinessProbe: { httpGet: { path: "/health", port: "http" }, periodSeconds: 10, failureThreshold: 3, timeoutSeconds: 5 },
      ...(this.options.modelVolume ? { volumeMounts: [{ name: "models", mountPath: this.options.modelVolume.mountPath, readOnly: true }] } : {}),
    };
  }

  /** The model as the server's command line names it; refuses artifacts a pod cannot reach. */
  private modelLocation(spec: ReplicaSpec): { kind: "hf" | "path"; value: string } {
    const uri = spec.model.artifactUri;
    if (uri.startsWith("hf://")) return { kind: "hf", value: uri.slice("hf://".length) };
    if (uri.startsWith("file://")) {
      if (!this.options.modelVolume) {
        throw new DriverError(`Model artifact ${uri} is a file path, but this Kubernetes cluster has no model volume configured`, false);
      }
      const file = new URL(uri).pathname;
      // The pod sees only the volume's files there; a path elsewhere would read the image's own.
      const mount = this.options.modelVolume.mountPath.replace(/\/+$/, "");
      if (!file.startsWith(`${mount}/`) || file.split("/").includes("..")) {
        throw new DriverError(`Model artifact ${uri} is outside this Kubernetes cluster's model volume (${mount}): file:// artifacts must name a file on it`, false);
      }
      return { kind: "path", value: file };
    }
    throw new DriverError(`Model artifact ${uri} cannot be served on Kubernetes yet (supported: hf://, and file:// on a configured model volume)`, false);
  }

  /**
   * For a file on the model volume with a catalog digest: an init container that hashes it and
   * exits 65 with the reason in its termination message when it is not the catalog's, so the model
   * server never starts on it. hf:// repositories are many files: not checked here (unverified).
   */
  private artifactVerifier(spec: ReplicaSpec): V1Container | null {
    const expected = expectedDigest(spec.model.artifactSha256);
    const location = this.modelLocation(spec);
    if (!expected || location.kind !== "path" || !this.options.modelVolume) return null;
    return {
      name: ARTIFACT_VERIFIER,
      image: this.options.artifactVerifierImage ?? "busybox:1.36",
      command: ["sh", "-c", ARTIFACT_VERIFY_SCRIPT],
      env: [
        { name: "ENCLAVE_ARTIFACT_PATH", value: location.value },
        { name: "ENCLAVE_ARTIFACT_SHA256", value: expected },
      ],
      terminationMessagePolicy: "File",
      volumeMounts: [{ name: "models", mountPath: this.options.modelVolume.mountPath, readOnly: true }],
    };
  }

  private podSpec(spec: ReplicaSpec, container: V1Container): V1PodSpec {
    const resource = this.gpuResourceFor(spec.gpu.type);
    const verifier = this.artifactVerifier(spec);
    return {
      ...(verifier ? { initContainers: [verifier] } : {}),
      containers: [container],
      nodeSelector: { [this.options.gpuTypeLabel]: spec.gpu.type },
      // GPU nodes are commonly tainted with their resource name so only GPU workloads land there.
      tolerations: [{ key: resource, operator: "Exists", effect: "NoSchedule" }],
      // Model servers never talk to the Kubernetes API; do not hand them a token.
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      ...(this.options.modelVolume ? { volumes: [{ ...this.options.modelVolume.source, name: "models" }] } : {}),
    };
  }

  private deploymentFor(spec: ReplicaSpec, namespace: string, container: V1Container): V1Deployment {
    const labels = this.labels(spec);
    return {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: replicaObjectName(spec.replicaId), namespace, labels, annotations: this.annotations(spec) },
      spec: {
        // Always 1: Enclave counts replicas itself (one DeploymentReplica row = one Deployment).
        replicas: 1,
        selector: { matchLabels: { [LABELS.managedBy]: MANAGED_BY, [LABELS.replicaId]: spec.replicaId } },
        // Recreate, not RollingUpdate: a surge pod would need a second set of GPUs.
        strategy: { type: "Recreate" },
        progressDeadlineSeconds: this.options.progressDeadlineSeconds,
        template: { metadata: { labels, annotations: this.annotations(spec) }, spec: this.podSpec(spec, container) },
      },
    };
  }

  private serviceFor(spec: ReplicaSpec, namespace: string): V1Service {
    return {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: replicaObjectName(spec.replicaId), namespace, labels: this.labels(spec) },
      spec: {
        type: "ClusterIP",
        selector: { [LABELS.managedBy]: MANAGED_BY, [LABELS.replicaId]: spec.replicaId },
        ports: [{ name: "http", port: 80, targetPort: MODEL_PORT, protocol: "TCP" }],
      },
    };
  }

  private inferenceServiceFor(spec: ReplicaSpec, namespace: string, container: V1Container): InferenceService {
    // Knative (KServe's Serverless mode) rejects named ports other than http1/h2c: use numbers there.
    const kserveContainer: V1Container = {
      ...container,
      name: "kserve-container",
      ports: [{ containerPort: MODEL_PORT, protocol: "TCP" }],
      readinessProbe: { ...container.readinessProbe, httpGet: { path: "/health", port: MODEL_PORT } },
    };
    const { containers, ...podSpec } = this.podSpec(spec, kserveContainer);
    const mode = this.options.kserveDeploymentMode;
    return {
      apiVersion: `${KSERVE.group}/${KSERVE.version}`,
      kind: "InferenceService",
      metadata: {
        name: replicaObjectName(spec.replicaId),
        namespace,
        labels: this.labels(spec),
        annotations: { ...this.annotations(spec), ...(mode ? { "serving.kserve.io/deploymentMode": mode } : {}) },
      },
      spec: {
        // KServe would otherwise autoscale (even to zero); Enclave counts replicas itself.
        predictor: { minReplicas: 1, maxReplicas: 1, labels: this.labels(spec), containers, ...podSpec },
      },
    };
  }

  private async ensureNamespace(namespace: string, tenant: string): Promise<void> {
    const existing = await this.ensure<V1Namespace>(
      `Namespace ${namespace}`,
      () => this.core.readNamespace({ name: namespace }),
      () =>
        this.core.createNamespace({
          body: {
            apiVersion: "v1",
            kind: "Namespace",
            metadata: {
              name: namespace,
              // Pod Security "baseline": tenants' model servers never need privileged pods or host access.
              labels: { [LABELS.managedBy]: MANAGED_BY, [LABELS.tenant]: tenant, "pod-security.kubernetes.io/enforce": "baseline" },
            },
          },
        }),
    );
    if (existing.status?.phase === "Terminating") {
      throw new DriverError(`Kubernetes namespace ${namespace} is still being deleted; the replica will be created once it is gone`, true);
    }
  }

  private async ensureQuota(namespace: string, spec: ReplicaSpec): Promise<void> {
    const limit = this.options.quotaGpusByTenant?.(spec.tenant);
    if (limit === undefined) return;
    const key = `requests.${this.gpuResourceFor(spec.gpu.type)}`;
    const body = (hard: Record<string, string>, resourceVersion?: string): V1ResourceQuota => ({
      apiVersion: "v1",
      kind: "ResourceQuota",
      metadata: { name: QUOTA_NAME, namespace, labels: { [LABELS.managedBy]: MANAGED_BY, [LABELS.tenant]: spec.tenant }, ...(resourceVersion ? { resourceVersion } : {}) },
      spec: { hard },
    });
    const quota = await this.ensure(
      `ResourceQuota ${namespace}/${QUOTA_NAME}`,
      () => this.core.readNamespacedResourceQuota({ name: QUOTA_NAME, namespace }),
      () => this.core.createNamespacedResourceQuota({ namespace, body: body({ [key]: String(limit) }) }),
    );
    const hard = (quota.spec?.hard ?? {}) as Record<string, string>;
    if (hard[key] === String(limit)) return;
    // The tenant's quota changed (or another vendor's GPUs joined): rewrite the one key, keep the others.
    await this.call(`update ResourceQuota ${namespace}/${QUOTA_NAME}`, () =>
      this.core.replaceNamespacedResourceQuota({ name: QUOTA_NAME, namespace, body: body({ ...hard, [key]: String(limit) }, quota.metadata?.resourceVersion) }),
    );
  }

  // ----- what is observed -----

  private async podsOf(namespace: string, replicaId: string): Promise<V1Pod[]> {
    const labelSelector = `${LABELS.managedBy}=${MANAGED_BY},${LABELS.replicaId}=${replicaId}`;
    return (await this.call(`list pods in ${namespace}`, () => this.core.listNamespacedPod({ namespace, labelSelector }))).items;
  }

  private fromDeployment(d: V1Deployment, pods: V1Pod[]): ObservedReplica | null {
    const base = this.base(d.metadata?.labels, d.metadata?.namespace, d.metadata?.name, d.metadata?.creationTimestamp);
    if (!base) return null;
    const endpoint = `http://${d.metadata?.name}.${d.metadata?.namespace}.svc.cluster.local`;
    const verified = (d.spec?.template?.spec?.initContainers ?? []).some((c) => c.name === ARTIFACT_VERIFIER);
    return withArtifactCheck({ ...base, endpoint, ...deploymentPhase(d, pods) }, d.metadata?.annotations?.["enclave.eu/artifact-sha256"], verified, pods);
  }

  private fromInferenceService(i: InferenceService, pods: V1Pod[]): ObservedReplica | null {
    const base = this.base(i.metadata.labels, i.metadata.namespace, i.metadata.name, i.metadata.creationTimestamp);
    if (!base) return null;
    const state = inferenceServicePhase(i, pods);
    const verified = (i.spec.predictor.initContainers ?? []).some((c) => c.name === ARTIFACT_VERIFIER);
    return withArtifactCheck({ ...base, ...state }, i.metadata.annotations?.["enclave.eu/artifact-sha256"], verified, pods);
  }

  private base(labels: Record<string, string> | undefined, namespace: string | undefined, name: string | undefined, created: Date | string | undefined) {
    const replicaId = labels?.[LABELS.replicaId];
    const deploymentId = labels?.[LABELS.deploymentId];
    if (!replicaId || !deploymentId) return null; // Not ours to report: no replica row can own it.
    const startedAt = created ? new Date(created) : undefined;
    return { replicaId, deploymentId, revision: Number(labels?.[LABELS.revision] ?? 0), clusterRef: `${namespace}/${name}`, ...(startedAt ? { startedAt } : {}) };
  }

  private unlabelled(spec: ReplicaSpec, where: string): ObservedReplica {
    // Someone else's object holds our name: report it failed rather than adopt or overwrite it.
    return { replicaId: spec.replicaId, deploymentId: spec.deploymentId, revision: spec.revision, clusterRef: where, phase: "failed", message: `${where} exists but is not labelled as an Enclave replica` };
  }

  // ----- API plumbing -----

  /** Reads the object, creating it when absent; a concurrent create (409) means it exists now. */
  private async ensure<T>(what: string, read: () => Promise<T>, create: () => Promise<T>): Promise<T> {
    const existing = await this.readOrNull(what, read);
    if (existing) return existing;
    try {
      return await create();
    } catch (error) {
      if (statusCode(error) === 409) {
        const now = await this.readOrNull(what, read);
        if (now) return now;
      }
      throw toDriverError(`create ${what}`, error);
    }
  }

  private async readOrNull<T>(what: string, read: () => Promise<T>): Promise<T | null> {
    try {
      return await read();
    } catch (error) {
      if (statusCode(error) === 404) return null;
      throw toDriverError(`read ${what}`, error);
    }
  }

  private async ignoreNotFound(action: string, run: () => Promise<unknown>): Promise<void> {
    try {
      await run();
    } catch (error) {
      if (statusCode(error) !== 404) throw toDriverError(action, error);
    }
  }

  private async call<T>(action: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw toDriverError(action, error);
    }
  }
}

// ----- pure helpers (exported for tests and for the docs' claims) -----

export const ARTIFACT_VERIFIER = "verify-artifact";
/** The init container's check: the reason goes to its termination message, which the driver reports. */
export const ARTIFACT_VERIFY_SCRIPT = [
  'actual="$(sha256sum "$ENCLAVE_ARTIFACT_PATH" | cut -d " " -f 1)" || { echo "artifact $ENCLAVE_ARTIFACT_PATH could not be read to verify its sha256" | tee /dev/termination-log >&2; exit ' + ARTIFACT_MISMATCH_EXIT + "; }",
  'if [ "$actual" != "$ENCLAVE_ARTIFACT_SHA256" ]; then echo "artifact sha256 mismatch: the catalog says $ENCLAVE_ARTIFACT_SHA256, the file is $actual" | tee /dev/termination-log >&2; exit ' + ARTIFACT_MISMATCH_EXIT + "; fi",
].join("\n");

/** The verifier init container's refusal in a replica's pods, if any (now, or before its last restart). */
export function artifactRefusal(pods: V1Pod[]): { message: string; sha256: string | null } | null {
  for (const pod of pods) {
    for (const status of pod.status?.initContainerStatuses ?? []) {
      if (status.name !== ARTIFACT_VERIFIER) continue;
      for (const terminated of [status.state?.terminated, status.lastState?.terminated]) {
        if (terminated?.exitCode !== ARTIFACT_MISMATCH_EXIT) continue;
        const message = terminated.message?.trim() || "artifact sha256 mismatch: the file on the model volume is not the catalog's";
        return { message, sha256: /the file is ([0-9a-f]{64})/.exec(message)?.[1] ?? null };
      }
    }
  }
  return null;
}

/** Adds what the driver knows of the artifact's check; a refusal by the verifier fails the replica with its reason. */
function withArtifactCheck(observed: ObservedReplica, annotated: string | undefined, verifierInPod: boolean, pods: V1Pod[]): ObservedReplica {
  const expected = expectedDigest(annotated);
  const checkedAt = observed.startedAt ?? new Date();
  const refusal = verifierInPod ? artifactRefusal(pods) : null;
  const check = (c: Omit<ArtifactCheck, "checkedAt" | "checkedBy">): ArtifactCheck => ({ ...c, checkedAt, checkedBy: "kubernetes-init-container" });
  if (refusal && expected) {
    return { ...observed, phase: "failed", message: refusal.message, artifact: check({ status: "mismatch", sha256: refusal.sha256, expectedSha256: expected, note: refusal.message }) };
  }
  if (observed.phase !== "ready") return observed;
  if (verifierInPod && expected) return { ...observed, artifact: check({ status: "verified", sha256: expected, expectedSha256: expected, note: "an init container checked the file's sha256 against the catalog's before the model server started" }) };
  if (!expected) return { ...observed, artifact: check({ status: "unverified", sha256: null, expectedSha256: null, note: UNVERIFIED_NOTE }) };
  return { ...observed, artifact: check({ status: "unverified", sha256: null, expectedSha256: expected, note: "unverified: the model server downloads a repository (hf://), not one file the catalog's digest could cover" }) };
}

/** Command-line arguments per runtime image; every server listens on 8080 and answers GET /health. */
export function modelServerArgs(spec: ReplicaSpec, model: { kind: "hf" | "path"; value: string }): string[] {
  const port = String(MODEL_PORT);
  const ctx = String(spec.model.contextLength);
  switch (spec.model.runtime) {
    case "LLAMA_CPP":
      return [...(model.kind === "hf" ? ["--hf-repo", model.value] : ["--model", model.value]), "--alias", spec.servedModelName, "--host", "0.0.0.0", "--port", port, "--ctx-size", ctx, "--n-gpu-layers", "999"];
    case "VLLM":
      return ["--model", model.value, "--served-model-name", spec.servedModelName, "--host", "0.0.0.0", "--port", port, "--max-model-len", ctx, "--tensor-parallel-size", String(Math.max(1, spec.gpu.count))];
    case "TGI":
      return ["--model-id", model.value, "--hostname", "0.0.0.0", "--port", port, "--max-total-tokens", ctx, "--max-input-tokens", String(Math.max(1, spec.model.contextLength - 1)), "--num-shard", String(Math.max(1, spec.gpu.count))];
  }
}

type PhaseAndMessage = { phase: ReplicaPhase; message?: string };

/** Deployment status → phase. `Available=False` alone is normal while a replica starts, so it is not a failure. */
export function deploymentPhase(d: V1Deployment, pods: V1Pod[]): PhaseAndMessage {
  if (d.metadata?.deletionTimestamp) return { phase: "stopped", message: "being deleted" };
  if ((d.status?.readyReplicas ?? 0) >= 1) return { phase: "ready" };
  const conditions = (d.status?.conditions ?? []) as KubeCondition[];
  const progressing = conditions.find((c) => c.type === "Progressing");
  if (progressing?.status === "False") return { phase: "failed", message: conditionText(progressing) };
  const replicaFailure = conditions.find((c) => c.type === "ReplicaFailure" && c.status === "True");
  if (replicaFailure) return { phase: "failed", message: conditionText(replicaFailure) };
  const available = conditions.find((c) => c.type === "Available" && c.status === "False");
  return podPhase(pods, available ? conditionText(available) : undefined);
}

const KSERVE_FAILURE_REASONS = new Set(["ProgressDeadlineExceeded", "RevisionFailed", "FailedCreate", "InvalidSpec"]);

/** InferenceService status → phase: Ready=True with a URL is ready; failed loads and dead rollouts are failures. */
export function inferenceServicePhase(i: InferenceService, pods: V1Pod[]): PhaseAndMessage & { endpoint?: string } {
  if (i.metadata.deletionTimestamp) return { phase: "stopped", message: "being deleted" };
  const conditions = i.status?.conditions ?? [];
  const url = i.status?.url ?? i.status?.address?.url;
  const ready = conditions.find((c) => c.type === "Ready");
  if (ready?.status === "True" && url) return { phase: "ready", endpoint: url };
  const model = i.status?.modelStatus;
  if (model?.transitionStatus === "BlockedByFailedLoad" || model?.transitionStatus === "InvalidSpec") {
    const info = model.lastFailureInfo;
    return { phase: "failed", message: [info?.reason, info?.message].filter(Boolean).join(": ") || model.transitionStatus };
  }
  const failure = conditions.find((c) => c.status === "False" && KSERVE_FAILURE_REASONS.has(c.reason ?? ""));
  if (failure) return { phase: "failed", message: conditionText(failure) };
  return { ...podPhase(pods, ready && ready.status !== "True" && (ready.reason || ready.message) ? conditionText(ready) : undefined), ...(url ? { endpoint: url } : {}) };
}

/** Not ready and not failed: pending until a pod is scheduled onto a node, starting after. */
function podPhase(pods: V1Pod[], fallback: string | undefined): PhaseAndMessage {
  if (pods.length === 0) return { phase: "pending", message: fallback ?? "waiting for a pod to be created" };
  const scheduled = pods.filter((p) => p.spec?.nodeName || (p.status?.conditions ?? []).some((c) => c.type === "PodScheduled" && c.status === "True"));
  if (scheduled.length === 0) {
    const unschedulable = pods.flatMap((p) => p.status?.conditions ?? []).find((c) => c.type === "PodScheduled" && c.status === "False");
    return { phase: "pending", message: unschedulable?.message ?? fallback ?? "waiting for the scheduler" };
  }
  const waiting = scheduled.flatMap((p) => p.status?.containerStatuses ?? []).find((s) => s.state?.waiting)?.state?.waiting;
  const message = waiting ? [waiting.reason, waiting.message].filter(Boolean).join(": ") : fallback;
  return { phase: "starting", ...(message ? { message } : {}) };
}

function conditionText(c: KubeCondition): string {
  return [c.reason, c.message].filter(Boolean).join(": ") || `${c.type}=${c.status}`;
}

/** Effective pod request: max(sum of containers, largest init container), like the scheduler. */
function podRequest(pod: V1Pod, resource: string): number {
  const of = (c: V1Container) => quantity(c.resources?.requests?.[resource] ?? c.resources?.limits?.[resource]);
  const sum = (pod.spec?.containers ?? []).reduce((n, c) => n + of(c), 0);
  const init = Math.max(0, ...(pod.spec?.initContainers ?? []).map(of));
  return Math.max(sum, init);
}

function podResourceNames(pod: V1Pod): Set<string> {
  const names = new Set<string>();
  for (const c of [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])]) {
    for (const key of Object.keys({ ...c.resources?.limits, ...c.resources?.requests })) names.add(key);
  }
  return names;
}

/** Device counts are whole numbers; anything else (e.g. "500m") is not a device count. */
function quantity(value: string | undefined): number {
  if (value === undefined) return 0;
  const n = Number(value);
  return Number.isFinite(n) && n >= 0 ? Math.floor(n) : 0;
}

function nameAndNamespace(meta: { name?: string; namespace?: string } | undefined): { name: string; namespace: string } {
  return { name: meta?.name ?? "", namespace: meta?.namespace ?? "" };
}

function ref(meta: { name?: string; namespace?: string } | undefined): string {
  return `${meta?.namespace ?? ""}/${meta?.name ?? ""}`;
}

function kubeConfigFor(connection: KubernetesConnection): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "enclave", server: connection.server, caData: connection.caData, skipTLSVerify: connection.skipTLSVerify ?? false }],
    users: [{ name: "enclave", token: connection.token }],
    contexts: [{ name: "enclave", cluster: "enclave", user: "enclave" }],
    currentContext: "enclave",
  });
  return kc;
}

function statusCode(error: unknown): number | undefined {
  return error instanceof ApiException ? error.code : undefined;
}

const CONNECTION_ERRORS = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "UND_ERR_SOCKET"]);

/** API failures as DriverErrors: the HTTP status and Kubernetes' own message; retry only what may pass later. */
export function toDriverError(action: string, error: unknown): DriverError {
  if (error instanceof DriverError) return error;
  if (error instanceof ApiException) {
    const status = parseStatus(error.body);
    const code = error.code;
    const reason = status?.reason || HTTP_REASONS[code] || "Error";
    const detail = status?.message && status.message !== reason ? `: ${status.message}` : "";
    return new DriverError(`Kubernetes API could not ${action}: ${code} ${reason}${detail}`, code >= 500 || code === 429 || code === 408);
  }
  const e = error as { name?: string; code?: string; type?: string; message?: string };
  if (e?.name === "AbortError" || e?.type === "aborted") return new DriverError(`Kubernetes API could not ${action}: the request timed out`, true);
  if (error instanceof FetchError || (e?.code && CONNECTION_ERRORS.has(e.code))) {
    // The code, not node-fetch's message: that one contains the API server's URL.
    return new DriverError(`Kubernetes API could not ${action}: cannot reach the API server (${e.code ?? e.type ?? "network error"})`, true);
  }
  return new DriverError(`Kubernetes API could not ${action}: ${e?.message ?? String(error)}`, false);
}

const HTTP_REASONS: Record<number, string> = { 400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "Conflict", 422: "Invalid", 429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout" };

function parseStatus(body: unknown): { reason?: string; message?: string } | undefined {
  let value = body;
  if (typeof body === "string") {
    try {
      value = JSON.parse(body);
    } catch {
      // Not a Status (e.g. a proxy's HTML page): keep a bounded excerpt.
      return body ? { message: body.slice(0, 500) } : undefined;
    }
  }
  if (typeof value !== "object" || value === null) return undefined;
  const s = value as { reason?: unknown; message?: unknown };
  return { reason: typeof s.reason === "string" ? s.reason : undefined, message: typeof s.message === "string" ? s.message : undefined };
}
