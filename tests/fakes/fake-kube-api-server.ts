/**
 * A FAKE Kubernetes API server for tests — not Kubernetes. No real API server can run on this
 * machine, so the Kubernetes driver is tested against this: plain HTTP (node:http), objects kept in
 * memory, and only the paths the driver uses (namespaces, resourcequotas, services, pods, nodes,
 * apps/v1 deployments, serving.kserve.io/v1beta1 inferenceservices).
 *
 * It is a *checking* fake: every request is validated the way the real API server would reject it
 * (bearer token → 401, apiVersion/kind/namespace mismatch → 400, invalid names/labels, GPU limits ≠
 * requests, selector ≠ template labels, unknown probe ports → 422, duplicates → 409, missing → 404,
 * create in a missing namespace → 404), errors carry a Kubernetes `Status` body, and every request
 * is recorded so tests can count and inspect them. Controllers do not exist here: tests play the
 * deployment controller / scheduler / KServe by setting status (`setStatus`) and adding pods/nodes.
 *
 * What it cannot prove: scheduling, image pulls, device plugins, admission webhooks, quota
 * enforcement, garbage collection (deletes are immediate), watches, server-side apply.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { randomUUID } from "node:crypto";
import type { V1Container, V1Deployment, V1Pod, V1ResourceQuota, V1Service } from "@kubernetes/client-node";

/** An object as JSON on the wire (timestamps are strings here, unlike the client's deserialised models). */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    [field: string]: unknown;
  };
  spec?: unknown;
  status?: unknown;
  [field: string]: unknown;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body?: unknown;
  /** HTTP status the fake answered with; -1 for a dropped connection, 0 while unanswered. */
  status: number;
}

/** A scripted failure for the next matching request(s): a Status reply, a dropped connection, or no answer at all. */
export type InjectedFailure =
  | { code: number; reason: string; message: string; times?: number; method?: string; path?: RegExp }
  | { reset: true; times?: number; method?: string; path?: RegExp }
  | { stall: true; times?: number; method?: string; path?: RegExp };

interface ResourceType {
  prefix: string;
  apiVersion: string;
  plural: string;
  kind: string;
  namespaced: boolean;
  /** Name rule the real API server (or the CRD's webhook) applies. */
  nameRule: "dns1123label" | "dns1035label";
  validate?: (obj: KubeObject) => Cause[];
  defaults?: (obj: KubeObject) => void;
}

interface Cause {
  field: string;
  message: string;
}

class HttpError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly causes: Cause[] = [],
    readonly details?: { name?: string; kind?: string; group?: string },
  ) {
    super(message);
  }
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const QUANTITY = /^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;

const RESOURCES: ResourceType[] = [
  { prefix: "/api/v1", apiVersion: "v1", plural: "namespaces", kind: "Namespace", namespaced: false, nameRule: "dns1123label", defaults: (o) => (o.status = { phase: "Active" }) },
  { prefix: "/api/v1", apiVersion: "v1", plural: "nodes", kind: "Node", namespaced: false, nameRule: "dns1123label" },
  { prefix: "/api/v1", apiVersion: "v1", plural: "resourcequotas", kind: "ResourceQuota", namespaced: true, nameRule: "dns1123label", validate: validateQuota },
  { prefix: "/api/v1", apiVersion: "v1", plural: "services", kind: "Service", namespaced: true, nameRule: "dns1035label", validate: validateService, defaults: defaultService },
  { prefix: "/api/v1", apiVersion: "v1", plural: "pods", kind: "Pod", namespaced: true, nameRule: "dns1123label", validate: validatePod },
  { prefix: "/apis/apps/v1", apiVersion: "apps/v1", plural: "deployments", kind: "Deployment", namespaced: true, nameRule: "dns1123label", validate: validateDeployment, defaults: (o) => (o.status = {}) },
  // KServe's webhook requires a leading letter (InvalidISVCNameFormatError), i.e. a DNS-1035 label.
  { prefix: "/apis/serving.kserve.io/v1beta1", apiVersion: "serving.kserve.io/v1beta1", plural: "inferenceservices", kind: "InferenceService", namespaced: true, nameRule: "dns1035label", validate: validateInferenceService, defaults: (o) => (o.status = {}) },
];

export class FakeKubeApiServer {
  readonly requests: RecordedRequest[] = [];
  private readonly objects = new Map<string, KubeObject>();
  private readonly failures: InjectedFailure[] = [];
  private readonly hooks: { method?: string; path?: RegExp; run: (body: unknown) => void }[] = [];
  private resourceVersion = 1000;
  private nextClusterIp = 10;

  private constructor(
    private readonly server: http.Server,
    readonly url: string,
    readonly token: string,
  ) {}

  /** Starts the fake on 127.0.0.1 on a free port. */
  static async start(options: { token?: string } = {}): Promise<FakeKubeApiServer> {
    const token = options.token ?? `fake-token-${randomUUID()}`;
    let fake: FakeKubeApiServer | null = null;
    const server = http.createServer((req, res) => void fake?.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    fake = new FakeKubeApiServer(server, `http://127.0.0.1:${port}`, token);
    return fake;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ----- test controls (what the controllers, scheduler and cluster admin would do) -----

  /** Makes the next matching request(s) fail, e.g. a 403 from RBAC or a 503 from an overloaded server. */
  failNext(failure: InjectedFailure): void {
    this.failures.push({ times: 1, ...failure });
  }

  /** Runs `run` once, just before the next matching request is served (e.g. another worker wins a create race). */
  beforeNext(match: { method?: string; path?: RegExp }, run: (body: unknown) => void): void {
    this.hooks.push({ ...match, run });
  }

  /** Stores an object as if someone else created it (nodes, pods); validated like a create. */
  seed(plural: string, obj: KubeObject): KubeObject {
    const type = resourceByPlural(plural);
    const namespace = type.namespaced ? (obj.metadata.namespace ?? "default") : undefined;
    return this.create(type, namespace, { apiVersion: type.apiVersion, kind: type.kind, ...obj });
  }

  /** Replaces (merges at top level) an object's status, as its controller would. */
  setStatus(plural: string, namespace: string | undefined, name: string, status: Record<string, unknown>): KubeObject {
    const obj = this.get(plural, namespace, name);
    if (!obj) throw new Error(`fake: no ${plural} ${namespace ?? ""}/${name} to set status on`);
    obj.status = { ...(obj.status as Record<string, unknown> | undefined), ...status };
    obj.metadata.resourceVersion = String(++this.resourceVersion);
    return obj;
  }

  /** Changes an object in place, as a controller would (e.g. the scheduler binding a pod to a node). */
  update(plural: string, namespace: string | undefined, name: string, mutate: (obj: KubeObject) => void): KubeObject {
    const obj = this.get(plural, namespace, name);
    if (!obj) throw new Error(`fake: no ${plural} ${namespace ?? ""}/${name} to update`);
    mutate(obj);
    obj.metadata.resourceVersion = String(++this.resourceVersion);
    return obj;
  }

  get(plural: string, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.objects.get(keyOf(resourceByPlural(plural), namespace, name));
  }

  list(plural: string, namespace?: string): KubeObject[] {
    const type = resourceByPlural(plural);
    return [...this.objects.values()].filter((o) => o.kind === type.kind && (namespace === undefined || o.metadata.namespace === namespace));
  }

  /** Recorded requests, optionally only one method and/or those whose path matches. */
  requestsMatching(method?: string, path?: RegExp): RecordedRequest[] {
    return this.requests.filter((r) => (!method || r.method === method) && (!path || path.test(r.path)));
  }

  /** Successful creates (POST → 201) of one resource type. */
  creates(plural: string): RecordedRequest[] {
    return this.requests.filter((r) => r.method === "POST" && r.status === 201 && lastSegment(r.path) === plural);
  }

  // ----- HTTP -----

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://fake");
    const method = (req.method ?? "GET").toUpperCase();
    const record: RecordedRequest = { method, path: url.pathname, query: Object.fromEntries(url.searchParams), status: 0 };
    this.requests.push(record);
    let raw = "";
    try {
      raw = await readBody(req);
      if (raw) record.body = safeJson(raw);
      const hook = this.hooks.findIndex((h) => (!h.method || h.method === method) && (!h.path || h.path.test(url.pathname)));
      if (hook >= 0) this.hooks.splice(hook, 1)[0].run(record.body);
      const failure = this.takeFailure(method, url.pathname);
      if (failure && "reset" in failure) {
        record.status = -1;
        req.socket.destroy();
        return;
      }
      // Never answered; stop() closes the socket.
      if (failure && "stall" in failure) return;
      if (failure) throw new HttpError(failure.code, failure.reason, failure.message);
      if (req.headers.authorization !== `Bearer ${this.token}`) throw new HttpError(401, "Unauthorized", "Unauthorized");
      const { code, body } = this.route(method, url, req.headers["content-type"], raw);
      record.status = code;
      send(res, code, body);
    } catch (error) {
      const e = error instanceof HttpError ? error : new HttpError(500, "InternalError", `fake: ${(error as Error).message}`);
      record.status = e.code;
      send(res, e.code, statusBody(e));
    }
  }

  private takeFailure(method: string, path: string): InjectedFailure | undefined {
    const index = this.failures.findIndex((f) => (!f.method || f.method === method) && (!f.path || f.path.test(path)));
    if (index < 0) return undefined;
    const failure = this.failures[index];
    failure.times = (failure.times ?? 1) - 1;
    if (failure.times <= 0) this.failures.splice(index, 1);
    return failure;
  }

  private route(method: string, url: URL, contentType: string | undefined, raw: string): { code: number; body: unknown } {
    const { type, namespace, name, subresource } = parsePath(url.pathname);
    if (subresource) throw new HttpError(405, "MethodNotAllowed", `fake: subresource ${subresource} is set by tests through setStatus(), not over HTTP`);
    if (!name) {
      if (method === "GET") return { code: 200, body: this.listResponse(type, namespace, url.searchParams) };
      if (method === "POST") {
        if (type.namespaced && !namespace) throw new HttpError(405, "MethodNotAllowed", `the server does not allow this method on the requested resource`);
        return { code: 201, body: this.create(type, namespace, parseJsonBody(raw, contentType)) };
      }
      throw new HttpError(405, "MethodNotAllowed", `the server does not allow this method on the requested resource`);
    }
    const key = keyOf(type, namespace, name);
    const existing = this.objects.get(key);
    if (method === "GET") {
      if (!existing) throw notFound(type, name);
      return { code: 200, body: existing };
    }
    if (method === "PUT") return { code: 200, body: this.replace(type, namespace, name, parseJsonBody(raw, contentType)) };
    if (method === "DELETE") {
      const policy = url.searchParams.get("propagationPolicy");
      if (policy && !["Foreground", "Background", "Orphan"].includes(policy)) {
        throw new HttpError(400, "BadRequest", `propagationPolicy: Unsupported value: "${policy}"`);
      }
      if (!existing) throw notFound(type, name);
      this.objects.delete(key);
      // A namespace takes its objects with it (the real one does so asynchronously).
      if (type.plural === "namespaces") for (const [k, o] of this.objects) if (o.metadata.namespace === name) this.objects.delete(k);
      return { code: 200, body: { ...existing, metadata: { ...existing.metadata, deletionTimestamp: new Date().toISOString() } } };
    }
    throw new HttpError(405, "MethodNotAllowed", `the server does not allow this method on the requested resource`);
  }

  private listResponse(type: ResourceType, namespace: string | undefined, params: URLSearchParams) {
    const labelSelector = parseLabelSelector(params.get("labelSelector") ?? "");
    const fieldSelector = parseFieldSelector(type, params.get("fieldSelector") ?? "");
    const items = [...this.objects.values()].filter(
      (o) =>
        o.kind === type.kind &&
        (!namespace || o.metadata.namespace === namespace) &&
        labelSelector.every((req) => req(o.metadata.labels ?? {})) &&
        fieldSelector.every((req) => req(o)),
    );
    return { apiVersion: type.apiVersion, kind: `${type.kind}List`, metadata: { resourceVersion: String(this.resourceVersion) }, items };
  }

  private create(type: ResourceType, namespace: string | undefined, body: KubeObject): KubeObject {
    this.checkIdentity(type, namespace, body);
    const name = body.metadata.name;
    if (namespace && !this.objects.has(keyOf(resourceByPlural("namespaces"), undefined, namespace))) {
      throw new HttpError(404, "NotFound", `namespaces "${namespace}" not found`, [], { name: namespace, kind: "namespaces" });
    }
    const key = keyOf(type, namespace, name);
    if (this.objects.has(key)) {
      throw new HttpError(409, "AlreadyExists", `${type.plural}${groupSuffix(type)} "${name}" already exists`, [], { name, kind: type.plural });
    }
    const obj: KubeObject = structuredClone(body);
    obj.metadata = {
      ...obj.metadata,
      ...(namespace ? { namespace } : {}),
      uid: randomUUID(),
      resourceVersion: String(++this.resourceVersion),
      generation: 1,
      creationTimestamp: new Date().toISOString(),
    };
    const seededStatus = body.status;
    type.defaults?.(obj);
    // Seeded objects (nodes, pods) arrive with the status their kubelet would report.
    if (seededStatus !== undefined) obj.status = seededStatus;
    this.objects.set(key, obj);
    return obj;
  }

  private replace(type: ResourceType, namespace: string | undefined, name: string, body: KubeObject): KubeObject {
    this.checkIdentity(type, namespace, body);
    if (body.metadata.name !== name) throw new HttpError(400, "BadRequest", `the name of the object (${body.metadata.name}) does not match the name on the URL (${name})`);
    const key = keyOf(type, namespace, name);
    const existing = this.objects.get(key);
    if (!existing) throw notFound(type, name);
    if (body.metadata.resourceVersion && body.metadata.resourceVersion !== existing.metadata.resourceVersion) {
      throw new HttpError(409, "Conflict", `Operation cannot be fulfilled on ${type.plural} "${name}": the object has been modified; please apply your changes to the latest version and try again`);
    }
    // Status is a subresource: a PUT on the main resource cannot change it.
    const obj: KubeObject = { ...structuredClone(body), status: existing.status };
    obj.metadata = { ...obj.metadata, uid: existing.metadata.uid, creationTimestamp: existing.metadata.creationTimestamp, resourceVersion: String(++this.resourceVersion) };
    this.objects.set(key, obj);
    return obj;
  }

  /** What every write must carry: matching apiVersion/kind/namespace, a valid name and labels, a valid spec. */
  private checkIdentity(type: ResourceType, namespace: string | undefined, body: KubeObject): void {
    if (body.apiVersion !== type.apiVersion) {
      throw new HttpError(400, "BadRequest", `the API version in the data (${String(body.apiVersion)}) does not match the expected API version (${type.apiVersion})`);
    }
    if (body.kind !== type.kind) throw new HttpError(400, "BadRequest", `the kind in the data (${String(body.kind)}) does not match the expected kind (${type.kind})`);
    if (body.metadata.namespace && type.namespaced && body.metadata.namespace !== namespace) {
      throw new HttpError(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request");
    }
    if (!type.namespaced && body.metadata.namespace) throw new HttpError(400, "BadRequest", `${type.kind} is cluster-scoped; metadata.namespace must be empty`);
    const causes: Cause[] = [];
    const name = body.metadata.name;
    const rule = type.nameRule === "dns1035label" ? DNS1035_LABEL : DNS1123_LABEL;
    if (typeof name !== "string" || name.length === 0) causes.push({ field: "metadata.name", message: "Required value: name or generateName is required" });
    else if (name.length > 63 || !rule.test(name)) {
      const what = type.nameRule === "dns1035label" ? "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character" : "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
      causes.push({ field: "metadata.name", message: `Invalid value: "${name}": ${what}` });
    }
    causes.push(...validateLabels("metadata.labels", body.metadata.labels));
    causes.push(...(type.validate?.(body) ?? []));
    if (causes.length > 0) {
      throw new HttpError(422, "Invalid", `${type.kind}${groupSuffix(type)} "${name}" is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(", ")}`, causes, { name, kind: type.kind });
    }
  }
}

// ----- validation shared with the real API server's rules (the subset the driver can trip) -----

function validateLabels(field: string, labels: Record<string, string> | undefined): Cause[] {
  const causes: Cause[] = [];
  for (const [key, value] of Object.entries(labels ?? {})) {
    const slash = key.lastIndexOf("/");
    const prefix = slash >= 0 ? key.slice(0, slash) : "";
    const name = slash >= 0 ? key.slice(slash + 1) : key;
    if ((prefix && (prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix))) || name.length > 63 || !LABEL_NAME.test(name)) {
      causes.push({ field, message: `Invalid value: "${key}": name part must consist of alphanumeric characters, '-', '_' or '.'` });
    }
    if (typeof value !== "string" || value.length > 63 || (value !== "" && !LABEL_NAME.test(value))) {
      causes.push({ field: `${field}`, message: `Invalid value: "${String(value)}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.'` });
    }
  }
  return causes;
}

/** Extended resources (vendor GPUs): requests must equal limits, and a request needs a limit. */
function validateContainers(field: string, containers: V1Container[] | undefined): Cause[] {
  if (!Array.isArray(containers) || containers.length === 0) return [{ field, message: "Required value" }];
  const causes: Cause[] = [];
  containers.forEach((c, i) => {
    const at = `${field}[${i}]`;
    if (!c.name || !DNS1123_LABEL.test(c.name)) causes.push({ field: `${at}.name`, message: `Invalid value: "${String(c.name)}"` });
    if (!c.image) causes.push({ field: `${at}.image`, message: "Required value" });
    const limits = (c.resources?.limits ?? {}) as Record<string, string>;
    const requests = (c.resources?.requests ?? {}) as Record<string, string>;
    for (const [resource, value] of Object.entries({ ...limits, ...requests })) {
      if (!QUANTITY.test(String(value))) causes.push({ field: `${at}.resources`, message: `Invalid value: "${String(value)}": quantities must match the regular expression` });
      if (!isExtendedResource(resource)) continue;
      if (limits[resource] === undefined) causes.push({ field: `${at}.resources.limits`, message: `Required value: Limit must be set for non overcommitable resources (${resource})` });
      else if (requests[resource] !== undefined && String(requests[resource]) !== String(limits[resource])) {
        causes.push({ field: `${at}.resources.requests[${resource}]`, message: `Invalid value: "${requests[resource]}": must be equal to ${resource} limit of ${limits[resource]}` });
      }
    }
    const probe = c.readinessProbe;
    if (probe) {
      if (!probe.httpGet && !probe.tcpSocket && !probe.exec && !probe.grpc) causes.push({ field: `${at}.readinessProbe`, message: "Required value: must specify a handler type" });
      const port = probe.httpGet?.port;
      if (typeof port === "string" && !(c.ports ?? []).some((p) => p.name === port)) {
        causes.push({ field: `${at}.readinessProbe.httpGet.port`, message: `Invalid value: "${port}": must be a named container port` });
      }
    }
  });
  return causes;
}

function isExtendedResource(name: string): boolean {
  return name.includes("/") && !name.startsWith("kubernetes.io/") && !name.startsWith("requests.");
}

function validateDeployment(obj: KubeObject): Cause[] {
  const dep = obj as unknown as V1Deployment;
  const causes: Cause[] = [];
  const selector = dep.spec?.selector?.matchLabels;
  const templateLabels = dep.spec?.template?.metadata?.labels ?? {};
  if (!selector || Object.keys(selector).length === 0) causes.push({ field: "spec.selector", message: "Required value" });
  else if (Object.entries(selector).some(([k, v]) => templateLabels[k] !== v)) {
    causes.push({ field: "spec.template.metadata.labels", message: "Invalid value: `selector` does not match template `labels`" });
  }
  if ((dep.spec?.replicas ?? 1) < 0) causes.push({ field: "spec.replicas", message: "Invalid value: must be greater than or equal to 0" });
  causes.push(...validateLabels("spec.template.metadata.labels", templateLabels));
  causes.push(...validateContainers("spec.template.spec.containers", dep.spec?.template?.spec?.containers));
  return causes;
}

function validatePod(obj: KubeObject): Cause[] {
  return validateContainers("spec.containers", (obj as unknown as V1Pod).spec?.containers);
}

function validateService(obj: KubeObject): Cause[] {
  const svc = obj as unknown as V1Service;
  const causes: Cause[] = [];
  const ports = svc.spec?.ports ?? [];
  if (ports.length === 0) causes.push({ field: "spec.ports", message: "Required value" });
  ports.forEach((p, i) => {
    if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535) causes.push({ field: `spec.ports[${i}].port`, message: `Invalid value: ${String(p.port)}` });
    if (typeof p.targetPort === "number" && (p.targetPort < 1 || p.targetPort > 65535)) causes.push({ field: `spec.ports[${i}].targetPort`, message: `Invalid value: ${p.targetPort}` });
  });
  const type = svc.spec?.type ?? "ClusterIP";
  if (!["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"].includes(type)) causes.push({ field: "spec.type", message: `Unsupported value: "${type}"` });
  causes.push(...validateLabels("spec.selector", svc.spec?.selector));
  return causes;
}

function defaultService(obj: KubeObject): void {
  const spec = (obj.spec ?? {}) as Record<string, unknown>;
  spec.type ??= "ClusterIP";
  spec.clusterIP ??= `10.96.0.${Math.floor(Math.random() * 200) + 10}`;
  obj.spec = spec;
  obj.status = { loadBalancer: {} };
}

function validateQuota(obj: KubeObject): Cause[] {
  const hard = ((obj as unknown as V1ResourceQuota).spec?.hard ?? {}) as Record<string, string>;
  return Object.entries(hard)
    .filter(([, v]) => !QUANTITY.test(String(v)))
    .map(([k, v]) => ({ field: `spec.hard[${k}]`, message: `Invalid value: "${String(v)}": quantities must match the regular expression` }));
}

function validateInferenceService(obj: KubeObject): Cause[] {
  const predictor = (obj.spec as { predictor?: { containers?: V1Container[]; minReplicas?: number; maxReplicas?: number } } | undefined)?.predictor;
  if (!predictor) return [{ field: "spec.predictor", message: "Required value" }];
  const causes = validateContainers("spec.predictor.containers", predictor.containers);
  if (predictor.minReplicas !== undefined && predictor.maxReplicas !== undefined && predictor.maxReplicas !== 0 && predictor.minReplicas > predictor.maxReplicas) {
    causes.push({ field: "spec.predictor.minReplicas", message: "'MinReplicas' cannot be greater than MaxReplicas" });
  }
  return causes;
}

// ----- selectors -----

type Requirement<T> = (value: T) => boolean;

function parseLabelSelector(selector: string): Requirement<Record<string, string>>[] {
  if (!selector) return [];
  if (/[()]|\s(in|notin)\s/.test(selector)) throw new HttpError(400, "BadRequest", `fake: set-based label selectors are not implemented: ${selector}`);
  return selector.split(",").map((part) => {
    const term = part.trim();
    let m = /^([^!=]+)!=(.*)$/.exec(term);
    if (m) {
      const [key, value] = [m[1].trim(), m[2].trim()];
      return (labels) => labels[key] !== value;
    }
    m = /^([^!=]+)==?(.*)$/.exec(term);
    if (m) {
      const [key, value] = [m[1].trim(), m[2].trim()];
      if (value.length > 63 || (value !== "" && !LABEL_NAME.test(value))) throw new HttpError(400, "BadRequest", `unable to parse requirement: invalid label value: "${value}"`);
      return (labels) => labels[key] === value;
    }
    if (term.startsWith("!")) return (labels) => !(term.slice(1) in labels);
    return (labels) => term in labels;
  });
}

const FIELD_SELECTORS: Record<string, string[]> = {
  pods: ["metadata.name", "metadata.namespace", "status.phase", "spec.nodeName"],
};

function parseFieldSelector(type: ResourceType, selector: string): Requirement<KubeObject>[] {
  if (!selector) return [];
  const allowed = FIELD_SELECTORS[type.plural] ?? ["metadata.name", "metadata.namespace"];
  return selector.split(",").map((term) => {
    const m = /^([^!=]+)(!=|==|=)(.*)$/.exec(term.trim());
    if (!m) throw new HttpError(400, "BadRequest", `invalid field selector: ${term}`);
    const [, field, op, value] = m;
    if (!allowed.includes(field)) throw new HttpError(400, "BadRequest", `field label not supported: ${field}`);
    const read = (o: KubeObject) => String(field.split(".").reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], o) ?? "");
    return op === "!=" ? (o) => read(o) !== value : (o) => read(o) === value;
  });
}

// ----- plumbing -----

function resourceByPlural(plural: string): ResourceType {
  const type = RESOURCES.find((r) => r.plural === plural);
  if (!type) throw new Error(`fake: unknown resource ${plural}`);
  return type;
}

function parsePath(pathname: string): { type: ResourceType; namespace?: string; name?: string; subresource?: string } {
  const prefix = RESOURCES.map((r) => r.prefix).find((p) => pathname === p || pathname.startsWith(`${p}/`));
  if (!prefix) throw new HttpError(404, "NotFound", `the server could not find the requested resource (${pathname})`);
  const segments = pathname.slice(prefix.length).split("/").filter(Boolean).map(decodeURIComponent);
  const find = (plural: string | undefined, namespaced: boolean) => RESOURCES.find((r) => r.prefix === prefix && r.plural === plural && r.namespaced === namespaced);
  // /namespaces/{ns}/{plural}[/{name}[/{sub}]]
  if (segments[0] === "namespaces" && segments.length >= 3) {
    const type = find(segments[2], true);
    if (type && segments.length <= 5) return { type, namespace: segments[1], name: segments[3], subresource: segments[4] };
  } else if (segments.length >= 1 && segments.length <= 3) {
    const clusterScoped = find(segments[0], false);
    if (clusterScoped) return { type: clusterScoped, name: segments[1], subresource: segments[2] };
    // /{plural} of a namespaced resource: a list across all namespaces.
    const namespaced = find(segments[0], true);
    if (namespaced && segments.length === 1) return { type: namespaced };
  }
  throw new HttpError(404, "NotFound", `the server could not find the requested resource (${pathname})`);
}

function keyOf(type: ResourceType, namespace: string | undefined, name: string): string {
  return `${type.apiVersion}/${type.plural}/${type.namespaced ? (namespace ?? "") : ""}/${name}`;
}

function groupSuffix(type: ResourceType): string {
  const group = type.apiVersion.includes("/") ? type.apiVersion.split("/")[0] : "";
  return group ? `.${group}` : "";
}

function lastSegment(path: string): string {
  return path.split("/").filter(Boolean).pop() ?? "";
}

function notFound(type: ResourceType, name: string): HttpError {
  return new HttpError(404, "NotFound", `${type.plural}${groupSuffix(type)} "${name}" not found`, [], { name, kind: type.plural });
}

function parseJsonBody(raw: string, contentType: string | undefined): KubeObject {
  if (!contentType?.startsWith("application/json")) throw new HttpError(415, "UnsupportedMediaType", `the body of the request was in an unknown format - accepted media types include: application/json (got ${String(contentType)})`);
  if (!raw) throw new HttpError(400, "BadRequest", "the body of the request is empty");
  const body = safeJson(raw);
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new HttpError(400, "BadRequest", "the body of the request is not a JSON object");
  const obj = body as KubeObject;
  if (typeof obj.metadata !== "object" || obj.metadata === null) throw new HttpError(400, "BadRequest", "metadata is required");
  return obj;
}

function safeJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    throw new HttpError(400, "BadRequest", "the body of the request is not valid JSON");
  }
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function statusBody(e: HttpError) {
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message: e.message,
    reason: e.reason,
    ...(e.details || e.causes.length > 0 ? { details: { ...e.details, ...(e.causes.length > 0 ? { causes: e.causes.map((c) => ({ reason: "FieldValueInvalid", ...c })) } : {}) } } : {}),
    code: e.code,
  };
}

function send(res: http.ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}
