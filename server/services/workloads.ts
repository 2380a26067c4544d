import { db } from "../db";
import { microEurToEur } from "./pricing";

// Usage read model: requests written by the gateway (UsageRecord) and GPU time metered by the
// workers (GpuUsage). API keys have their own service: api-keys.ts.

/** What an organisation spent: GPU time metered by the workers plus requests through the gateway. */
export interface Spend {
  gpuTimeEur: number;
  requestsEur: number;
  totalEur: number;
}

export const NO_SPEND: Spend = Object.freeze({ gpuTimeEur: 0, requestsEur: 0, totalEur: 0 });

/** The start of the last `days` days, the window every spend figure uses. */
export const daysAgo = (days: number, now = Date.now()) => new Date(now - days * 24 * 3600 * 1000);

/**
 * Spend since `since`, per organisation (all of them, or `orgIds`): the one computation behind
 * the overview, the usage page and the admin organisations list, so their figures agree.
 * GPU time counts the metered slices ending in the window; requests, those made in it.
 */
export async function spendByOrganization(since: Date, orgIds?: string[]): Promise<Map<string, Spend>> {
  const orgs = orgIds ? { orgId: { in: orgIds } } : {};
  const [gpu, requests] = await Promise.all([
    db.gpuUsage.groupBy({ by: ["orgId"], where: { ...orgs, periodEnd: { gte: since } }, _sum: { costMicroEur: true } }),
    db.usageRecord.groupBy({ by: ["orgId"], where: { ...orgs, createdAt: { gte: since } }, _sum: { costMicroEur: true } }),
  ]);
  const micro = new Map<string, { gpu: bigint; requests: bigint }>();
  const entry = (orgId: string) => micro.get(orgId) ?? micro.set(orgId, { gpu: 0n, requests: 0n }).get(orgId)!;
  for (const g of gpu) entry(g.orgId).gpu += g._sum.costMicroEur ?? 0n;
  for (const r of requests) entry(r.orgId).requests += BigInt(r._sum.costMicroEur ?? 0);
  return new Map(
    [...micro].map(([orgId, m]) => [orgId, { gpuTimeEur: microEurToEur(m.gpu), requestsEur: microEurToEur(m.requests), totalEur: microEurToEur(m.gpu + m.requests) }]),
  );
}

export async function organizationSpend(orgId: string, since: Date): Promise<Spend> {
  return (await spendByOrganization(since, [orgId])).get(orgId) ?? NO_SPEND;
}

/** Requests, tokens and cost per day over the last `days` days, GPU time per deployment, and the spend. */
export async function usageSummary(orgId: string, days = 30) {
  const since = daysAgo(days);
  const rows = await db.$queryRaw<{ day: Date; requests: bigint; tokens: bigint; cost: bigint; errors: bigint }[]>`
    SELECT date_trunc('day', "createdAt") AS day, count(*) AS requests, coalesce(sum("tokensIn" + "tokensOut"), 0) AS tokens,
           coalesce(sum("costMicroEur"), 0) AS cost, count(*) FILTER (WHERE status >= 400) AS errors
    FROM "UsageRecord" WHERE "orgId" = ${orgId} AND "createdAt" >= ${since}
    GROUP BY 1 ORDER BY 1`;
  const daily = rows.map((r) => ({ day: r.day, requests: Number(r.requests), tokens: Number(r.tokens), costEur: Number(r.cost) / 1e6, errors: Number(r.errors) }));
  // GPU time metered by the workers from observed running replicas, per deployment.
  const gpu = await db.$queryRaw<{ deploymentId: string; name: string; gpuSeconds: bigint; cost: bigint }[]>`
    SELECT g."deploymentId", d.name, coalesce(sum(g."gpuSeconds"), 0)::bigint AS "gpuSeconds", coalesce(sum(g."costMicroEur"), 0)::bigint AS cost
    FROM "GpuUsage" g JOIN "Deployment" d ON d.id = g."deploymentId"
    WHERE g."orgId" = ${orgId} AND g."periodEnd" >= ${since}
    GROUP BY 1, 2 ORDER BY cost DESC`;
  const gpuByDeployment = gpu.map((g) => ({ deploymentId: g.deploymentId, name: g.name.replace(/~deleted-.*$/, " (deleted)"), gpuHours: Number(g.gpuSeconds) / 3600, costEur: Number(g.cost) / 1e6 }));
  return {
    days,
    spend: await organizationSpend(orgId, since),
    daily,
    gpu: {
      byDeployment: gpuByDeployment,
      gpuHours: gpuByDeployment.reduce((s, g) => s + g.gpuHours, 0),
      costEur: gpuByDeployment.reduce((s, g) => s + g.costEur, 0),
    },
    totals: daily.reduce((t, d) => ({ requests: t.requests + d.requests, tokens: t.tokens + d.tokens, costEur: t.costEur + d.costEur, errors: t.errors + d.errors }), { requests: 0, tokens: 0, costEur: 0, errors: 0 }),
  };
}
