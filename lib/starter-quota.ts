/**
 * The input of the starter-quota setting (docs/onboarding.md), shared by the admin form and the
 * API's edge. Kept out of lib/schemas.ts so the onboarding work stays in its own files.
 */
import { z } from "./zod";
import { id } from "./schemas";

export const STARTER_QUOTA_MAX_ENTRIES = 50;

export const starterQuotaEntry = z.object({
  regionId: id("Region"),
  gpuTypeId: id("GPU type"),
  limitGpus: z.number({ error: "Enter a whole number of GPUs" }).int("Enter a whole number of GPUs").min(1, "Give at least 1 GPU, or remove the line").max(100_000, "At most 100,000 GPUs"),
});

export const starterQuotaInput = z.object({
  entries: z.array(starterQuotaEntry).max(STARTER_QUOTA_MAX_ENTRIES, `At most ${STARTER_QUOTA_MAX_ENTRIES} lines`),
});
