/**
 * Tenant isolation, proven over the router itself: every procedure is listed from `appRouter`,
 * and each must have a case here. A member of organisation B calls it with organisation A's ids;
 * the call must fail with FORBIDDEN or NOT_FOUND and change nothing in the database.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { db } from "@/server/db";
import { callerFor, createTenant, createUser, databaseDigest, listProcedures, outcome, unique, type Tenant } from "../helpers";

type Input = Record<string, unknown>;
type IsolationCase =
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

const CASES: Record<string, IsolationCase> = {
  "account.signUp": { scope: "anonymous" },
  "account.me": { scope: "self", input: () => ({}), expect: "CREATES_OWN" },
  "account.createOrganization": { scope: "self", input: () => ({ name: "B's second organisation" }), expect: "CREATES_OWN" },
  "account.respondToInvitation": { scope: "self", input: (a) => ({ invitationId: a.invitation.id, accept: true }), expect: "NOT_FOUND" },
  "organization.overview": { scope: "org", input: () => ({}) },
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
  "apiKeys.list": { scope: "org", input: () => ({}) },
  "apiKeys.gatewayUrl": { scope: "org", input: () => ({}) },
  "apiKeys.create": { scope: "org", input: (a) => ({ name: "Intruder key", scopes: ["inference"], allowedDeploymentIds: [a.deployment.id] }), foreignIds: ["allowedDeploymentIds"] },
  "apiKeys.revoke": { scope: "org", input: (a) => ({ apiKeyId: a.apiKey.id }), foreignIds: ["apiKeyId"] },
  "apiKeys.rotate": { scope: "org", input: (a) => ({ apiKeyId: a.apiKey.id, graceMinutes: 60 }), foreignIds: ["apiKeyId"] },
  "apiKeys.update": { scope: "org", input: (a) => ({ apiKeyId: a.apiKey.id, rateLimitRpm: 1 }), foreignIds: ["apiKeyId"] },
  "usage.summary": { scope: "org", input: () => ({ days: 30 }) },
  "compliance.auditTrail": { scope: "org", input: () => ({ limit: 100 }) },
  "compliance.verifyAuditTrail": { scope: "org", input: () => ({}) },
  "compliance.residencyPolicies": { scope: "org", input: () => ({}) },
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
  "admin.organizations": { scope: "admin" },
  "admin.setOrganizationStatus": { scope: "admin", input: (a) => ({ orgId: a.org.id, status: "SUSPENDED", reason: "Taken over" }) },
  "admin.platformAuditTrail": { scope: "admin", input: () => ({ limit: 10 }) },
  "admin.verifyPlatformAuditTrail": { scope: "admin" },
};

/** Valid admin inputs naming A's platform fixtures, so a refusal can only come from the role check. */
function regionFields(a: Tenant) {
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

function modelFields(a: Tenant) {
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

const procedures = listProcedures();

function call(caller: ReturnType<typeof callerFor>, path: string, input: Input | undefined) {
  const fn = path.split(".").reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], caller) as (i?: Input) => Promise<unknown>;
  return fn(input);
}

/** Every id of A's rows, to look for in what B gets back. */
function idsOf(a: Tenant): string[] {
  return [a.org.id, a.ownerId, a.ownerMembership.id, a.admin.user.id, a.member.membership.id, a.invitation.id, a.quota.id, a.quotaRequest.id, a.deployment.id, a.apiKey.id, a.policy.id];
}

let a: Tenant;
let b: Tenant;
let outsider: ReturnType<typeof callerFor>;

beforeAll(async () => {
  a = await createTenant("isolation-a");
  b = await createTenant("isolation-b");
  outsider = callerFor(b.ownerId);
});

describe("tenant isolation", () => {
  it("has a case for every procedure of the router, and no stale case", () => {
    const paths = procedures.map((p) => p.path).sort();
    expect(paths.filter((p) => !(p in CASES)), "procedures without an isolation case").toEqual([]);
    expect(Object.keys(CASES).filter((p) => !paths.includes(p)), "cases for procedures that no longer exist").toEqual([]);
  });

  for (const { path, type } of procedures) {
    const c = CASES[path];
    if (!c) continue;

    if (c.scope === "org") {
      it(`${path}: B's owner using A's orgId is refused and nothing changes`, async () => {
        const before = await databaseDigest();
        expect(await outcome(() => call(outsider, path, { orgId: a.org.id, ...c.input(a) }))).toBe("FORBIDDEN");
        expect(await databaseDigest()).toBe(before);
      });
      if (c.foreignIds) {
        it(`${path}: B's owner using B's orgId with A's ${c.foreignIds.join(", ")} gets NOT_FOUND and nothing changes`, async () => {
          const before = await databaseDigest();
          expect(await outcome(() => call(outsider, path, { orgId: b.org.id, ...c.input(a) }))).toBe("NOT_FOUND");
          expect(await databaseDigest()).toBe(before);
        });
      }
      // (A query naming one of A's objects is covered by the NOT_FOUND case above.)
      if (type === "query" && !c.foreignIds) {
        it(`${path}: B's own answer contains nothing of A`, async () => {
          const result = JSON.stringify(await call(outsider, path, { orgId: b.org.id, ...c.input(a) }), (_k, v) => (typeof v === "bigint" ? String(v) : v));
          for (const id of idsOf(a)) expect(result).not.toContain(id);
        });
      }
    } else if (c.scope === "admin") {
      it(`${path}: a tenant owner who is not a platform admin is refused`, async () => {
        const before = await databaseDigest();
        expect(await outcome(() => call(outsider, path, c.input?.(a)))).toBe("FORBIDDEN");
        expect(await databaseDigest()).toBe(before);
      });
    } else if (c.scope === "self") {
      it(`${path}: acts only on the caller's own account`, async () => {
        if (c.expect === "NOT_FOUND") {
          const before = await databaseDigest();
          expect(await outcome(() => call(outsider, path, c.input(a)))).toBe("NOT_FOUND");
          expect(await databaseDigest()).toBe(before);
        } else {
          const result = JSON.stringify(await call(outsider, path, c.input(a)));
          for (const id of idsOf(a)) expect(result).not.toContain(id);
          expect(await db.membership.count({ where: { orgId: a.org.id, userId: b.ownerId } })).toBe(0);
        }
      });
    } else if (c.scope === "platform-public") {
      it(`${path}: returns the same platform data to every tenant, none of A's rows`, async () => {
        const asA = JSON.stringify(await call(callerFor(a.ownerId), path, undefined), (_k, v) => (typeof v === "bigint" ? String(v) : v));
        const asB = JSON.stringify(await call(outsider, path, undefined), (_k, v) => (typeof v === "bigint" ? String(v) : v));
        expect(asB).toBe(asA);
        for (const id of idsOf(a)) expect(asB).not.toContain(id);
      });
    } else {
      it(`${path}: an anonymous caller cannot reach an existing tenant (an existing email is refused)`, async () => {
        const owner = await db.user.findUniqueOrThrow({ where: { id: a.ownerId } });
        const before = await databaseDigest();
        expect(await outcome(() => call(callerFor(null), path, { name: "X", email: owner.email, password: "a long enough password", organizationName: "Hijack" }))).toBe("CONFLICT");
        expect(await databaseDigest()).toBe(before);
      });
    }
  }

  it("refuses anonymous callers on every procedure but sign-up", async () => {
    const anonymous = callerFor(null);
    for (const { path } of procedures) {
      if (CASES[path]?.scope === "anonymous") continue;
      const input = (() => {
        const c = CASES[path];
        return c && "input" in c && c.input ? { orgId: a.org.id, ...c.input(a) } : { orgId: a.org.id };
      })();
      expect(await outcome(() => call(anonymous, path, input)), path).toBe("UNAUTHORIZED");
    }
  });

  it("within an organisation, roles below the requirement are refused", async () => {
    const viewer = callerFor(a.viewer.user.id);
    expect(await outcome(() => viewer.organization.invite({ orgId: a.org.id, email: `${unique("x")}@example.test`, role: "MEMBER" }))).toBe("FORBIDDEN");
    expect(await outcome(() => viewer.compliance.auditTrail({ orgId: a.org.id, limit: 5 }))).toBe("FORBIDDEN");
    const member = callerFor(a.member.user.id);
    expect(await outcome(() => member.organization.rename({ orgId: a.org.id, name: "Nope" }))).toBe("FORBIDDEN");
    expect(await outcome(() => member.organization.members({ orgId: a.org.id }))).toBe("OK");
  });

  it("a platform admin who is not a member gets no tenant data through tenant procedures", async () => {
    const admin = await createUser("platform-admin", { platformAdmin: true });
    expect(await outcome(() => callerFor(admin.id).organization.members({ orgId: a.org.id }))).toBe("FORBIDDEN");
  });
});
