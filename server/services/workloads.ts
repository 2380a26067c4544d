import { db } from "../db";

// Usage read model: requests written by the gateway (UsageRecord) and GPU time metered by the
// workers (GpuUsage). API keys have their own service: api-keys.ts.

/** Requests, tokens and cost per day over the last `days` days. */
export async function usageSummary(orgId: string, days = 30) {
  const since = new Date(Date.now() - days * 24 * 3600 * 1000);
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
    daily,
    gpu: {
      byDeployment: gpuByDeployment,
      gpuHours: gpuByDeployment.reduce((s, g) => s + g.gpuHours, 0),
      costEur: gpuByDeployment.reduce((s, g) => s + g.costEur, 0),
    },
    totals: daily.reduce((t, d) => ({ requests: t.requests + d.requests, tokens: t.tokens + d.tokens, costEur: t.costEur + d.costEur, errors: t.errors + d.errors }), { requests: 0, tokens: 0, costEur: 0, errors: 0 }),
  };
}
