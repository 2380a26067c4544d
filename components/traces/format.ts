// How traces read in the console: durations, statuses and the periods of the list.
import { formatEur } from "../format";

/** A duration in milliseconds, with the precision a trace has (microseconds for short spans). */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "—";
  if (ms === 0) return "0 ms";
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 100) return `${ms.toFixed(0)} ms`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  if (ms >= 1) return `${ms.toFixed(2)} ms`;
  return `${ms.toFixed(3)} ms`;
}

const precise = new Intl.NumberFormat("en-IE", { style: "currency", currency: "EUR", maximumSignificantDigits: 3 });
/** A request's cost: often a fraction of a cent, shown to three significant digits then. */
export function formatCost(eur: number): string {
  return eur > 0 && eur < 0.01 ? precise.format(eur) : formatEur(eur);
}

export type Tone = "good" | "warn" | "bad" | "neutral";

/** 2xx good, 4xx the caller's (warn), 5xx ours (bad); 499 is the client going away. */
export function statusTone(status: number): Tone {
  if (status < 400) return "good";
  if (status < 500) return "warn";
  return "bad";
}

/** What a status means, for those who do not know HTTP codes by heart. */
export function statusLabel(status: number): string {
  const known: Record<number, string> = {
    200: "OK",
    400: "Bad request",
    401: "Not authenticated",
    403: "Refused",
    404: "Not found",
    413: "Too large",
    429: "Limit reached",
    499: "Client went away",
    500: "Internal error",
    502: "Upstream error",
    503: "Unavailable",
    504: "Upstream timeout",
  };
  return known[status] ?? (status < 400 ? "OK" : "Error");
}

export const PERIODS = [
  { value: "1h", label: "Last hour", ms: 3_600_000 },
  { value: "24h", label: "Last 24 hours", ms: 86_400_000 },
  { value: "7d", label: "Last 7 days", ms: 7 * 86_400_000 },
  { value: "30d", label: "Last 30 days", ms: 30 * 86_400_000 },
  { value: "180d", label: "Last 180 days", ms: 180 * 86_400_000 },
] as const;
export type Period = (typeof PERIODS)[number]["value"];
export const DEFAULT_PERIOD: Period = "24h";

export const STATUS_FILTERS = [
  { value: "", label: "Any status" },
  { value: "ok", label: "Succeeded (below 400)" },
  { value: "error", label: "Failed (400 and above)" },
  ...[400, 401, 403, 404, 429, 499, 500, 502, 503, 504].map((s) => ({ value: String(s), label: `${s} · ${statusLabel(s)}` })),
];

const time = new Intl.DateTimeFormat("en-GB", { dateStyle: "medium", timeStyle: "medium" });
/** A request's time, to the second (traces are read to find one request). */
export const formatTime = (d: Date | string) => time.format(new Date(d));

/** An attribute value as text: arrays one item per line are for the caller to split. */
export function attributeText(value: string | number | boolean | string[] | number[] | boolean[]): string {
  return Array.isArray(value) ? value.map(String).join(", ") : String(value);
}

export const TRACE_ID_PATTERN = /^[0-9a-f]{32}$/;
