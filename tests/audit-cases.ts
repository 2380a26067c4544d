/**
 * The audit cases, one per mutation of the router: how to call it rightfully. Each case prepares
 * what the call needs (through the router or the database) and returns the call's input, who
 * makes it, and the audit chain its event goes to; the suite makes the call itself, over tRPC
 * (audit-trail.test.ts), REST (rest-audit.test.ts) or as a suspended organisation
 * (suspended-organization.test.ts). A mutation without a case here fails those suites.
 */
import { randomInt } from "node:crypto";
import { db } from "@/server/db";
import { PLATFORM_CHAIN } from "@/server/services/audit";
import { callerFor, createOrganization, createUser, gpuRegionFixture, unique, type Tenant } from "./helpers";

export type Input = Record<string, unknown>;

/**
 * Who makes the call over tRPC: a member of the tenant by role, the platform admin, another
 * person by id, or nobody (sign-up). Over REST, organisation operations are made with an API key
 * of the organisation instead.
 */
export type Person = "owner" | "admin" | "platformAdmin" | "anonymous" | { userId: string };

export interface AuditCall {
  input: Input | undefined;
  as: Person;
  /** The chain the event is written to: an organisation's id, the platform's, or read from the result. */
  chain: string | ((result: any) => string); // eslint-disable-line @typescript-eslint/no-explicit-any
  /** The client address, for anonymous calls that are throttled per address. */
  ip?: string;
}

export interface AuditEnv {
  platformAdminId: string;
}

export type AuditCase = (t: Tenant, env: AuditEnv) => Promise<AuditCall>;

/** The user id a `Person` names for tenant `t`. */
export function personId(person: Person, t: Tenant, env: AuditEnv): string | null {
  if (person === "owner") return t.ownerId;
  if (person === "admin") return t.admin.user.id;
  if (person === "platformAdmin") return env.platformAdminId;
  if (person === "anonymous") return null;
  return person.userId;
}

/** Calls `path` (e.g. "deployments.scale") on a tRPC caller. */
export function invoke(caller: ReturnType<typeof callerFor>, path: string, input: Input | undefined): Promise<unknown> {
  const fn = path.split(".").reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], caller) as (i?: Input) => Promise<unknown>;
  return fn(input);
}

const justification = "Capacity for the audit test's workload.";

/** A pending quota request of `t` in a fresh region (t's fixture region already has one pending). */
async function pendingRequest(t: Tenant) {
  const { region, gpuType } = await gpuRegionFixture();
  return callerFor(t.admin.user.id).quotas.request({ orgId: t.org.id, regionId: region.id, gpuTypeId: gpuType.id, additionalGpus: 2, justification });
}

export const regionForm = (gpuTypeId: string) => ({
  code: unique("audit-region"),
  name: "Audit region",
  provider: "Test",
  country: "FR",
  city: "Lyon",
  jurisdiction: "FR",
  certifications: ["ISO 27001"],
  extraterritorialExposure: false,
  onPremises: false,
  driverKind: "LOCAL" as const,
  carbonIntensityGco2Kwh: 40,
  capacities: [{ gpuTypeId, totalGpus: 8, priceCentsPerGpuHour: 200 }],
});

export const modelForm = (gpuTypeId: string) => ({
  slug: unique("audit-model"),
  family: "Test",
  name: "Audit model",
  version: "1",
  parameterCount: "7000000000",
  contextLength: 8192,
  license: "Apache-2.0",
  openWeights: true,
  openData: false,
  origin: "tests",
  artifactUri: "hf://example/audit-model",
  runtime: "VLLM" as const,
  gpuMemoryGb: 16,
  minGpuCount: 1,
  fitsGpuTypeIds: [gpuTypeId],
});

/** A valid input to create a deployment of `t` in its fixture region (the fixture model is made to fit the fixture GPU). */
async function deploymentInput(t: Tenant) {
  await db.catalogModel.update({ where: { id: t.model.id }, data: { fitsGpuTypes: { connect: [{ id: t.gpuType.id }] } } });
  // Room for this deployment and a scale-out, whatever the earlier cases reserved.
  await db.quota.update({ where: { id: t.quota.id }, data: { limitGpus: { increment: 2 } } });
  return {
    orgId: t.org.id,
    name: unique("audited"),
    catalogModelId: t.model.id,
    regionId: t.region.id,
    gpuTypeId: t.gpuType.id,
    replicas: 1,
    minReplicas: 1,
    maxReplicas: 2,
    dataClassification: "INTERNAL",
  };
}

/** A deployment of `t`, created through the router. */
async function deploymentOf(t: Tenant) {
  return callerFor(t.admin.user.id).deployments.create((await deploymentInput(t)) as Parameters<ReturnType<typeof callerFor>["deployments"]["create"]>[0]);
}

/** A call on a fresh deployment of `t`, after `prepare` (as t's admin) brought it to the state the call needs. */
const onDeployment =
  (extra: Input = {}, prepare?: (caller: ReturnType<typeof callerFor>, target: { orgId: string; deploymentId: string }, t: Tenant) => Promise<Input | void>): AuditCase =>
  async (t) => {
    const d = await deploymentOf(t);
    const target = { orgId: t.org.id, deploymentId: d.id };
    const more = (await prepare?.(callerFor(t.admin.user.id), target, t)) ?? {};
    return { input: { ...target, ...extra, ...more }, as: "admin", chain: t.org.id };
  };

/** Another version of the fixture model, for updates and rollbacks. */
async function newerVersion(t: Tenant) {
  const m = await db.catalogModel.findUniqueOrThrow({ where: { id: t.model.id } });
  const { id: _id, createdAt: _c, updatedAt: _u, ...fields } = m;
  return db.catalogModel.create({ data: { ...fields, version: unique("v"), fitsGpuTypes: { connect: [{ id: t.gpuType.id }] } } });
}

/** A fresh API key of `t` (an inference key, as made in the console). */
const freshKey = (t: Tenant, name: string) => callerFor(t.admin.user.id).apiKeys.create({ orgId: t.org.id, name, scopes: ["inference"], allowedDeploymentIds: [] });

/** `t`'s own guardrail defaults, set through the router when it has none. */
async function guardrailDefaultsOf(t: Tenant) {
  const existing = await db.guardrailPolicy.findFirst({ where: { orgId: t.org.id, deploymentId: null, apiKeyId: null } });
  if (existing) return existing;
  await callerFor(t.admin.user.id).guardrails.set({ orgId: t.org.id, rules: { "pii.input": "observe" } });
  return db.guardrailPolicy.findFirstOrThrow({ where: { orgId: t.org.id, deploymentId: null, apiKeyId: null } });
}

/** `t`'s webhook, enabled, created through the router when it has none. */
async function webhookOf(t: Tenant) {
  const existing = await db.webhook.findUnique({ where: { orgId: t.org.id } });
  if (existing?.enabled) return existing;
  await callerFor(t.admin.user.id).webhooks.set({ orgId: t.org.id, url: "https://hooks.example.test/enclave", enabled: true });
  return db.webhook.findUniqueOrThrow({ where: { orgId: t.org.id } });
}

// Region and catalog changes are platform actions: their events are in the platform chain.
const platform = PLATFORM_CHAIN;

export const AUDIT_CASES: Record<string, AuditCase> = {
  "deployments.create": async (t) => ({ input: await deploymentInput(t), as: "admin", chain: t.org.id }),
  "deployments.scale": onDeployment({ replicas: 2 }),
  "deployments.setAutoscaling": onDeployment({ enabled: true, minReplicas: 0, maxReplicas: 2, targetInFlight: 4, scaleUpWindowSeconds: 0, scaleDownWindowSeconds: 60, idleTimeoutSeconds: 60 }),
  "deployments.stop": onDeployment(),
  "deployments.start": onDeployment({}, async (c, i) => {
    await c.deployments.stop(i);
    await db.deployment.update({ where: { id: i.deploymentId }, data: { phase: "STOPPED" } });
  }),
  "deployments.retry": onDeployment({}, async (_c, i) => {
    await db.deployment.update({ where: { id: i.deploymentId }, data: { phase: "FAILED" } });
  }),
  "deployments.update": onDeployment({}, async (_c, _i, t) => ({ catalogModelId: (await newerVersion(t)).id })),
  "deployments.rollback": onDeployment({}, async (c, i, t) => {
    await c.deployments.update({ ...i, catalogModelId: (await newerVersion(t)).id });
  }),
  "deployments.delete": onDeployment(),
  "apiKeys.create": async (t) => ({ input: { orgId: t.org.id, name: "Audited key", scopes: ["inference"], allowedDeploymentIds: [] }, as: "admin", chain: t.org.id }),
  "apiKeys.revoke": async (t) => ({ input: { orgId: t.org.id, apiKeyId: (await freshKey(t, "To revoke")).id }, as: "admin", chain: t.org.id }),
  "apiKeys.rotate": async (t) => ({ input: { orgId: t.org.id, apiKeyId: (await freshKey(t, "To rotate")).id, graceMinutes: 60 }, as: "admin", chain: t.org.id }),
  "apiKeys.update": async (t) => ({ input: { orgId: t.org.id, apiKeyId: (await freshKey(t, "To update")).id, rateLimitRpm: 120 }, as: "admin", chain: t.org.id }),
  // A different amount each time: the case runs more than once on the same tenant, and an unchanged budget writes nothing.
  "budgets.set": async (t) => ({ input: { orgId: t.org.id, monthlyBudgetEur: 100 + randomInt(1, 1_000_000) / 100, mode: "SOFT", alertThresholds: [50, 100] }, as: "admin", chain: t.org.id }),
  "budgets.remove": async (t) => {
    await db.organization.update({ where: { id: t.org.id }, data: { monthlyBudgetCents: 50_000 } });
    return { input: { orgId: t.org.id }, as: "admin", chain: t.org.id };
  },
  "webhooks.set": async (t) => ({ input: { orgId: t.org.id, url: `https://hooks.example.test/${unique("hook")}`, enabled: true }, as: "admin", chain: t.org.id }),
  "webhooks.rotateSecret": async (t) => ({ input: { orgId: (await webhookOf(t)).orgId }, as: "admin", chain: t.org.id }),
  "webhooks.remove": async (t) => ({ input: { orgId: (await webhookOf(t)).orgId }, as: "admin", chain: t.org.id }),
  "webhooks.sendTest": async (t) => ({ input: { orgId: (await webhookOf(t)).orgId }, as: "admin", chain: t.org.id }),
  // A different threshold each time: the case runs more than once on the same tenant, and unchanged defaults write nothing.
  "guardrails.set": async (t) => ({
    input: { orgId: t.org.id, rules: { "pii.input": "redact", "schema.output": "block" }, piiTypes: ["EMAIL", "IBAN"], judge: null, groundedThreshold: randomInt(1, 1_000_000) / 1_000_000 },
    as: "admin",
    chain: t.org.id,
  }),
  "guardrails.reset": async (t) => {
    await guardrailDefaultsOf(t);
    return { input: { orgId: t.org.id }, as: "admin", chain: t.org.id };
  },
  "guardrails.setDeploymentOverride": onDeployment({ rules: { "pii.output": "block", "grounded.output": "observe" } }),
  "guardrails.removeDeploymentOverride": onDeployment({}, async (c, i) => {
    await c.guardrails.setDeploymentOverride({ ...i, rules: { "pii.input": "off" } });
  }),
  "guardrails.setApiKeyOverride": async (t) => ({ input: { orgId: t.org.id, apiKeyId: (await freshKey(t, "Guardrail override")).id, rules: { "pii.input": "block" } }, as: "admin", chain: t.org.id }),
  "guardrails.removeApiKeyOverride": async (t) => {
    const key = await freshKey(t, "Guardrail override to remove");
    await callerFor(t.admin.user.id).guardrails.setApiKeyOverride({ orgId: t.org.id, apiKeyId: key.id, rules: { "schema.output": "off" } });
    return { input: { orgId: t.org.id, apiKeyId: key.id }, as: "admin", chain: t.org.id };
  },
  // A different certification each time: the case runs more than once on the same tenant, and an unchanged policy writes nothing.
  // Signing on demand records the request (audit.checkpoint.requested) before signing, so the checkpoint covers it.
  "audit.signCheckpoint": async (t) => ({ input: { orgId: t.org.id }, as: "admin", chain: t.org.id }),
  // An export writes an archive and records "organization.exported" (sha256, size, counts; nothing secret).
  "exports.create": async (t) => ({ input: { orgId: t.org.id }, as: "admin", chain: t.org.id }),
  "audit.signPlatformCheckpoint": async () => ({ input: {}, as: "platformAdmin", chain: platform }),
  "residency.put": async (t) => ({
    input: { orgId: t.org.id, dataClassification: "CONFIDENTIAL", allowedJurisdictions: ["EU"], requiredCertifications: [`Audit-${randomInt(1, 1_000_000_000)}`], allowedRegionIds: [t.region.id], allowExtraterritorial: false },
    as: "admin",
    chain: t.org.id,
  }),
  "residency.remove": async (t) => {
    await callerFor(t.admin.user.id).residency.put({ orgId: t.org.id, dataClassification: "PUBLIC", allowedJurisdictions: ["FR"], requiredCertifications: [], allowedRegionIds: [], allowExtraterritorial: true });
    return { input: { orgId: t.org.id, dataClassification: "PUBLIC" }, as: "admin", chain: t.org.id };
  },
  // Routes (docs/routes.md): a fresh route over the fixture's deployment each time (the case runs more than once per tenant).
  "modelRoutes.create": async (t) => ({ input: { orgId: t.org.id, name: unique("route"), members: [{ deploymentId: t.deployment.id, weight: 1 }] }, as: "admin", chain: t.org.id }),
  "modelRoutes.update": async (t) => {
    const r = await callerFor(t.admin.user.id).modelRoutes.create({ orgId: t.org.id, name: unique("route"), members: [{ deploymentId: t.deployment.id, weight: 1 }] });
    return { input: { orgId: t.org.id, modelRouteId: r.id, mode: "WEIGHTED", maxInFlightPerReplica: 8 }, as: "admin", chain: t.org.id };
  },
  "modelRoutes.remove": async (t) => {
    const r = await callerFor(t.admin.user.id).modelRoutes.create({ orgId: t.org.id, name: unique("route"), members: [{ deploymentId: t.deployment.id, weight: 1 }] });
    return { input: { orgId: t.org.id, modelRouteId: r.id }, as: "admin", chain: t.org.id };
  },
  "account.signUp": async () => ({
    input: { name: "New", email: `${unique("new")}@example.test`, password: "a long enough password", organizationName: "Fresh org" },
    as: "anonymous",
    chain: (r: { org: { id: string } }) => r.org.id,
  }),
  "account.createOrganization": async () => ({ input: { name: "Second org" }, as: "owner", chain: (r: { id: string }) => r.id }),
  "account.respondToInvitation": async (t) => {
    const { token } = await callerFor(t.ownerId).organization.invite({ orgId: t.org.id, email: `${unique("invitee")}@example.test`, role: "MEMBER" });
    const invitee = await createUser("invitee");
    return { input: { token, accept: true }, as: { userId: invitee.id }, chain: t.org.id };
  },
  "account.signUpWithInvitation": async (t) => {
    const { token } = await callerFor(t.ownerId).organization.invite({ orgId: t.org.id, email: `${unique("newcomer")}@example.test`, role: "VIEWER" });
    return { input: { token, name: "Newcomer", email: `${unique("newcomer")}@example.test`, password: "a long enough password" }, as: "anonymous", ip: "198.51.100.77", chain: t.org.id };
  },
  "organization.rename": async (t) => ({ input: { orgId: t.org.id, name: "Renamed org" }, as: "owner", chain: t.org.id }),
  "organization.invite": async (t) => ({ input: { orgId: t.org.id, email: `${unique("inv")}@example.test`, role: "VIEWER" }, as: "admin", chain: t.org.id }),
  "organization.revokeInvitation": async (t) => {
    const inv = await callerFor(t.ownerId).organization.invite({ orgId: t.org.id, email: `${unique("rev")}@example.test`, role: "MEMBER" });
    return { input: { orgId: t.org.id, invitationId: inv.id }, as: "owner", chain: t.org.id };
  },
  "organization.changeRole": async (t) => ({ input: { orgId: t.org.id, membershipId: t.viewer.membership.id, role: "MEMBER" }, as: "owner", chain: t.org.id }),
  "organization.removeMember": async (t) => ({ input: { orgId: t.org.id, membershipId: t.member.membership.id }, as: "owner", chain: t.org.id }),
  "quotas.request": async (t) => {
    const { region, gpuType } = await gpuRegionFixture();
    return { input: { orgId: t.org.id, regionId: region.id, gpuTypeId: gpuType.id, additionalGpus: 2, justification }, as: "admin", chain: t.org.id };
  },
  "quotas.cancelRequest": async (t) => ({ input: { orgId: t.org.id, requestId: (await pendingRequest(t)).id }, as: "admin", chain: t.org.id }),
  "admin.createRegion": async (t) => ({ input: regionForm(t.gpuType.id), as: "platformAdmin", chain: platform }),
  "admin.updateRegion": async (t, env) => {
    const form = regionForm(t.gpuType.id);
    const region = await callerFor(env.platformAdminId).admin.createRegion(form);
    return { input: { ...form, regionId: region.id, name: "Audit region, renamed" }, as: "platformAdmin", chain: platform };
  },
  "admin.setRegionStatus": async () => {
    const { region } = await gpuRegionFixture();
    return { input: { regionId: region.id, status: "MAINTENANCE", reason: "Audit test" }, as: "platformAdmin", chain: platform };
  },
  "admin.createModel": async (t) => ({ input: modelForm(t.gpuType.id), as: "platformAdmin", chain: platform }),
  "admin.updateModel": async (t, env) => {
    const form = modelForm(t.gpuType.id);
    const model = await callerFor(env.platformAdminId).admin.createModel(form);
    return { input: { ...form, modelId: model.id, contextLength: 16384 }, as: "platformAdmin", chain: platform };
  },
  "admin.setModelStatus": async (t, env) => {
    const model = await callerFor(env.platformAdminId).admin.createModel(modelForm(t.gpuType.id));
    return { input: { modelId: model.id, status: "DEPRECATED" }, as: "platformAdmin", chain: platform };
  },
  // Quota and organisation changes are in the organisation's chain, where its members see them.
  // A fresh region each time, so the setting changes (an unchanged one is refused) and no tenant's quota moves.
  "admin.setStarterQuota": async () => {
    const { region, gpuType } = await gpuRegionFixture();
    return { input: { entries: [{ regionId: region.id, gpuTypeId: gpuType.id, limitGpus: 1 }] }, as: "platformAdmin", chain: platform };
  },
  "admin.setQuota": async (t) => {
    const { region, gpuType } = await gpuRegionFixture();
    return { input: { orgId: t.org.id, regionId: region.id, gpuTypeId: gpuType.id, limitGpus: 4 }, as: "platformAdmin", chain: t.org.id };
  },
  "admin.decideQuotaRequest": async (t) => ({ input: { requestId: (await pendingRequest(t)).id, decision: "approve" }, as: "platformAdmin", chain: t.org.id }),
  "admin.setOrganizationStatus": async () => {
    // Not t: the other cases need it active.
    const org = await createOrganization("To suspend");
    return { input: { orgId: org.id, status: "SUSPENDED", reason: "Audit test" }, as: "platformAdmin", chain: org.id };
  },
};
