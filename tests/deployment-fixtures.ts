import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { db } from "@/server/db";
import { generateApiKey } from "@/server/services/api-key-secrets";
import { TINY_MODEL_PARAMETERS, TINY_MODEL_SHA256, TINY_MODEL_URI } from "@/workers/model-server/tiny-model";
import { LocalDriver } from "@/workers/drivers/local";
import { reconcileDeployment, type ReconcileResult } from "@/workers/reconcile/deployment";
import type { ClusterDriver } from "@/workers/drivers/types";
import { createTenant, unique } from "./helpers";

/**
 * A tenant with a quota in an on-premises region run by the real local driver (model servers on
 * this machine), the tiny generated model in the catalog, and a second version of it.
 */
export async function localDeploymentFixture(options: { quota?: number; capacity?: number } = {}) {
  const tenant = await createTenant("deploy");
  const slot = await db.gpuType.create({ data: { code: unique("CPU-SLOT"), name: "CPU slot (test)", vendor: "none", memoryGb: 4 } });
  const region = await db.region.create({
    data: {
      code: unique("onprem"),
      name: "On-premises test cluster",
      provider: "tests",
      country: "FR",
      city: "Lyon",
      jurisdiction: "FR",
      certifications: ["HDS"],
      onPremises: true,
      driverKind: "LOCAL",
      carbonIntensityGco2Kwh: 32,
      capacities: { create: { gpuTypeId: slot.id, totalGpus: options.capacity ?? 4, priceCentsPerGpuHour: 36 } },
    },
  });
  const modelData = {
    family: unique("tiny"),
    name: "Tiny random Llama",
    parameterCount: BigInt(TINY_MODEL_PARAMETERS),
    contextLength: 512,
    license: "Apache-2.0",
    openWeights: true,
    openData: true,
    origin: "tests",
    artifactUri: TINY_MODEL_URI,
    artifactSha256: TINY_MODEL_SHA256,
    runtime: "LLAMA_CPP" as const,
    gpuMemoryGb: 1,
    fitsGpuTypes: { connect: [{ id: slot.id }] },
  };
  const slug = unique("tiny-random-llama");
  const model = await db.catalogModel.create({ data: { ...modelData, slug, version: "1" } });
  const modelV2 = await db.catalogModel.create({ data: { ...modelData, slug, version: "2" } });
  await db.quota.create({ data: { orgId: tenant.org.id, regionId: region.id, gpuTypeId: slot.id, limitGpus: options.quota ?? 3 } });
  const stateDir = mkdtempSync(path.join(os.tmpdir(), "enclave-local-cluster-"));
  const driver = new LocalDriver({ stateDir, totalGpus: { [slot.code]: options.capacity ?? 4 } });
  return { tenant, slot, region, model, modelV2, driver, stateDir };
}

/** Runs reconcile passes, as the workers would, until `until` holds or the time is up. */
export async function reconcileUntil(deploymentId: string, driver: ClusterDriver, until: (r: ReconcileResult, phase: string) => boolean, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  let last: ReconcileResult | null = null;
  while (Date.now() < deadline) {
    const result = await reconcileDeployment(deploymentId, { driver });
    last = result;
    const phase = (await db.deployment.findUniqueOrThrow({ where: { id: deploymentId }, select: { phase: true } })).phase;
    if (until(result, phase)) return { result, phase };
    await new Promise((r) => setTimeout(r, result.status === "requeue" ? Math.min(result.afterSeconds * 1000, 500) : 300));
  }
  throw new Error(`deployment ${deploymentId} did not converge in ${timeoutMs} ms (last: ${JSON.stringify(last)})`);
}

/**
 * An API key row made directly in the database with the real secret format (generateApiKey), as
 * the key management service stores it; returns the plaintext key the caller presents.
 */
export async function createApiKey(
  orgId: string,
  createdById: string,
  overrides: Partial<{
    name: string;
    scopes: string[];
    allowedDeploymentIds: string[];
    expiresAt: Date | null;
    rateLimitRpm: number | null;
    rateLimitTpm: number | null;
    monthlyBudgetCents: number | null;
  }> = {},
) {
  const { key, prefix, secretHash } = generateApiKey();
  const row = await db.apiKey.create({
    data: { orgId, name: overrides.name ?? unique("gateway key"), prefix, secretHash, scopes: ["inference"], createdById, ...overrides },
  });
  return { key, row };
}
