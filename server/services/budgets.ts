/**
 * Organisation budgets (docs/budgets.md): an amount per calendar month (UTC), alert thresholds,
 * and a mode. Spend is token cost (what the gateway metered, at the catalog's per-token prices)
 * plus GPU time (metered slices, and the running time not metered yet).
 *
 * - Alerts: `evaluateBudgets` (the workers, every few seconds) records each threshold crossed once
 *   per month and budget amount — a `BudgetAlert`, an audit event, a webhook delivery and a mail to
 *   the owners and admins (docs/email.md), in one transaction.
 * - Hard mode: the gateways lease the organisation's budget like a key's (server/gateway/limits.ts,
 *   "org_budget"), exact for token cost; the GPU time they subtract is the "org_gpu" row that the
 *   evaluation (and a change of budget) writes.
 */
import type { BudgetInput } from "../../lib/budgets";
import { db, type Tx } from "../db";
import { notFound } from "../errors";
import type { BudgetMode } from "../generated/prisma/enums";
import { recordAudit, systemActor, type Actor } from "./audit";
import { budgetMonth, MICRO_EUR_PER_CENT, microEurToEur } from "./pricing";
import { consoleUrl, queueMail } from "./mail";
import { budgetAlertMail } from "./mail-templates";
import { enqueueWebhookEvent } from "./webhooks";

export interface MonthSpend {
  tokensMicroEur: bigint;
  gpuMicroEur: bigint;
  totalMicroEur: bigint;
}

const ZERO: MonthSpend = Object.freeze({ tokensMicroEur: 0n, gpuMicroEur: 0n, totalMicroEur: 0n });

/**
 * This calendar month's spend per organisation, exact at the moment of the query and without
 * reading raw rows: token cost from the daily roll-ups plus the deltas not rolled up yet (written
 * in the same transaction as each usage record, docs/usage.md), GPU time from the metered slices
 * that started this month plus, for replicas running now, the time since they were last metered.
 */
export async function monthSpend(orgIds: string[], now = new Date()): Promise<Map<string, MonthSpend>> {
  if (orgIds.length === 0) return new Map();
  const { start } = budgetMonth(now.getTime());
  const month = start.toISOString();
  const at = now.toISOString();
  const rows = await db.$queryRaw<{ orgId: string; tokens: bigint; gpu: bigint }[]>`
    WITH tokens AS (
      SELECT "orgId", sum("costMicroEur") AS c FROM "UsageDailyTotal" WHERE "orgId" = ANY(${orgIds}::text[]) AND "day" >= ${month.slice(0, 10)}::date AND "deploymentId" = '*' AND "apiKeyId" = '*' GROUP BY 1
      UNION ALL
      SELECT "orgId", sum("costMicroEur") FROM "UsageDelta" WHERE "orgId" = ANY(${orgIds}::text[]) AND "hour" >= ${month}::timestamp GROUP BY 1
    ), gpu AS (
      SELECT "orgId", sum("costMicroEur") AS c FROM "GpuUsage" WHERE "orgId" = ANY(${orgIds}::text[]) AND "periodStart" >= ${month}::timestamp GROUP BY 1
      UNION ALL
      SELECT d."orgId", sum(
        round(greatest(0, extract(epoch FROM ${at}::timestamp - greatest(coalesce(r."meteredUntil", r."readyAt"), ${month}::timestamp)))
          * d."gpusPerReplica" * coalesce(rc."priceCentsPerGpuHour", 0) * ${MICRO_EUR_PER_CENT} / 3600)
      )
      FROM "DeploymentReplica" r
      JOIN "Deployment" d ON d.id = r."deploymentId"
      LEFT JOIN "RegionCapacity" rc ON rc."regionId" = d."regionId" AND rc."gpuTypeId" = d."gpuTypeId"
      WHERE r.state = 'ready' AND r."readyAt" IS NOT NULL AND d."orgId" = ANY(${orgIds}::text[])
      GROUP BY 1
    )
    SELECT o.id AS "orgId",
      coalesce((SELECT sum(c) FROM tokens WHERE tokens."orgId" = o.id), 0)::bigint AS tokens,
      coalesce((SELECT sum(c) FROM gpu WHERE gpu."orgId" = o.id), 0)::bigint AS gpu
    FROM unnest(${orgIds}::text[]) AS o(id)`;
  return new Map(rows.map((r) => [r.orgId, { tokensMicroEur: BigInt(r.tokens), gpuMicroEur: BigInt(r.gpu), totalMicroEur: BigInt(r.tokens) + BigInt(r.gpu) }]));
}

/**
 * Writes the GPU time each hard-budget organisation spent this month where the gateways' leases
 * read it ("GatewayAllowance", kind "org_gpu"): what they may still lease is the budget minus it.
 */
async function recordGpuSpendForGateways(spend: Map<string, MonthSpend>, orgIds: string[], now: Date) {
  if (orgIds.length === 0) return;
  const month = budgetMonth(now.getTime()).start.toISOString();
  const amounts = orgIds.map((id) => (spend.get(id) ?? ZERO).gpuMicroEur.toString());
  await db.$executeRaw`
    INSERT INTO "GatewayAllowance" ("apiKeyId", kind, "windowStart", granted, "lastGrant")
    SELECT o.id, 'org_gpu', ${month}::timestamp, o.gpu, 0 FROM unnest(${orgIds}::text[], ${amounts}::bigint[]) AS o(id, gpu)
    ON CONFLICT ("apiKeyId", kind, "windowStart") DO UPDATE SET granted = EXCLUDED.granted, "updatedAt" = now()`;
}

const budgetSelect = { id: true, slug: true, name: true, monthlyBudgetCents: true, budgetMode: true, budgetAlertThresholds: true } as const;

function settingsOf(org: { monthlyBudgetCents: number | null; budgetMode: BudgetMode; budgetAlertThresholds: number[] }) {
  if (org.monthlyBudgetCents === null) return null;
  return { monthlyBudgetEur: org.monthlyBudgetCents / 100, mode: org.budgetMode, alertThresholds: [...org.budgetAlertThresholds].sort((a, b) => a - b) };
}

const percentOf = (spent: bigint, budgetCents: number) => Math.round((Number(spent) / (budgetCents * MICRO_EUR_PER_CENT)) * 10_000) / 100;

function alertView(a: { id: string; month: Date; threshold: number; budgetCents: number; mode: BudgetMode; spentMicroEur: bigint; createdAt: Date }) {
  return { id: a.id, month: a.month.toISOString().slice(0, 7), threshold: a.threshold, budgetEur: a.budgetCents / 100, mode: a.mode, spentEur: microEurToEur(a.spentMicroEur), createdAt: a.createdAt };
}

/** The budget, this month's spend against it, and this month's alerts (any member may read them). */
export async function getBudget(orgId: string, now = new Date()) {
  const org = await db.organization.findUnique({ where: { id: orgId }, select: budgetSelect });
  if (!org) throw notFound("Organisation");
  const month = budgetMonth(now.getTime());
  const [spend, alerts] = await Promise.all([
    monthSpend([orgId], now).then((m) => m.get(orgId) ?? ZERO),
    db.budgetAlert.findMany({ where: { orgId, month: month.start }, orderBy: [{ threshold: "asc" }, { createdAt: "asc" }] }),
  ]);
  const budget = settingsOf(org);
  return {
    budget,
    month: month.label,
    resetsAt: month.end,
    spend: { requestsEur: microEurToEur(spend.tokensMicroEur), gpuTimeEur: microEurToEur(spend.gpuMicroEur), totalEur: microEurToEur(spend.totalMicroEur) },
    percentUsed: org.monthlyBudgetCents === null ? null : percentOf(spend.totalMicroEur, org.monthlyBudgetCents),
    hardLimitReached: org.budgetMode === "HARD" && org.monthlyBudgetCents !== null && spend.totalMicroEur >= BigInt(org.monthlyBudgetCents) * BigInt(MICRO_EUR_PER_CENT),
    alerts: alerts.map(alertView),
  };
}

/** Sets the budget (owners and admins). Saving it unchanged writes nothing. */
export async function setBudget(orgId: string, actor: Actor, input: BudgetInput) {
  const cents = Math.round(input.monthlyBudgetEur * 100);
  const thresholds = [...new Set(input.alertThresholds)].sort((a, b) => a - b);
  const result = await db.$transaction(async (tx) => {
    const before = await tx.organization.findUnique({ where: { id: orgId }, select: budgetSelect });
    if (!before) throw notFound("Organisation");
    const unchanged = before.monthlyBudgetCents === cents && before.budgetMode === input.mode && settingsOf(before)!.alertThresholds.join() === thresholds.join();
    if (unchanged) return settingsOf(before)!;
    const after = await tx.organization.update({ where: { id: orgId }, data: { monthlyBudgetCents: cents, budgetMode: input.mode, budgetAlertThresholds: thresholds }, select: budgetSelect });
    // Spend made while the budget was not hard was never leased: the gateways count again from the records.
    if (input.mode === "HARD" && (before.budgetMode !== "HARD" || before.monthlyBudgetCents === null)) await resetGatewayCount(tx, orgId);
    await recordAudit(tx, actor, { orgId, action: "budget.set", targetType: "Organization", targetId: orgId, before: settingsOf(before), after: settingsOf(after) });
    return settingsOf(after)!;
  });
  // A new hard budget counts GPU time at once, not from the next evaluation.
  if (input.mode === "HARD") {
    const now = new Date();
    await recordGpuSpendForGateways(await monthSpend([orgId], now), [orgId], now);
  }
  return result;
}

async function resetGatewayCount(tx: Tx, orgId: string) {
  await tx.$executeRaw`DELETE FROM "GatewayAllowance" WHERE "apiKeyId" = ${orgId} AND kind = 'org_budget'`;
}

export async function removeBudget(orgId: string, actor: Actor) {
  return db.$transaction(async (tx) => {
    const before = await tx.organization.findUnique({ where: { id: orgId }, select: budgetSelect });
    if (!before) throw notFound("Organisation");
    if (before.monthlyBudgetCents === null) throw notFound("This organisation's budget");
    await tx.organization.update({ where: { id: orgId }, data: { monthlyBudgetCents: null, budgetMode: "SOFT" } });
    await recordAudit(tx, actor, { orgId, action: "budget.removed", targetType: "Organization", targetId: orgId, before: settingsOf(before) });
    return { removed: true as const };
  });
}

const EVALUATION_ACTOR = systemActor("budget evaluation");

/**
 * Compares every budgeted organisation's spend this month with its thresholds; each threshold
 * crossed for the first time this month (at this budget amount) becomes an alert, an audit event
 * and a webhook delivery, committed together. Safe to run concurrently: the alert's unique key
 * lets one transaction win. Also refreshes the GPU time the gateways subtract from hard budgets.
 */
export async function evaluateBudgets(now = new Date()): Promise<{ organizations: number; alerts: number }> {
  const orgs = await db.organization.findMany({ where: { monthlyBudgetCents: { not: null } }, select: budgetSelect });
  if (orgs.length === 0) return { organizations: 0, alerts: 0 };
  const ids = orgs.map((o) => o.id);
  const month = budgetMonth(now.getTime());
  const spend = await monthSpend(ids, now);
  await recordGpuSpendForGateways(spend, orgs.filter((o) => o.budgetMode === "HARD").map((o) => o.id), now);

  const known = await db.budgetAlert.findMany({ where: { orgId: { in: ids }, month: month.start }, select: { orgId: true, threshold: true, budgetCents: true } });
  const seen = new Set(known.map((a) => `${a.orgId}|${a.threshold}|${a.budgetCents}`));
  let raised = 0;
  for (const org of orgs) {
    const cents = org.monthlyBudgetCents!;
    const spent = spend.get(org.id) ?? ZERO;
    const budgetMicro = BigInt(cents) * BigInt(MICRO_EUR_PER_CENT);
    const crossed = org.budgetAlertThresholds
      .filter((t) => spent.totalMicroEur * 100n >= budgetMicro * BigInt(t) && !seen.has(`${org.id}|${t}|${cents}`))
      .sort((a, b) => a - b);
    for (const threshold of crossed) if (await raiseAlert(org, threshold, spent, month, now)) raised++;
  }
  return { organizations: orgs.length, alerts: raised };
}

async function raiseAlert(
  org: { id: string; slug: string; name: string; monthlyBudgetCents: number | null; budgetMode: BudgetMode },
  threshold: number,
  spent: MonthSpend,
  month: ReturnType<typeof budgetMonth>,
  now: Date,
): Promise<boolean> {
  const cents = org.monthlyBudgetCents!;
  return db.$transaction(async (tx) => {
    const key = { orgId: org.id, month: month.start, threshold, budgetCents: cents };
    const { count } = await tx.budgetAlert.createMany({ data: [{ ...key, mode: org.budgetMode, spentMicroEur: spent.totalMicroEur, createdAt: now }], skipDuplicates: true });
    if (count === 0) return false; // another worker recorded it first
    const alert = await tx.budgetAlert.findUniqueOrThrow({ where: { orgId_month_threshold_budgetCents: key } });
    const percentUsed = percentOf(spent.totalMicroEur, cents);
    const refusing = org.budgetMode === "HARD" && percentUsed >= 100;
    const details = {
      month: month.label,
      threshold,
      budget: { amountEur: cents / 100, mode: org.budgetMode.toLowerCase() },
      spentEur: microEurToEur(spent.totalMicroEur),
      spend: { requestsEur: microEurToEur(spent.tokensMicroEur), gpuTimeEur: microEurToEur(spent.gpuMicroEur) },
      percentUsed,
      refusing,
    };
    await recordAudit(tx, EVALUATION_ACTOR, { orgId: org.id, action: "budget.threshold_crossed", targetType: "BudgetAlert", targetId: alert.id, after: details });
    await enqueueWebhookEvent(tx, org.id, "budget.threshold_crossed", { alertId: alert.id, ...details });
    const managers = await tx.membership.findMany({ where: { orgId: org.id, role: { in: ["OWNER", "ADMIN"] } }, select: { user: { select: { email: true } } } });
    const mail = budgetAlertMail({ orgName: org.name, month: month.label, threshold, percentUsed, spentEur: details.spentEur, budgetEur: cents / 100, refusing, budgetUrl: consoleUrl(`/o/${org.slug}/settings`) });
    await queueMail(tx, { kind: "BUDGET_ALERT", orgId: org.id, to: managers.map((m) => m.user.email), mail });
    return true;
  });
}
