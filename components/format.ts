// One place for how numbers, money and dates look in the console.
export const eur = new Intl.NumberFormat("en-IE", { style: "currency", currency: "EUR", maximumFractionDigits: 2 });
export const num = new Intl.NumberFormat("en-IE");

export const formatEur = (value: number) => eur.format(value);
export const formatNumber = (value: number | bigint) => num.format(value);
/** What a spend figure is made of, shown beside it wherever it appears (overview, usage, admin). */
export const formatSpendBreakdown = (spend: { gpuTimeEur: number; requestsEur: number }) => `${eur.format(spend.gpuTimeEur)} GPU time · ${eur.format(spend.requestsEur)} requests`;
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
