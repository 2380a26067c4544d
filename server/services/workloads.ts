import { gpuCostByOrganization, requestTotalsByOrganization, type UsagePeriod } from "./usage";
import { microEurToEur } from "./pricing";

// Spend read model: requests through the gateway (the roll-ups of UsageRecord, usage.ts) and GPU
// time metered by the workers (GpuUsage). The dashboards are in usage.ts; API keys in api-keys.ts.

/** What an organisation spent: GPU time metered by the workers plus requests through the gateway. */
export interface Spend {
  gpuTimeEur: number;
  requestsEur: number;
  totalEur: number;
}

export const NO_SPEND: Spend = Object.freeze({ gpuTimeEur: 0, requestsEur: 0, totalEur: 0 });

/** An organisation's requests and tokens over a period, with its spend. */
export interface OrganizationActivity {
  requests: number;
  tokens: number;
  spend: Spend;
}

/**
 * Requests, tokens and spend over a period (the dashboards' periods: "30d" is the 30 UTC days
 * ending today), per organisation (all of them, or `orgIds`), from the roll-ups and GpuUsage: the
 * one computation behind the overview and the admin organisations list, so their figures agree
 * with the usage page's. GPU time counts the metered slices that started in the period.
 */
export async function activityByOrganization(period: UsagePeriod, orgIds?: string[], now?: Date): Promise<Map<string, OrganizationActivity>> {
  const [{ byOrg }, gpu] = await Promise.all([requestTotalsByOrganization(period, orgIds, now), gpuCostByOrganization(period, orgIds, now)]);
  const result = new Map<string, OrganizationActivity>();
  for (const orgId of new Set([...byOrg.keys(), ...gpu.keys()])) {
    const r = byOrg.get(orgId);
    const gpuMicro = BigInt(Math.round(gpu.get(orgId) ?? 0));
    const requestsMicro = BigInt(Math.round(r?.tokenCostMicroEur ?? 0));
    result.set(orgId, {
      requests: r?.requests ?? 0,
      tokens: (r?.tokensIn ?? 0) + (r?.tokensOut ?? 0),
      spend: { gpuTimeEur: microEurToEur(gpuMicro), requestsEur: microEurToEur(requestsMicro), totalEur: microEurToEur(gpuMicro + requestsMicro) },
    });
  }
  return result;
}

export async function spendByOrganization(period: UsagePeriod, orgIds?: string[]): Promise<Map<string, Spend>> {
  return new Map([...(await activityByOrganization(period, orgIds))].map(([orgId, a]) => [orgId, a.spend]));
}

export async function organizationSpend(orgId: string, period: UsagePeriod): Promise<Spend> {
  return (await spendByOrganization(period, [orgId])).get(orgId) ?? NO_SPEND;
}

export async function organizationActivity(orgId: string, period: UsagePeriod): Promise<OrganizationActivity> {
  return (await activityByOrganization(period, [orgId])).get(orgId) ?? { requests: 0, tokens: 0, spend: NO_SPEND };
}
