/**
 * Evidence per deployment (docs/evidence.md): one document that shows, rather than claims, where
 * a deployment runs and under which rules — the region's operator, law, certifications and
 * sovereignty level; the model's licence, openness, origin and the sha256 its driver verified per
 * replica; the data class with the residency verdict; the guardrails in force and their verdicts;
 * and the deployment's audit events with inclusion proofs under the latest signed checkpoint.
 *
 * Read only, from the same rows and functions as the pages that show each part (residency.ts,
 * guardrails.ts, usage.ts, server/audit/log.ts), so the evidence never disagrees with them.
 */
import { chainOf, inclusionProofs, latestCheckpoint } from "../audit/log";
import { db } from "../db";
import { DomainError } from "../errors";
import { effectiveGuardrails } from "./guardrails";
import { evaluateResidency } from "./policy";
import { certificationDetailsOf } from "./regions";
import { deploymentComplianceOf } from "./residency";
import { usageGuardrails } from "./usage";

/** At most this many audit events (the newest) are listed with their proofs. */
export const EVIDENCE_AUDIT_EVENTS = 500;

export type ReplicaArtifactStatus = "verified" | "mismatch" | "unverified" | "not_checked";

/** YYYY-MM-DD of `now` in UTC: certificates are valid by calendar day. */
const today = (now: Date) => now.toISOString().slice(0, 10);

/** The region's certifications: each name residency policies match, with its details when an admin gave them. */
export function certificationsEvidence(region: { certifications: string[]; certificationDetails: unknown }, now: Date = new Date()) {
  const details = certificationDetailsOf(region.certificationDetails);
  const day = today(now);
  const byName = new Map(details.map((d) => [d.name.toLowerCase(), d]));
  const names = [...new Set([...region.certifications, ...details.map((d) => d.name)])];
  return names.map((name) => {
    const d = byName.get(name.toLowerCase());
    if (!d) return { name, detailed: false, issuer: null, scope: null, validFrom: null, validUntil: null, validToday: null, validity: "no details given" };
    const validToday = d.validFrom <= day && (d.validUntil === null || day <= d.validUntil);
    const validity = d.validFrom > day ? `not valid yet (from ${d.validFrom})` : validToday ? (d.validUntil ? `valid until ${d.validUntil}` : "valid, no end date stated") : `expired on ${d.validUntil}`;
    return { name: d.name, detailed: true, issuer: d.issuer, scope: d.scope, validFrom: d.validFrom, validUntil: d.validUntil, validToday, validity };
  });
}

export async function deploymentEvidence(orgId: string, deploymentId: string, now: Date = new Date()) {
  const d = await db.deployment.findFirst({
    where: { id: deploymentId, orgId },
    select: {
      id: true,
      name: true,
      phase: true,
      desiredState: true,
      dataClassification: true,
      revision: true,
      createdAt: true,
      deletedAt: true,
      region: {
        select: {
          id: true,
          code: true,
          name: true,
          provider: true,
          country: true,
          city: true,
          jurisdiction: true,
          onPremises: true,
          certifications: true,
          certificationDetails: true,
          sovereigntyLevel: true,
          extraterritorialExposure: true,
          exposureNote: true,
        },
      },
      catalogModel: {
        select: { id: true, slug: true, name: true, version: true, family: true, license: true, openWeights: true, openData: true, origin: true, artifactUri: true, artifactSha256: true, runtime: true },
      },
      replicaSet: {
        orderBy: [{ createdAt: "desc" }],
        take: 20,
        select: {
          id: true,
          ordinal: true,
          revision: true,
          state: true,
          message: true,
          createdAt: true,
          artifactStatus: true,
          artifactSha256: true,
          artifactExpectedSha256: true,
          artifactCheckedAt: true,
          artifactCheckedBy: true,
          artifactNote: true,
        },
      },
    },
  });
  if (!d) throw new DomainError("NOT_FOUND", "Deployment was not found", { field: "deploymentId" });

  const chain = chainOf(orgId);
  const [compliance, policy, guardrails, verdicts, events, checkpoint] = await Promise.all([
    deploymentComplianceOf(orgId, d.id),
    db.residencyPolicy.findUnique({ where: { orgId_dataClassification: { orgId, dataClassification: d.dataClassification } } }),
    d.deletedAt ? null : effectiveGuardrails(orgId, { deploymentId: d.id }),
    usageGuardrails({ orgId, deploymentId: d.id, period: "30d", now }),
    db.auditEvent.findMany({
      where: { chain, targetId: d.id },
      orderBy: { seq: "desc" },
      take: EVIDENCE_AUDIT_EVENTS + 1,
      select: { seq: true, action: true, actorType: true, actorLabel: true, targetType: true, before: true, after: true, createdAt: true, hash: true },
    }),
    latestCheckpoint(chain),
  ]);

  // A deleted deployment is no longer "live" for residency.ts: the same rule, applied here.
  const verdict = compliance ?? (() => {
    const v = evaluateResidency(d.dataClassification, policy, d.region);
    return { status: v.allowed ? ("compliant" as const) : ("non_compliant" as const), policy: policy ? ("applied" as const) : ("none" as const), reasons: v.reasons };
  })();

  const listed = events.slice(0, EVIDENCE_AUDIT_EVENTS);
  const provable = checkpoint ? listed.filter((e) => e.seq <= checkpoint.treeSize).map((e) => e.seq) : [];
  const proofs = new Map((provable.length > 0 ? await inclusionProofs(chain, provable, checkpoint!.treeSize) : []).map((p) => [p.leafIndex + 1, p]));

  const catalogSha256 = d.catalogModel.artifactSha256;
  const replicas = d.replicaSet.map((r) => ({
    id: r.id,
    ordinal: r.ordinal,
    revision: r.revision,
    state: r.state,
    status: (r.artifactStatus ?? "not_checked") as ReplicaArtifactStatus,
    sha256: r.artifactSha256,
    expectedSha256: r.artifactExpectedSha256,
    checkedAt: r.artifactCheckedAt,
    checkedBy: r.artifactCheckedBy,
    note: r.artifactNote ?? (r.artifactStatus ? null : "no check recorded: the replica was started before artifacts were verified, or has not been started yet"),
    message: r.state === "failed" ? r.message : null,
  }));
  const current = replicas.filter((r) => r.revision === d.revision);
  const artifactStatus: ReplicaArtifactStatus = current.some((r) => r.status === "mismatch")
    ? "mismatch"
    : current.some((r) => r.status === "verified")
      ? "verified"
      : current.some((r) => r.status === "unverified")
        ? "unverified"
        : "not_checked";

  return {
    generatedAt: now,
    deployment: { id: d.id, name: d.name, phase: d.phase, desiredState: d.desiredState, revision: d.revision, createdAt: d.createdAt, deletedAt: d.deletedAt },
    region: {
      id: d.region.id,
      code: d.region.code,
      name: d.region.name,
      operator: d.region.provider,
      country: d.region.country,
      city: d.region.city,
      jurisdiction: d.region.jurisdiction,
      onPremises: d.region.onPremises,
      certifications: certificationsEvidence(d.region, now),
      extraterritorialExposure: d.region.extraterritorialExposure,
      exposureNote: d.region.exposureNote,
      sovereigntyLevel: d.region.sovereigntyLevel,
    },
    model: {
      id: d.catalogModel.id,
      slug: d.catalogModel.slug,
      name: d.catalogModel.name,
      version: d.catalogModel.version,
      family: d.catalogModel.family,
      license: d.catalogModel.license,
      openWeights: d.catalogModel.openWeights,
      openData: d.catalogModel.openData,
      origin: d.catalogModel.origin,
      runtime: d.catalogModel.runtime,
      artifactUri: d.catalogModel.artifactUri,
      catalogSha256,
      artifactStatus,
      replicas,
    },
    residency: { dataClassification: d.dataClassification, ...verdict, reasons: verdict.reasons },
    guardrails: {
      policy: guardrails,
      verdicts: { period: verdicts.period, from: verdicts.from, to: verdicts.to, totals: verdicts.totals, rules: verdicts.rules },
    },
    audit: {
      chain,
      checkpoint: checkpoint ? { origin: checkpoint.origin, treeSize: checkpoint.treeSize, rootHash: checkpoint.rootHash, time: checkpoint.time, note: checkpoint.note, witnessedAt: checkpoint.witnessedAt } : null,
      truncated: events.length > EVIDENCE_AUDIT_EVENTS,
      events: listed.map((e) => {
        const proof = proofs.get(e.seq);
        return {
          seq: e.seq,
          action: e.action,
          actorType: e.actorType,
          actorLabel: e.actorLabel,
          targetType: e.targetType,
          before: e.before,
          after: e.after,
          createdAt: e.createdAt,
          hash: e.hash,
          proof: proof ? { leafIndex: proof.leafIndex, treeSize: proof.treeSize, leafHash: proof.leafHash, path: proof.path } : null,
        };
      }),
    },
  };
}
