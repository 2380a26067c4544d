/**
 * Residency policies that tenants own (docs/residency.md): one per data class of an organisation,
 * set, replaced and removed by its owners and admins, previewed before saving (which deployments
 * would stop or start complying), and the compliance of every live deployment under them.
 *
 * The verdict is always server/services/policy.ts's evaluateResidency, the one rule the regions
 * read model, placement and the gateway apply too. Every change is one transaction that writes an
 * audit event with the policy before and after and notifies the gateways on commit
 * (`enclave_residency`, payload: the organisation's id; server/gateway/state.ts reloads its
 * policies). An unchanged save writes nothing.
 */
import { db, type Tx } from "../db";
import { badRequest, notFound } from "../errors";
import type { DataClassification } from "../generated/prisma/enums";
import { certificationKey, type ResidencyRuleInput } from "../../lib/residency";
import { recordAudit, type Actor } from "./audit";
import { GATEWAY_CHANNELS } from "./channels";
import { evaluateResidency, type RegionFacts, type ResidencyPolicyRule, type ResidencyVerdict } from "./policy";
import type { DeploymentCompliance } from "./residency-types";

export type { DeploymentCompliance } from "./residency-types";

const policySelect = {
  id: true,
  orgId: true,
  dataClassification: true,
  allowedJurisdictions: true,
  requiredCertifications: true,
  allowedRegionIds: true,
  allowExtraterritorial: true,
  createdAt: true,
  updatedAt: true,
} as const;

const regionFactsSelect = { id: true, code: true, name: true, jurisdiction: true, certifications: true, extraterritorialExposure: true } as const;

/** A live deployment: not deleted, nor being deleted (what the gateway routes to). */
const liveDeployment = { deletedAt: null, phase: { not: "DELETED" }, desiredState: { not: "DELETED" } } as const;

export function listResidencyPolicies(orgId: string) {
  return db.residencyPolicy.findMany({ where: { orgId }, orderBy: { dataClassification: "asc" }, select: policySelect });
}

/** What the audit trail records of a policy (ids of regions with their codes, so a reader knows them). */
function auditView(p: ResidencyPolicyRule, regionCodes: Map<string, string>) {
  return {
    dataClassification: p.dataClassification,
    allowedJurisdictions: p.allowedJurisdictions,
    requiredCertifications: p.requiredCertifications,
    allowedRegions: p.allowedRegionIds.map((id) => ({ id, code: regionCodes.get(id) ?? null })),
    allowExtraterritorial: p.allowExtraterritorial,
  };
}

/** Two rules that allow exactly the same regions: the same sets, whatever their order or spelling of certifications. */
function sameRule(a: ResidencyPolicyRule, b: ResidencyPolicyRule): boolean {
  const set = (list: string[], key: (v: string) => string = (v) => v) => [...new Set(list.map(key))].sort().join("\n");
  return (
    set(a.allowedJurisdictions) === set(b.allowedJurisdictions) &&
    set(a.requiredCertifications, certificationKey) === set(b.requiredCertifications, certificationKey) &&
    set(a.allowedRegionIds) === set(b.allowedRegionIds) &&
    a.allowExtraterritorial === b.allowExtraterritorial
  );
}

/** The regions a rule names must exist: a precise refusal naming the first unknown id. */
async function checkRegions(tx: Tx | typeof db, ids: string[]): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const found = await tx.region.findMany({ where: { id: { in: ids } }, select: { id: true, code: true } });
  const codes = new Map(found.map((r) => [r.id, r.code]));
  const unknown = ids.find((id) => !codes.has(id));
  if (unknown !== undefined) throw badRequest(`No region has the id "${unknown.slice(0, 64)}": choose regions from GET /regions`, "allowedRegionIds");
  return codes;
}

/** Reloaded by every gateway once the transaction commits (PostgreSQL delivers NOTIFY on commit only). */
async function notifyGateways(tx: Tx, orgId: string) {
  await tx.$executeRaw`SELECT pg_notify(${GATEWAY_CHANNELS.residency}, ${orgId})`;
}

/** Serialises the changes of one organisation's policies (the policy row may not exist yet to lock). */
async function lockOrganization(tx: Tx, orgId: string) {
  await tx.$queryRaw`SELECT id FROM "Organization" WHERE id = ${orgId} FOR UPDATE`;
}

const toRule = (dataClassification: DataClassification, rule: ResidencyRuleInput): ResidencyPolicyRule => ({ dataClassification, ...rule });

/** Creates or replaces the policy of one data class (owners and admins). Saving it unchanged writes nothing. */
export async function putResidencyPolicy(orgId: string, actor: Actor, dataClassification: DataClassification, rule: ResidencyRuleInput) {
  const proposed = toRule(dataClassification, rule);
  return db.$transaction(async (tx) => {
    await lockOrganization(tx, orgId);
    const before = await tx.residencyPolicy.findUnique({ where: { orgId_dataClassification: { orgId, dataClassification } }, select: policySelect });
    const codes = await checkRegions(tx, [...new Set([...proposed.allowedRegionIds, ...(before?.allowedRegionIds ?? [])])]);
    if (before && sameRule(before, proposed)) return before;
    const data = {
      allowedJurisdictions: proposed.allowedJurisdictions,
      requiredCertifications: proposed.requiredCertifications,
      allowedRegionIds: proposed.allowedRegionIds,
      allowExtraterritorial: proposed.allowExtraterritorial,
    };
    const saved = before
      ? await tx.residencyPolicy.update({ where: { id: before.id }, data, select: policySelect })
      : await tx.residencyPolicy.create({ data: { orgId, dataClassification, ...data }, select: policySelect });
    await recordAudit(tx, actor, {
      orgId,
      action: "residency_policy.set",
      targetType: "ResidencyPolicy",
      targetId: saved.id,
      before: before ? auditView(before, codes) : null,
      after: auditView(saved, codes),
    });
    await notifyGateways(tx, orgId);
    return saved;
  });
}

/** Removes the policy of one data class: that class is unrestricted again — except RESTRICTED, refused everywhere. */
export async function deleteResidencyPolicy(orgId: string, actor: Actor, dataClassification: DataClassification) {
  return db.$transaction(async (tx) => {
    await lockOrganization(tx, orgId);
    const before = await tx.residencyPolicy.findUnique({ where: { orgId_dataClassification: { orgId, dataClassification } }, select: policySelect });
    if (!before) throw notFound(`This organisation's residency policy for ${dataClassification} data`);
    const codes = await tx.region.findMany({ where: { id: { in: before.allowedRegionIds } }, select: { id: true, code: true } });
    await tx.residencyPolicy.delete({ where: { id: before.id } });
    await recordAudit(tx, actor, {
      orgId,
      action: "residency_policy.removed",
      targetType: "ResidencyPolicy",
      targetId: before.id,
      before: auditView(before, new Map(codes.map((r) => [r.id, r.code]))),
    });
    await notifyGateways(tx, orgId);
    return { dataClassification, removed: true as const };
  });
}

type LiveDeployment = { id: string; name: string; dataClassification: DataClassification; region: RegionFacts & { name: string } };

function liveDeployments(orgId: string, dataClassification?: DataClassification): Promise<LiveDeployment[]> {
  return db.deployment.findMany({
    where: { orgId, ...liveDeployment, ...(dataClassification ? { dataClassification } : {}) },
    orderBy: { name: "asc" },
    select: { id: true, name: true, dataClassification: true, region: { select: regionFactsSelect } },
  });
}

export type ImpactChange = "stops_complying" | "starts_complying" | "still_compliant" | "still_non_compliant";

/**
 * What saving `proposed` (or removing the policy: null) would change for the organisation's live
 * deployments of that data class: each one's verdict now and after, and those that would stop
 * (or start) complying. Writes nothing.
 */
export async function residencyImpact(orgId: string, dataClassification: DataClassification, proposedRule: ResidencyRuleInput | null) {
  const proposed = proposedRule ? toRule(dataClassification, proposedRule) : null;
  if (proposed) await checkRegions(db, proposed.allowedRegionIds);
  const [current, deployments] = await Promise.all([
    db.residencyPolicy.findUnique({ where: { orgId_dataClassification: { orgId, dataClassification } }, select: policySelect }),
    liveDeployments(orgId, dataClassification),
  ]);
  const rows = deployments.map((d) => {
    const now = evaluateResidency(dataClassification, current, d.region);
    const after = evaluateResidency(dataClassification, proposed, d.region);
    const change: ImpactChange = now.allowed
      ? after.allowed ? "still_compliant" : "stops_complying"
      : after.allowed ? "starts_complying" : "still_non_compliant";
    return {
      deploymentId: d.id,
      deploymentName: d.name,
      region: { id: d.region.id, code: d.region.code, name: d.region.name },
      current: now,
      proposed: after,
      change,
    };
  });
  return {
    dataClassification,
    currentPolicy: current !== null,
    proposedPolicy: proposed !== null,
    deployments: rows,
    stopComplying: rows.filter((r) => r.change === "stops_complying"),
    startComplying: rows.filter((r) => r.change === "starts_complying"),
  };
}

/** Every live deployment of the organisation under its data class's policy: compliant or not, and why. */
export async function deploymentCompliance(orgId: string): Promise<DeploymentCompliance[]> {
  const [policies, deployments] = await Promise.all([listResidencyPolicies(orgId), liveDeployments(orgId)]);
  const byClass = new Map(policies.map((p) => [p.dataClassification, p]));
  return deployments.map((d) => complianceOf(d, byClass.get(d.dataClassification) ?? null));
}

type LiveDeploymentFacts = Awaited<ReturnType<typeof liveDeployments>>[number];

/** A deployment's verdict under its class's policy (null: none), as the dashboard and its page show it. */
function complianceOf(d: Pick<LiveDeploymentFacts, "id" | "name" | "dataClassification" | "region">, policy: ResidencyPolicyRule | null): DeploymentCompliance {
  const verdict: ResidencyVerdict = evaluateResidency(d.dataClassification, policy, d.region);
  return {
    deploymentId: d.id,
    deploymentName: d.name,
    dataClassification: d.dataClassification,
    regionId: d.region.id,
    regionCode: d.region.code,
    status: verdict.allowed ? "compliant" : "non_compliant",
    policy: policy ? "applied" : "none",
    reasons: verdict.reasons,
    extraterritorialExposure: d.region.extraterritorialExposure,
  };
}

/** One deployment's compliance (its page), or null when it is not live. */
export async function deploymentComplianceOf(orgId: string, deploymentId: string): Promise<DeploymentCompliance | null> {
  const d = await db.deployment.findFirst({
    where: { id: deploymentId, orgId, ...liveDeployment },
    select: { id: true, name: true, dataClassification: true, region: { select: regionFactsSelect } },
  });
  if (!d) return null;
  const policy = await db.residencyPolicy.findUnique({ where: { orgId_dataClassification: { orgId, dataClassification: d.dataClassification } }, select: policySelect });
  return complianceOf(d, policy);
}
