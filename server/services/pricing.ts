// The one place GPU time becomes money. Prices are euro cents per GPU-hour (RegionCapacity).

export const MICRO_EUR_PER_CENT = 10_000;

/** Micro-euros (how costs are stored, as integers) to euros, for display. */
export function microEurToEur(microEur: number | bigint): number {
  return Number(microEur) / 1_000_000;
}

/** Cost, in micro-euros, of `gpuSeconds` GPU-seconds at `priceCentsPerGpuHour`. */
export function gpuCostMicroEur(priceCentsPerGpuHour: number, gpuSeconds: number): number {
  return Math.round((priceCentsPerGpuHour * MICRO_EUR_PER_CENT * gpuSeconds) / 3600);
}

/** Price per hour, in euros, of `gpus` GPUs at `priceCentsPerGpuHour`. */
export function hourlyPriceEur(priceCentsPerGpuHour: number, gpus: number): number {
  return (priceCentsPerGpuHour * gpus) / 100;
}

/**
 * Price of inference calls per token, in micro-euros per million tokens (€0.15 per million tokens
 * is 150,000): the catalog model's own columns (CatalogModel.inputMicroEurPerMillionTokens, …),
 * set by platform admins. The gateway takes each route's price from its model (state.ts); GPU time
 * is metered on top by the workers (gpuCostMicroEur above). docs/budgets.md.
 */
export interface TokenPrice {
  inputMicroEurPerMillionTokens: number;
  outputMicroEurPerMillionTokens: number;
}

export const NO_TOKEN_CHARGE: TokenPrice = Object.freeze({ inputMicroEurPerMillionTokens: 0, outputMicroEurPerMillionTokens: 0 });

/** A catalog model's per-token price (its two columns). */
export function tokenPriceOf(model: TokenPrice): TokenPrice {
  return { inputMicroEurPerMillionTokens: model.inputMicroEurPerMillionTokens, outputMicroEurPerMillionTokens: model.outputMicroEurPerMillionTokens };
}

/** The same price in € per million tokens, for display and the API. */
export function tokenPriceEur(price: TokenPrice): { inputEurPerMillionTokens: number; outputEurPerMillionTokens: number } {
  return { inputEurPerMillionTokens: price.inputMicroEurPerMillionTokens / 1_000_000, outputEurPerMillionTokens: price.outputMicroEurPerMillionTokens / 1_000_000 };
}

/** The calendar month (UTC) that budgets count in: its first instant, and the next month's. */
export function budgetMonth(now = Date.now()): { start: Date; end: Date; label: string } {
  const d = new Date(now);
  const start = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1));
  const end = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1));
  return { start, end, label: start.toISOString().slice(0, 7) };
}

/** Cost, in micro-euros, of one inference call (UsageRecord.costMicroEur): the one place it is computed. */
export function inferenceCostMicroEur(tokensIn: number, tokensOut: number, price: TokenPrice = NO_TOKEN_CHARGE): number {
  return Math.round((tokensIn * price.inputMicroEurPerMillionTokens + tokensOut * price.outputMicroEurPerMillionTokens) / 1_000_000);
}
