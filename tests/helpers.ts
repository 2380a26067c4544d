import { randomBytes } from "node:crypto";
import { getErrorShape, getTRPCErrorFromUnknown } from "@trpc/server/unstable-core-do-not-import";
import { createContext } from "@/server/api/context";
import { appRouter, createCaller } from "@/server/api/root";
import { db } from "@/server/db";
import type { OrgRole } from "@/server/generated/prisma/enums";
import { hashPassword } from "@/server/passwords";
import { signUp } from "@/server/services/accounts";
import { createTrace } from "./trace-fixtures";

export const unique = (label: string) => `${label}-${randomBytes(4).toString("hex")}`;
export const TEST_PASSWORD = "correct horse battery staple";

let cachedHash: string | undefined;
async function passwordHash() {
  return (cachedHash ??= await hashPassword(TEST_PASSWORD));
}

export function callerFor(userId: string | null, ip = "203.0.113.7") {
  return createCaller(createContext({ userId, ip }));
}

export async function createUser(label: string, options: { platformAdmin?: boolean } = {}) {
  const email = `${unique(label)}@example.test`;
  return db.user.create({ data: { email, name: label, passwordHash: await passwordHash(), platformAdmin: options.platformAdmin ?? false } });
}

export async function addMember(orgId: string, role: OrgRole, label = role.toLowerCase()) {
  const user = await createUser(label);
  const membership = await db.membership.create({ data: { orgId, userId: user.id, role } });
  return { user, membership };
}

/** Shared platform fixtures (a region, a GPU type, a catalog model) for tenant data that needs them. */
export async function platformFixture() {
  const gpuType = await db.gpuType.create({ data: { code: unique("GPU"), name: "Test GPU", vendor: "test", memoryGb: 80 } });
  const region = await db.region.create({
    data: {
      code: unique("test-region"),
      name: "Test region",
      provider: "Test",
      country: "FR",
      city: "Paris",
      jurisdiction: "FR",
      certifications: ["SecNumCloud"],
      driverKind: "LOCAL",
      carbonIntensityGco2Kwh: 50,
      capacities: { create: { gpuTypeId: gpuType.id, totalGpus: 16, priceCentsPerGpuHour: 295 } },
    },
  });
  const model = await db.catalogModel.create({
    data: {
      slug: unique("model"),
      family: "test",
      name: "Test model",
      version: "1",
      parameterCount: 1000n,
      contextLength: 2048,
      license: "Apache-2.0",
      openWeights: true,
      openData: true,
      origin: "tests",
      artifactUri: "local://test.gguf",
      artifactSha256: "0".repeat(64),
      runtime: "LLAMA_CPP",
      gpuMemoryGb: 1,
    },
  });
  return { gpuType, region, model };
}

/** A GPU type and an ACTIVE region offering `totalGpus` of it, for allocation and quota tests. */
export async function gpuRegionFixture(options: { totalGpus?: number; jurisdiction?: string; certifications?: string[]; extraterritorialExposure?: boolean } = {}) {
  const gpuType = await db.gpuType.create({ data: { code: unique("H100-80GB"), name: "NVIDIA H100 80GB", vendor: "NVIDIA", memoryGb: 80 } });
  const region = await db.region.create({
    data: {
      code: unique("fr-par"),
      name: "Paris test region",
      provider: "Test operator",
      country: "FR",
      city: "Paris",
      jurisdiction: options.jurisdiction ?? "FR",
      certifications: options.certifications ?? ["SecNumCloud", "HDS"],
      extraterritorialExposure: options.extraterritorialExposure ?? false,
      driverKind: "LOCAL",
      carbonIntensityGco2Kwh: 32,
      capacities: { create: { gpuTypeId: gpuType.id, totalGpus: options.totalGpus ?? 64, priceCentsPerGpuHour: 310 } },
    },
  });
  return { gpuType, region };
}

/** A bare organisation (no members), optionally with a quota in a region. */
export async function createOrganization(label: string, quota?: { regionId: string; gpuTypeId: string; limitGpus: number }) {
  const org = await db.organization.create({ data: { name: label, slug: unique(label.toLowerCase().replace(/[^a-z0-9]+/g, "-")) } });
  if (quota) await db.quota.create({ data: { orgId: org.id, ...quota } });
  return org;
}

/**
 * An organisation with one member of each role, a pending invitation, and a row in every tenant
 * table, so that a leak of any of them would be visible.
 */
export async function createTenant(label: string) {
  const ownerEmail = `${unique(label + "-owner")}@example.test`;
  const { userId: ownerId, org } = await signUp(
    { name: `${label} owner`, email: ownerEmail, password: TEST_PASSWORD, organizationName: `${label} ${unique("org")}` },
    { ip: null, requestId: unique("req") },
  );
  const admin = await addMember(org.id, "ADMIN");
  const member = await addMember(org.id, "MEMBER");
  const viewer = await addMember(org.id, "VIEWER");
  const invitation = await db.invitation.create({
    data: { orgId: org.id, email: `${unique("invitee")}@example.test`, role: "MEMBER", invitedById: ownerId, expiresAt: new Date(Date.now() + 86_400_000) },
  });
  const { gpuType, region, model } = await platformFixture();
  const quota = await db.quota.create({ data: { orgId: org.id, regionId: region.id, gpuTypeId: gpuType.id, limitGpus: 8 } });
  const quotaRequest = await db.quotaRequest.create({
    data: { orgId: org.id, regionId: region.id, gpuTypeId: gpuType.id, additionalGpus: 4, justification: "fixture", requestedById: ownerId },
  });
  const deployment = await db.deployment.create({
    data: { orgId: org.id, name: unique("dep"), catalogModelId: model.id, regionId: region.id, gpuTypeId: gpuType.id, gpusPerReplica: 1, dataClassification: "INTERNAL", createdById: ownerId },
  });
  const apiKey = await db.apiKey.create({
    data: { orgId: org.id, name: "fixture key", prefix: unique("enc_test"), secretHash: "x", scopes: ["inference"], createdById: ownerId },
  });
  await db.usageRecord.create({
    data: { orgId: org.id, apiKeyId: apiKey.id, deploymentId: deployment.id, endpoint: "/v1/chat/completions", tokensIn: 10, tokensOut: 20, latencyMs: 12, status: 200, costMicroEur: 42 },
  });
  const trace = await createTrace({ orgId: org.id, apiKey, deployment, region });
  const policy = await db.residencyPolicy.create({ data: { orgId: org.id, dataClassification: "RESTRICTED", allowedJurisdictions: ["FR"], requiredCertifications: ["SecNumCloud"] } });
  const mail = await db.mailMessage.create({ data: { id: `mail-${org.id}`, orgId: org.id, kind: "BUDGET_ALERT", to: ownerEmail, subject: "fixture", text: "fixture", status: "SENT", sentAt: new Date() } });
  const ownerMembership = await db.membership.findUniqueOrThrow({ where: { orgId_userId: { orgId: org.id, userId: ownerId } } });
  return { org, mail, ownerId, ownerMembership, admin, member, viewer, invitation, quota, quotaRequest, deployment, apiKey, trace, policy, region, gpuType, model };
}
export type Tenant = Awaited<ReturnType<typeof createTenant>>;

/** A digest of every row of every table: equal digests mean nothing was written. */
export async function databaseDigest(): Promise<string> {
  const tables = await db.$queryRaw<{ name: string }[]>`
    SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' AND tablename NOT IN ('_prisma_migrations', 'LoginAttempt', 'AuthThrottle') ORDER BY 1`;
  const parts: string[] = [];
  for (const { name } of tables) {
    const [row] = await db.$queryRawUnsafe<{ digest: string | null }[]>(`SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) AS digest FROM "${name}" t`);
    parts.push(`${name}:${row.digest ?? "empty"}`);
  }
  return parts.join("\n");
}

/** The tRPC error code a call failed with, or "OK". */
export async function outcome(call: () => Promise<unknown>): Promise<string> {
  try {
    await call();
    return "OK";
  } catch (error) {
    return (error as { code?: string }).code ?? `THREW ${String(error)}`;
  }
}

/**
 * What a client receives when the call is refused: the error as the router's error formatter
 * shapes it over HTTP (message, code, per-field messages for forms). Fails if the call succeeds.
 */
export async function refusal(call: () => Promise<unknown>) {
  try {
    await call();
  } catch (error) {
    const shape = getErrorShape({ config: appRouter._def._config, error: getTRPCErrorFromUnknown(error), type: "unknown", path: undefined, input: undefined, ctx: undefined });
    return { message: shape.message, code: shape.data.code, fieldErrors: shape.data.fieldErrors ?? {} };
  }
  throw new Error("Expected the call to be refused, but it succeeded");
}

/** Every procedure of the application router, read from the router itself. */
export function listProcedures(): { path: string; type: "query" | "mutation" | "subscription"; whileSuspended: boolean }[] {
  const flat = appRouter._def.procedures as unknown as Record<string, { _def: { type: "query" | "mutation" | "subscription"; meta?: { whileSuspended?: boolean } } }>;
  return Object.entries(flat).map(([path, p]) => ({ path, type: p._def.type, whileSuspended: p._def.meta?.whileSuspended === true }));
}
