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
 * Price of inference calls per token, in micro-euros per million tokens. GPU time is what tenants
 * pay for today (metered by the workers, gpuCostMicroEur above), so calls through the gateway are
 * charged nothing per token until the catalog carries a per-token price.
 */
export interface TokenPrice {
  inputMicroEurPerMillionTokens: number;
  outputMicroEurPerMillionTokens: number;
}

export const NO_TOKEN_CHARGE: TokenPrice = Object.freeze({ inputMicroEurPerMillionTokens: 0, outputMicroEurPerMillionTokens: 0 });

/** Cost, in micro-euros, of one inference call (UsageRecord.costMicroEur): the one place it is computed. */
export function inferenceCostMicroEur(tokensIn: number, tokensOut: number, price: TokenPrice = NO_TOKEN_CHARGE): number {
  return Math.round((tokensIn * price.inputMicroEurPerMillionTokens + tokensOut * price.outputMicroEurPerMillionTokens) / 1_000_000);
}
