/**
 * The compliance report of an organisation for a chosen period (docs/compliance.md): one JSON
 * document (schema: compliance-report-schema.ts, published as docs/schemas/compliance-report.schema.json)
 * bound to a signed checkpoint of the organisation's audit log, answering what an auditor asks
 * under the AI Act's logging articles (Art. 12, 19, 26(6)) and GDPR residency. The PDF
 * (compliance-report-pdf.ts) renders this same document, never other figures.
 */
import { latestCheckpoint } from "../audit/log";
import { verifierKey } from "../audit/keys";
import { db } from "../db";
import { badRequest } from "../errors";
import { decodeOutcome, GUARDRAIL_RULE_NAMES, type GuardrailRule } from "../guardrails/types";
import { auditIntegrity, checkpointFacts, exposureOf, regionsById, retentionInForce, type RegionFacts, type RegionTraffic } from "./compliance";
import { AI_ACT_MINIMUM_LOG_DAYS, COMPLIANCE_REPORT_SCHEMA_ID, COMPLIANCE_REPORT_VERSION, complianceReportSchema, type ComplianceReport } from "./compliance-report-schema";
import { verifyAuditChain } from "./audit";
import { deploymentCompliance } from "./residency";

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
export const MAX_REPORT_DAYS = 400;

/** What the gateway and the console log automatically (Art. 12), as the report states it. */
export const LOGGED_EVENTS: { record: string; content: string }[] = [
  {
    record: "Usage record (every gateway request)",
    content: "time, API key, deployment, endpoint, HTTP status, input and output tokens, latency, time to first token, cost, guardrail verdicts",
  },
  {
    record: "Trace (every gateway request, OpenTelemetry spans)",
    content: "request id, deployment, region, model, data class, spans of authentication, routing, guardrails and upstream call, verdicts with reasons; prompts and completions only for keys with content capture on",
  },
  {
    record: "Audit event (every change made in the console or over the API)",
    content: "who (person or API key, IP), what (action, target, before and after), when; hash-chained and in a Merkle log with signed checkpoints",
  },
  { record: "Usage-hour digest (audit event per closed hour)", content: "the SHA-256 digest of the hour's usage records, so that usage is tamper-evident too" },
];

/** The period a report covers, validated; figures are read over the whole UTC hours covering it. */
export interface ReportPeriod {
  from: Date;
  to: Date;
}

export function countedRange(p: ReportPeriod) {
  return { from: new Date(Math.floor(p.from.getTime() / HOUR_MS) * HOUR_MS), to: new Date(Math.ceil(p.to.getTime() / HOUR_MS) * HOUR_MS) };
}

interface HourlySums {
  deploymentId: string;
  requests: number;
  errors: number;
  tokensIn: number;
  tokensOut: number;
}

/** Requests, errors and tokens per deployment ("" for none) over [from, to), from the hourly roll-ups (all keys). */
async function trafficByDeployment(orgId: string, from: Date, to: Date): Promise<HourlySums[]> {
  return db.$queryRaw<HourlySums[]>`
    SELECT r."deploymentId" AS "deploymentId", sum(r.requests)::float8 AS requests, sum(r.errors)::float8 AS errors,
           sum(r."tokensIn")::float8 AS "tokensIn", sum(r."tokensOut")::float8 AS "tokensOut"
    FROM "UsageHourlyTotal" r
    WHERE r."orgId" = ${orgId} AND r.hour >= ${from} AND r.hour < ${to} AND r."apiKeyId" = '*' AND r."deploymentId" <> '*'
    GROUP BY 1`;
}

type Counts = { checked: number; passed: number; flagged: number; redacted: number; blocked: number; errors: number; failed: number };
const zero = (): Counts => ({ checked: 0, passed: 0, flagged: 0, redacted: 0, blocked: 0, errors: 0, failed: 0 });
const FIELD = { pass: "passed", flagged: "flagged", redacted: "redacted", blocked: "blocked", error: "errors" } as const;

/** Guardrail verdicts of the organisation over [from, to), per rule and outcome, from the hourly roll-ups. */
async function guardrailVerdicts(orgId: string, from: Date, to: Date) {
  const rows = await db.$queryRaw<{ code: string; count: number }[]>`
    SELECT e.key AS code, sum(e.value::int)::float8 AS count
    FROM "UsageHourlyTotal" r CROSS JOIN LATERAL jsonb_each_text(r.guardrails) e
    WHERE r."orgId" = ${orgId} AND r.hour >= ${from} AND r.hour < ${to} AND r."apiKeyId" = '*' AND r."deploymentId" = '*' AND r.guardrails <> '{}'::jsonb
    GROUP BY 1`;
  const rules = new Map<GuardrailRule, Counts>(GUARDRAIL_RULE_NAMES.map((r) => [r, zero()]));
  for (const { code, count } of rows) {
    const decoded = decodeOutcome(Number(code));
    if (!decoded) continue;
    const c = rules.get(decoded.rule)!;
    c[FIELD[decoded.outcome]] += count;
    c.checked += count;
    if (decoded.outcome !== "pass" && decoded.outcome !== "error") c.failed += count;
  }
  const totals = zero();
  for (const c of rules.values()) for (const k of Object.keys(totals) as (keyof Counts)[]) totals[k] += c[k];
  return {
    totals,
    rules: GUARDRAIL_RULE_NAMES.map((rule) => {
      const [check, stage] = rule.split(".") as [string, "input" | "output"];
      return { rule, check, stage, ...rules.get(rule)! };
    }),
  };
}

const regionOut = (r: RegionFacts) => ({
  id: r.id,
  code: r.code,
  name: r.name,
  provider: r.provider,
  country: r.country,
  jurisdiction: r.jurisdiction,
  certifications: r.certifications,
  extraterritorialExposure: r.extraterritorialExposure,
  exposureNote: r.exposureNote,
});

/**
 * Builds the report, at the audit log's latest signed checkpoint (the checkpoint job signs at a
 * fixed interval; events after it are counted in `auditLog.events` and covered by the next one),
 * with the hash chain re-verified now. Reads only: building a report writes nothing.
 */
export async function buildComplianceReport(orgId: string, period: ReportPeriod, now: Date = new Date()): Promise<ComplianceReport> {
  const counted = countedRange(period);
  const org = await db.organization.findUniqueOrThrow({ where: { id: orgId }, select: { id: true, slug: true, name: true, status: true } });
  const integrity = await auditIntegrity(orgId);
  const checkpoint = await latestCheckpoint(integrity.chain);

  const verifiedAt = new Date();
  const [verification, key, deployments, byDeployment, guardrails, retention, policies, actions, eventsInPeriod] = await Promise.all([
    verifyAuditChain(db, integrity.chain),
    verifierKey().catch(() => null),
    deploymentCompliance(orgId),
    trafficByDeployment(orgId, counted.from, counted.to),
    guardrailVerdicts(orgId, counted.from, counted.to),
    retentionInForce(orgId),
    db.residencyPolicy.findMany({ where: { orgId }, orderBy: { dataClassification: "asc" } }),
    db.auditEvent.groupBy({ by: ["action"], where: { chain: integrity.chain, createdAt: { gte: period.from, lt: period.to } }, _count: { _all: true } }),
    db.auditEvent.count({ where: { chain: integrity.chain, createdAt: { gte: period.from, lt: period.to } } }),
  ]);

  // Traffic per region: each deployment's (deleted ones included) region.
  const depIds = byDeployment.map((r) => r.deploymentId).filter((id) => id !== "");
  const depRegions = depIds.length ? await db.deployment.findMany({ where: { orgId, id: { in: depIds } }, select: { id: true, regionId: true } }) : [];
  const regionOfDep = new Map(depRegions.map((d) => [d.id, d.regionId]));
  const perRegion = new Map<string, RegionTraffic>();
  for (const r of byDeployment) {
    const regionId = regionOfDep.get(r.deploymentId) ?? "";
    const t = perRegion.get(regionId) ?? perRegion.set(regionId, { regionId, requests: 0, tokensIn: 0, tokensOut: 0 }).get(regionId)!;
    t.requests += r.requests;
    t.tokensIn += r.tokensIn;
    t.tokensOut += r.tokensOut;
  }
  const traffic = [...perRegion.values()];
  const regions = await regionsById([...traffic.map((t) => t.regionId), ...deployments.map((d) => d.regionId)]);
  const exposure = exposureOf(deployments, traffic, regions);
  const usage = byDeployment.reduce((u, r) => ({ requests: u.requests + r.requests, errors: u.errors + r.errors, tokensIn: u.tokensIn + r.tokensIn, tokensOut: u.tokensOut + r.tokensOut }), { requests: 0, errors: 0, tokensIn: 0, tokensOut: 0 });
  const nonCompliant = deployments.filter((d) => d.status === "non_compliant").length;

  const report: ComplianceReport = {
    schema: COMPLIANCE_REPORT_SCHEMA_ID,
    version: COMPLIANCE_REPORT_VERSION,
    generatedAt: now.toISOString(),
    installation: { verifierKey: key },
    organization: org,
    period: {
      from: period.from.toISOString(),
      to: period.to.toISOString(),
      countedFrom: counted.from.toISOString(),
      countedTo: counted.to.toISOString(),
      days: Math.round(((period.to.getTime() - period.from.getTime()) / DAY_MS) * 100) / 100,
    },
    checkpoint: checkpointFacts(checkpoint),
    lastWitnessed: integrity.lastWitnessed,
    auditLog: {
      chain: integrity.chain,
      events: verification.events,
      eventsInPeriod,
      actionsInPeriod: actions.map((a) => ({ action: a.action, count: a._count._all })).sort((a, b) => b.count - a.count || a.action.localeCompare(b.action)),
      verification: {
        ok: verification.ok,
        events: verification.events,
        brokenAtSeq: verification.ok ? null : verification.brokenAtSeq,
        reason: verification.ok ? null : verification.reason,
        checkedAt: verifiedAt.toISOString(),
      },
    },
    aiAct: {
      article12: { automaticLogging: true, loggedEvents: LOGGED_EVENTS, requestsLogged: usage.requests },
      article19And26_6: {
        minimumDays: AI_ACT_MINIMUM_LOG_DAYS,
        traceRetentionDays: retention.traceDays,
        usageRecordRetentionDays: retention.usageRecordDays,
        auditLogRetention: "indefinite",
        usageRollupRetention: "indefinite",
        meetsMinimum: retention.meetsMinimum,
      },
    },
    retention: {
      traceDays: retention.traceDays,
      usageRecordDays: retention.usageRecordDays,
      contentCapture: { activeKeys: retention.activeKeys, keysCapturingContent: retention.keysCapturingContent },
    },
    deployments: deployments
      .map((d) => {
        const r = regions.get(d.regionId);
        return {
          id: d.deploymentId,
          name: d.deploymentName,
          dataClassification: d.dataClassification,
          region: r ? regionOut(r) : { id: d.regionId, code: d.regionCode, name: d.regionCode, provider: "", country: "", jurisdiction: "", certifications: [], extraterritorialExposure: d.extraterritorialExposure, exposureNote: null },
          status: d.status,
          policy: d.policy,
          reasons: d.reasons,
        };
      })
      .sort((a, b) => a.name.localeCompare(b.name)),
    compliance: { deployments: deployments.length, compliant: deployments.length - nonCompliant, nonCompliant },
    residency: {
      policies: policies.map((p) => ({
        dataClassification: p.dataClassification,
        allowedJurisdictions: p.allowedJurisdictions,
        requiredCertifications: p.requiredCertifications,
        allowedRegionIds: p.allowedRegionIds,
        allowExtraterritorial: p.allowExtraterritorial,
      })),
      processing: traffic
        .map((t) => ({ region: regions.has(t.regionId) ? regionOut(regions.get(t.regionId)!) : null, requests: t.requests, tokensIn: t.tokensIn, tokensOut: t.tokensOut }))
        .sort((a, b) => b.requests - a.requests),
      exposure: {
        exposedRegions: exposure.regions.map((r) => r.code),
        deploymentsInExposedRegions: exposure.deploymentsInExposedRegions,
        requests: exposure.requests,
        tokensIn: exposure.tokensIn,
        tokensOut: exposure.tokensOut,
        shareOfRequests: exposure.shareOfRequests,
      },
    },
    usage,
    guardrails,
  };
  // The document as published: a field the schema does not know, or a wrong type, fails here, not at an auditor's.
  return complianceReportSchema.parse(report);
}

/** The report's file name: compliance-<slug>-<from>-<to>.<ext> (UTC dates). */
export function reportFileName(report: Pick<ComplianceReport, "organization" | "period">, ext: "json" | "pdf") {
  const d = (iso: string) => iso.slice(0, 10);
  return `compliance-${report.organization.slug}-${d(report.period.from)}-${d(report.period.to)}.${ext}`;
}

// ─── The period asked for ────────────────────────────────────────────────────

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

function parseInstant(value: string, field: "from" | "to", now: Date): Date {
  const v = value.trim();
  if (!DATE_ONLY.test(v) && !DATE_TIME.test(v)) {
    throw badRequest(`${field} must be a date (2026-11-01) or an RFC 3339 date-time with its offset (2026-11-01T00:00:00Z); got "${v.slice(0, 40)}"`, field);
  }
  const t = new Date(DATE_ONLY.test(v) ? `${v}T00:00:00Z` : v);
  if (Number.isNaN(t.getTime()) || (DATE_ONLY.test(v) && t.toISOString().slice(0, 10) !== v)) throw badRequest(`${field} is not a real date: "${v}"`, field);
  if (field === "to" && DATE_ONLY.test(v)) {
    // A date alone as `to` means through the end of that day; today's ends now.
    const end = new Date(t.getTime() + DAY_MS);
    return end > now && t <= now ? now : end;
  }
  return t;
}

/**
 * The report's period from the query (`from`, `to`: dates or RFC 3339 date-times), validated with
 * precise messages: from before to, at most 400 days, not in the future.
 */
export function parseReportPeriod(input: { from: string; to: string }, now: Date = new Date()): ReportPeriod {
  const from = parseInstant(input.from, "from", now);
  const to = parseInstant(input.to, "to", now);
  // A minute of leeway for clocks: "now" on the caller's side may be a little ahead of ours.
  if (to.getTime() > now.getTime() + 60_000) throw badRequest(`to (${to.toISOString()}) is in the future; a report covers time that has passed (now: ${now.toISOString()})`, "to");
  if (from.getTime() >= to.getTime()) throw badRequest(`from (${from.toISOString()}) must be before to (${to.toISOString()})`, "from");
  const days = (to.getTime() - from.getTime()) / DAY_MS;
  if (days > MAX_REPORT_DAYS) throw badRequest(`The period is ${Math.ceil(days)} days long; a report covers at most ${MAX_REPORT_DAYS} days`, "from");
  return { from, to: to.getTime() > now.getTime() ? now : to };
}
