import { db } from "../db";

// Read models for the console pages whose write side comes with the gateway issue.
// (API keys have their own service: api-keys.ts.)

/** Requests, tokens and cost per day over the last `days` days. */
export async function usageSummary(orgId: string, days = 30) {
  const since = new Date(Date.now() - days * 24 * 3600 * 1000);
  const rows = await db.$queryRaw<{ day: Date; requests: bigint; tokens: bigint; cost: bigint; errors: bigint }[]>`
    SELECT date_trunc('day', "createdAt") AS day, count(*) AS requests, coalesce(sum("tokensIn" + "tokensOut"), 0) AS tokens,
           coalesce(sum("costMicroEur"), 0) AS cost, count(*) FILTER (WHERE status >= 400) AS errors
    FROM "UsageRecord" WHERE "orgId" = ${orgId} AND "createdAt" >= ${since}
    GROUP BY 1 ORDER BY 1`;
  const daily = rows.map((r) => ({ day: r.day, requests: Number(r.requests), tokens: Number(r.tokens), costEur: Number(r.cost) / 1e6, errors: Number(r.errors) }));
  return {
    days,
    daily,
    totals: daily.reduce((t, d) => ({ requests: t.requests + d.requests, tokens: t.tokens + d.tokens, costEur: t.costEur + d.costEur, errors: t.errors + d.errors }), { requests: 0, tokens: 0, costEur: 0, errors: 0 }),
  };
}
