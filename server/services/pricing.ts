// The one place GPU time becomes money. Prices are euro cents per GPU-hour (RegionCapacity).

export const MICRO_EUR_PER_CENT = 10_000;

/** Cost, in micro-euros, of `gpuSeconds` GPU-seconds at `priceCentsPerGpuHour`. */
export function gpuCostMicroEur(priceCentsPerGpuHour: number, gpuSeconds: number): number {
  return Math.round((priceCentsPerGpuHour * MICRO_EUR_PER_CENT * gpuSeconds) / 3600);
}

/** Price per hour, in euros, of `gpus` GPUs at `priceCentsPerGpuHour`. */
export function hourlyPriceEur(priceCentsPerGpuHour: number, gpus: number): number {
  return (priceCentsPerGpuHour * gpus) / 100;
}
