// One place for how numbers, money and dates look in the console.
export const eur = new Intl.NumberFormat("en-IE", { style: "currency", currency: "EUR", maximumFractionDigits: 2 });
export const num = new Intl.NumberFormat("en-IE");

export const formatEur = (value: number) => eur.format(value);
export const formatNumber = (value: number | bigint) => num.format(value);
/** What a spend figure is made of, shown beside it wherever it appears (overview, usage, admin). */
export const formatSpendBreakdown = (spend: { gpuTimeEur: number; requestsEur: number }) => `${eur.format(spend.gpuTimeEur)} GPU time · ${eur.format(spend.requestsEur)} requests`;
/** A per-token price in € per million tokens, with the digits it has (€0.15, €0.0005). */
export const formatTokenPrice = (eurPerMillion: number) =>
  new Intl.NumberFormat("en-IE", { style: "currency", currency: "EUR", minimumFractionDigits: 2, maximumFractionDigits: 6 }).format(eurPerMillion);
/** Prices are stored in euro cents per GPU-hour. */
export const formatPricePerHour = (cents: number) => `${eur.format(cents / 100)}/h`;

export function formatParameters(count: bigint | number): string {
  const n = Number(count);
  if (n >= 1e9) return `${(n / 1e9).toFixed(n >= 1e10 ? 0 : 1)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(0)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(0)}K`;
  return String(n);
}

const dateTime = new Intl.DateTimeFormat("en-GB", { dateStyle: "medium", timeStyle: "short" });
const date = new Intl.DateTimeFormat("en-GB", { dateStyle: "medium" });
export const formatDateTime = (d: Date | string) => dateTime.format(new Date(d));
export const formatDate = (d: Date | string) => date.format(new Date(d));

// Dashboards (usage, deployment, admin): money arrives in micro-euros, latencies in milliseconds.
/** Micro-euros as euros; amounts under a cent keep enough digits to not read as zero. */
export function formatMicroEur(micro: number): string {
  const value = micro / 1e6;
  if (value !== 0 && Math.abs(value) < 0.01) return new Intl.NumberFormat("en-IE", { style: "currency", currency: "EUR", maximumSignificantDigits: 2 }).format(value);
  return eur.format(value);
}
/** A latency in ms (e.g. "84 ms", "1.2 s"); "—" when there was nothing to measure. */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "—";
  if (ms >= 10_000) return `${(ms / 1000).toFixed(0)} s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(1)} s`;
  return `${ms >= 10 ? Math.round(ms) : Number(ms.toFixed(1))} ms`;
}
/** part / whole as a percentage with one decimal; "—" when whole is 0. */
export const formatRate = (part: number, whole: number) => (whole > 0 ? `${((100 * part) / whole).toFixed(1)} %` : "—");
/** Large counts in a short form for axes and headline figures: 1.2K, 3.4M. */
export const formatCompact = (value: number) => new Intl.NumberFormat("en-IE", { notation: "compact", maximumFractionDigits: 1 }).format(value);
