/**
 * The tenant-isolation cases, one per procedure of the router: how a member of organisation B
 * calls it with organisation A's ids. Shared by the tRPC suite (tenant-isolation.test.ts) and the
 * REST suites (rest-isolation, rest-bad-input, suspended-organization), which enumerate the router
 * or the OpenAPI document and fail on a procedure or operation without a case here.
 */
import type { Tenant } from "./helpers";

export type Input = Record<string, unknown>;
export type IsolationCase =
  /** Tenant-scoped: takes `orgId`; `foreignIds` lists the other inputs that name A's objects. */
  | { scope: "org"; input: (a: Tenant) => Input; foreignIds?: string[] }
  /** Platform administration: refused to every non-admin, whatever the input. */
  | { scope: "admin"; input?: (a: Tenant) => Input }
  /** Acts on the caller's own account; A's ids must be unknown to B. */
  | { scope: "self"; input: (a: Tenant) => Input; expect: "NOT_FOUND" | "CREATES_OWN" }
  /** Shared platform offer (regions, catalog): identical for every tenant, holds no tenant data. */
  | { scope: "platform-public" }
  /** Anonymous sign-up: creates a new tenant and can reach no existing one. */
  | { scope: "anonymous" };

export const ISOLATION_CASES: Record<string, IsolationCase> = {
  "account.signUp": { scope: "anonymous" },
  "account.me": { scope: "self", input: () => ({}), expect: "CREATES_OWN" },
  "account.createOrganization": { scope: "self", input: () => ({ name: "B's second organisation" }), expect: "CREATES_OWN" },
  // Invitations are reached through their link's token only; B holds none of A's.
  "account.respondToInvitation": { scope: "self", input: () => ({ token: `inv_${"A".repeat(43)}`, accept: true }), expect: "NOT_FOUND" },
  "account.signUpWithInvitation": { scope: "anonymous" },
  "organization.overview": { scope: "org", input: () => ({}) },
  "organization.onboarding": { scope: "org", input: () => ({}) },
  "organization.rename": { scope: "org", input: () => ({ name: "Taken over" }) },
  "organization.members": { scope: "org", input: () => ({}) },
  "organization.invite": { scope: "org", input: () => ({ email: "intruder@example.test", role: "OWNER" }) },
  "organization.revokeInvitation": { scope: "org", input: (a) => ({ invitationId: a.invitation.id }), foreignIds: ["invitationId"] },
  "organization.changeRole": { scope: "org", input: (a) => ({ membershipId: a.ownerMembership.id, role: "VIEWER" }), foreignIds: ["membershipId"] },
  "organization.removeMember": { scope: "org", input: (a) => ({ membershipId: a.member.membership.id }), foreignIds: ["membershipId"] },
  "regions.list": { scope: "platform-public" },
  "regions.forOrg": { scope: "org", input: () => ({ dataClassification: "RESTRICTED" }) },
  "catalog.list": { scope: "platform-public" },
  "quotas.list": { scope: "org", input: () => ({}) },
  // Regions and GPU types are platform objects, the same for every tenant: not foreign ids.
  "quotas.request": { scope: "org", input: (a) => ({ regionId: a.region.id, gpuTypeId: a.gpuType.id, additionalGpus: 4, justification: "More GPUs for someone else's organisation" }) },
  "quotas.cancelRequest": { scope: "org", input: (a) => ({ requestId: a.quotaRequest.id }), foreignIds: ["requestId"] },
  "deployments.list": { scope: "org", input: () => ({}) },
  "deployments.get": { scope: "org", input: (a) => ({ deploymentId: a.deployment.id }), foreignIds: ["deploymentId"] },
  "evidence.deployment": { scope: "org", input: (a) => ({ deploymentId: a.deployment.id }), foreignIds: ["deploymentId"] },
  "deployments.options": { scope: "org", input: (a) => ({ catalogModelId: a.model.id, dataClassification: "INTERNAL" }) },
  "deployments.create": {
    scope: "org",
    input: (a) => ({ name: "intruder", catalogModelId: a.model.id, regionId: a.region.id, gpuTypeId: a.gpuType.id, replicas: 1, minReplicas: 1, maxReplicas: 1, dataClassification: "INTERNAL" }),
  },
  "deployments.scale": { scope: "org", input: (a) => ({ deploymentId: a.deployment.id, replicas: 2 }), foreignIds: ["deploymentId"] },
  "deployments.stop": { scope: "org", input: (a) => ({ deploymentId: a.deployment.id }), foreignIds: ["deploymentId"] },
  "deployments.start": { scope: "org", input: (a) => ({ deploymentId: a.deployment.id }), foreignIds: ["deploymentId"] },
  "deployments.retry": { scope: "org", input: (a) => ({ deploymentId: a.deployment.id }), foreignIds: ["deploymentId"] },
  "deployments.update": { scope: "org", input: (a) => ({ deploymentId: a.deployment.id, catalogModelId: a.model.id }), foreignIds: ["deploymentId"] },
  "deployments.rollback": { scope: "org", input: (a) => ({ deploymentId: a.deployment.id }), foreignIds: ["deploymentId"] },
  "deployments.delete": { scope: "org", input: (a) => ({ deploymentId: a.deployment.id }), foreignIds: ["deploymentId"] },
  "deployments.autoscaling": { scope: "org", input: (a) => ({ deploymentId: a.deployment.id }), foreignIds: ["deploymentId"] },
  "deployments.setAutoscaling": {
    scope: "org",
    input: (a) => ({ deploymentId: a.deployment.id, enabled: true, minReplicas: 0, maxReplicas: 1, targetInFlight: 4, scaleUpWindowSeconds: 0, scaleDownWindowSeconds: 60, idleTimeoutSeconds: 60 }),
    foreignIds: ["deploymentId"],
  },
  "apiKeys.list": { scope: "org", input: () => ({}) },
  "apiKeys.gatewayUrl": { scope: "org", input: () => ({}) },
  "apiKeys.create": { scope: "org", input: (a) => ({ name: "Intruder key", scopes: ["inference"], allowedDeploymentIds: [a.deployment.id] }), foreignIds: ["allowedDeploymentIds"] },
  "apiKeys.revoke": { scope: "org", input: (a) => ({ apiKeyId: a.apiKey.id }), foreignIds: ["apiKeyId"] },
  "apiKeys.rotate": { scope: "org", input: (a) => ({ apiKeyId: a.apiKey.id, graceMinutes: 60 }), foreignIds: ["apiKeyId"] },
  "apiKeys.update": { scope: "org", input: (a) => ({ apiKeyId: a.apiKey.id, rateLimitRpm: 1 }), foreignIds: ["apiKeyId"] },
  // The dashboards of one deployment (its page): another tenant's deployment is "not found".
  "usage.summary": { scope: "org", input: (a) => ({ period: "30d", deploymentId: a.deployment.id }), foreignIds: ["deploymentId"] },
  "usage.latency": { scope: "org", input: (a) => ({ period: "7d", deploymentId: a.deployment.id }), foreignIds: ["deploymentId"] },
  // Without a deployment id, so that B's own answer is checked for anything of A's.
  "usage.breakdown": { scope: "org", input: () => ({ period: "24h", by: "deployment" }) },
  "usage.guardrails": { scope: "org", input: (a) => ({ period: "7d", deploymentId: a.deployment.id }), foreignIds: ["deploymentId"] },
  // A's deployment and key as filters: B's list is empty, and nothing of A's shows.
  "traces.list": { scope: "org", input: (a) => ({ deploymentId: a.deployment.id, apiKeyId: a.apiKey.id, status: "ok", limit: 20 }) },
  "traces.get": { scope: "org", input: (a) => ({ traceId: a.trace.traceId }), foreignIds: ["traceId"] },
  // Exports (docs/export-format.md): B's list holds none of A's archives; B cannot export A.
  "exports.create": { scope: "org", input: () => ({}) },
  "exports.list": { scope: "org", input: () => ({}) },
  // The organisation's budget and webhook (docs/budgets.md): one each per organisation, reached through its id only.
  "budgets.get": { scope: "org", input: () => ({}) },
  "budgets.set": { scope: "org", input: () => ({ monthlyBudgetEur: 1, mode: "HARD", alertThresholds: [100] }) },
  "budgets.remove": { scope: "org", input: () => ({}) },
  "webhooks.get": { scope: "org", input: () => ({}) },
  "webhooks.set": { scope: "org", input: () => ({ url: "https://intruder.example/hook", enabled: true }) },
  "webhooks.rotateSecret": { scope: "org", input: () => ({}) },
  "webhooks.remove": { scope: "org", input: () => ({}) },
  "webhooks.sendTest": { scope: "org", input: () => ({}) },
  "webhooks.deliveries": { scope: "org", input: () => ({ limit: 20 }) },
  // Guardrail policies (docs/guardrails.md, "Policies"): the defaults through the organisation's id only; an
  // override through A's deployment or key, which B's organisation does not know.
  "guardrails.get": { scope: "org", input: () => ({}) },
  "guardrails.set": { scope: "org", input: () => ({ rules: { "pii.input": "block", "pii.output": "redact" }, groundedThreshold: 0.9 }) },
  "guardrails.reset": { scope: "org", input: () => ({}) },
  "guardrails.overrides": { scope: "org", input: () => ({}) },
  "guardrails.effective": { scope: "org", input: (a) => ({ deploymentId: a.deployment.id, apiKeyId: a.apiKey.id }), foreignIds: ["deploymentId", "apiKeyId"] },
  "guardrails.setDeploymentOverride": { scope: "org", input: (a) => ({ deploymentId: a.deployment.id, rules: { "pii.output": "off" } }), foreignIds: ["deploymentId"] },
  "guardrails.removeDeploymentOverride": { scope: "org", input: (a) => ({ deploymentId: a.deployment.id }), foreignIds: ["deploymentId"] },
  "guardrails.setApiKeyOverride": { scope: "org", input: (a) => ({ apiKeyId: a.apiKey.id, rules: { "schema.output": "off" } }), foreignIds: ["apiKeyId"] },
  "guardrails.removeApiKeyOverride": { scope: "org", input: (a) => ({ apiKeyId: a.apiKey.id }), foreignIds: ["apiKeyId"] },
  "compliance.auditTrail": { scope: "org", input: () => ({ limit: 100 }) },
  "compliance.verifyAuditTrail": { scope: "org", input: () => ({}) },
  "compliance.residencyPolicies": { scope: "org", input: () => ({}) },
  // The compliance dashboard and report (docs/compliance.md): the organisation's own figures only.
  "compliance.overview": { scope: "org", input: () => ({ period: "7d" }) },
  "compliance.report": { scope: "org", input: () => ({ from: new Date(Date.now() - 7 * 86_400_000).toISOString(), to: new Date(Date.now() - 60_000).toISOString() }) },
  "compliance.adminOverview": { scope: "admin", input: () => ({ period: "24h" }) },
  // Residency policies (docs/residency.md): reached through the organisation's id and a data class only.
  // The verifiable audit log (docs/audit-log.md): an organisation's own chain only; seq and sizes are positions in it.
  "audit.checkpoint": { scope: "org", input: () => ({}) },
  "audit.checkpoints": { scope: "org", input: () => ({ limit: 10 }) },
  "audit.signCheckpoint": { scope: "org", input: () => ({}) },
  "audit.inclusionProof": { scope: "org", input: () => ({ seq: 1 }) },
  "audit.consistencyProof": { scope: "org", input: () => ({ size1: 1, size2: 1 }) },
  "audit.verifierKey": { scope: "platform-public" },
  "audit.platformCheckpoint": { scope: "admin", input: () => ({}) },
  "audit.platformCheckpoints": { scope: "admin", input: () => ({ limit: 10 }) },
  "audit.signPlatformCheckpoint": { scope: "admin", input: () => ({}) },
  "audit.platformInclusionProof": { scope: "admin", input: () => ({ seq: 1 }) },
  "audit.platformConsistencyProof": { scope: "admin", input: () => ({ size1: 1, size2: 1 }) },
  "residency.put": { scope: "org", input: () => ({ dataClassification: "RESTRICTED", allowedJurisdictions: ["US"], requiredCertifications: [], allowedRegionIds: [], allowExtraterritorial: true }) },
  "residency.remove": { scope: "org", input: () => ({ dataClassification: "RESTRICTED" }) },
  "residency.impact": { scope: "org", input: () => ({ dataClassification: "INTERNAL", policy: { allowedJurisdictions: ["US"], requiredCertifications: ["SecNumCloud"], allowedRegionIds: [], allowExtraterritorial: false } }) },
  "residency.compliance": { scope: "org", input: () => ({}) },
  // Routes (docs/routes.md): the members are A's deployments. The fixture has no route of A's; model-routes.test.ts shows
  // B reaching none of A's real routes (list, change, delete); here an id of A's that no route of B has.
  "modelRoutes.list": { scope: "org", input: () => ({}) },
  "modelRoutes.create": { scope: "org", input: (a) => ({ name: "taken-over", members: [{ deploymentId: a.deployment.id, weight: 1 }] }), foreignIds: ["members"] },
  "modelRoutes.update": { scope: "org", input: (a) => ({ modelRouteId: a.deployment.id, members: [{ deploymentId: a.deployment.id, weight: 1 }] }), foreignIds: ["modelRouteId", "members"] },
  "modelRoutes.remove": { scope: "org", input: (a) => ({ modelRouteId: a.deployment.id }), foreignIds: ["modelRouteId"] },
  "admin.regions": { scope: "admin" },
  "admin.gpuTypes": { scope: "admin" },
  "admin.createRegion": { scope: "admin", input: (a) => ({ ...regionFields(a), code: "intruder-region" }) },
  "admin.updateRegion": { scope: "admin", input: (a) => ({ regionId: a.region.id, ...regionFields(a) }) },
  "admin.setRegionStatus": { scope: "admin", input: (a) => ({ regionId: a.region.id, status: "RETIRED", reason: "Taken over" }) },
  "admin.catalog": { scope: "admin" },
  "admin.createModel": { scope: "admin", input: (a) => ({ ...modelFields(a), slug: "intruder-model" }) },
  "admin.updateModel": { scope: "admin", input: (a) => ({ modelId: a.model.id, ...modelFields(a) }) },
  "admin.setModelStatus": { scope: "admin", input: (a) => ({ modelId: a.model.id, status: "DEPRECATED" }) },
  "admin.quotas": { scope: "admin" },
  "admin.setQuota": { scope: "admin", input: (a) => ({ orgId: a.org.id, regionId: a.region.id, gpuTypeId: a.gpuType.id, limitGpus: 1000 }) },
  "admin.quotaRequests": { scope: "admin" },
  "admin.decideQuotaRequest": { scope: "admin", input: (a) => ({ requestId: a.quotaRequest.id, decision: "approve" }) },
  "admin.starterQuota": { scope: "admin" },
  "admin.setStarterQuota": { scope: "admin", input: (a) => ({ entries: [{ regionId: a.region.id, gpuTypeId: a.gpuType.id, limitGpus: 1 }] }) },
  "admin.organizations": { scope: "admin" },
  "admin.setOrganizationStatus": { scope: "admin", input: (a) => ({ orgId: a.org.id, status: "SUSPENDED", reason: "Taken over" }) },
  "admin.platformAuditTrail": { scope: "admin", input: () => ({ limit: 10 }) },
  "admin.verifyPlatformAuditTrail": { scope: "admin" },
  "admin.outbox": { scope: "admin", input: () => ({ limit: 10 }) },
  "admin.outboxMessage": { scope: "admin", input: (a) => ({ mailId: a.mail.id }) },
  "admin.dashboard.capacity": { scope: "admin", input: () => ({ period: "7d" }) },
  "admin.dashboard.organizations": { scope: "admin", input: () => ({ period: "30d" }) },
  "admin.dashboard.slowestDeployments": { scope: "admin", input: () => ({ period: "24h", limit: 5 }) },
};

/** Valid admin inputs naming A's platform fixtures, so a refusal can only come from the role check. */
export function regionFields(a: Tenant) {
  return {
    code: a.region.code,
    name: "Taken over",
    provider: "Intruder",
    country: "FR",
    city: "Paris",
    jurisdiction: "FR",
    certifications: [],
    extraterritorialExposure: false,
    onPremises: false,
    driverKind: "LOCAL",
    carbonIntensityGco2Kwh: 1,
    capacities: [{ gpuTypeId: a.gpuType.id, totalGpus: 1000, priceCentsPerGpuHour: 1 }],
  };
}

export function modelFields(a: Tenant) {
  return {
    slug: a.model.slug,
    family: "test",
    name: "Taken over",
    version: "2",
    parameterCount: "1000",
    contextLength: 2048,
    license: "Apache-2.0",
    openWeights: true,
    openData: true,
    origin: "intruder",
    artifactUri: "https://intruder.example/model.gguf",
    runtime: "LLAMA_CPP",
    gpuMemoryGb: 1,
    minGpuCount: 1,
    fitsGpuTypeIds: [a.gpuType.id],
  };
}

/** Every id of A's rows, to look for in what B gets back. */
export function idsOf(a: Tenant): string[] {
  return [a.org.id, a.ownerId, a.ownerMembership.id, a.admin.user.id, a.member.membership.id, a.invitation.id, a.quota.id, a.quotaRequest.id, a.deployment.id, a.apiKey.id, a.policy.id, a.trace.traceId, a.trace.requestId];
}

// ─── The REST operations of the served OpenAPI document ─────────────────────────────────────────

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type JsonSchema = Record<string, any>;

/** One operation of the document, with where its inputs go (path, query string or JSON body). */
export interface DocOperation {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  path: string;
  operationId: string;
  /** The tRPC procedure it serves: the operationId with "-" read as "." (apiKeys-create → apiKeys.create). */
  procedure: string;
  pathParams: Record<string, JsonSchema>;
  queryParams: Record<string, JsonSchema>;
  requiredQueryParams: string[];
  /** The JSON body's schema, when the operation takes one. */
  body?: JsonSchema;
  mutating: boolean;
}

/** Operations that take a JSON body, hence POST, but write nothing (a preview): read like a GET. */
const READ_ONLY_OPERATIONS = new Set(["residency-impact"]);

export function documentOperations(doc: { paths: Record<string, Record<string, JsonSchema>> }): DocOperation[] {
  const operations: DocOperation[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (!["get", "post", "put", "patch", "delete"].includes(method)) continue;
      const params = (op.parameters ?? []) as { in: string; name: string; required?: boolean; schema: JsonSchema }[];
      operations.push({
        method: method.toUpperCase() as DocOperation["method"],
        path,
        operationId: op.operationId,
        procedure: String(op.operationId).replace(/-/g, "."),
        pathParams: Object.fromEntries(params.filter((p) => p.in === "path").map((p) => [p.name, p.schema])),
        queryParams: Object.fromEntries(params.filter((p) => p.in === "query").map((p) => [p.name, p.schema])),
        requiredQueryParams: params.filter((p) => p.in === "query" && p.required).map((p) => p.name),
        body: op.requestBody?.content?.["application/json"]?.schema,
        mutating: method !== "get" && !READ_ONLY_OPERATIONS.has(String(op.operationId)),
      });
    }
  }
  return operations;
}

/**
 * A procedure input as a REST request of `op`: the path parameters in the path, the rest in the
 * query string (GET, DELETE) or the JSON body. Refuses an input the operation has no place for.
 */
export function restRequest(op: DocOperation, input: Input | undefined): { path: string; body?: Input } {
  const rest: Input = { ...input };
  const path = op.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    if (rest[name] === undefined) throw new Error(`${op.operationId}: the input has no ${name} for the path`);
    const value = String(rest[name]);
    delete rest[name];
    return encodeURIComponent(value);
  });
  for (const key of Object.keys(rest)) if (rest[key] === undefined) delete rest[key];
  if (op.body) return { path, body: rest };
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(rest)) {
    if (!(key in op.queryParams)) throw new Error(`${op.operationId}: the operation has no parameter ${key}`);
    for (const v of Array.isArray(value) ? value : [value]) query.append(key, String(v));
  }
  const qs = query.toString();
  // Changes are sent with a JSON body, even an empty one, as a client does.
  return { path: qs ? `${path}?${qs}` : path, body: op.method === "GET" || op.method === "DELETE" ? undefined : {} };
}
