/**
 * API keys, the management side. A key's secret is generated here and returned once; only its
 * SHA-256 and its prefix are stored (api-key-secrets.ts, the contract shared with the gateway).
 * Every change is one transaction that writes an audit event (names, prefixes, scopes and limits,
 * never a secret or a hash) and notifies the gateways, which drop the key from their cache on commit.
 */
import { db, type Tx } from "../db";
import { badRequest, conflict, DomainError, isUniqueViolation, notFound } from "../errors";
import { recordAudit, type Actor, accountableUserId } from "./audit";
import { GATEWAY_CHANNELS, generateApiKey } from "./api-key-secrets";
import { spendByApiKey } from "./usage";

import { API_KEY_LIMITS, type ApiKeyScope } from "../../lib/limits";

// Scopes and the bounds of a key's limits are shared with the console's forms (lib/limits.ts).
export { API_KEY_LIMITS, API_KEY_SCOPES, type ApiKeyScope } from "../../lib/limits";

export type ApiKeyStatus = "active" | "revoked" | "expired" | "rotating";

/** Revoked beats expired beats rotating: the first that applies is what the gateway will act on. */
export function apiKeyStatus(
  key: { revokedAt: Date | null; expiresAt: Date | null; previousSecretHash: string | null; previousSecretExpiresAt: Date | null },
  now: Date = new Date(),
): ApiKeyStatus {
  if (key.revokedAt) return "revoked";
  if (key.expiresAt && key.expiresAt <= now) return "expired";
  if (key.previousSecretHash && key.previousSecretExpiresAt && key.previousSecretExpiresAt > now) return "rotating";
  return "active";
}

/** Midnight UTC on the first of the month: the start of a key's monthly budget. */
export function startOfMonthUtc(now: Date = new Date()): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
}

const eurToCents = (eur: number) => Math.round(eur * 100);
const centsToEur = (cents: number | null) => (cents === null ? null : cents / 100);

/** Notifies the gateways once the transaction commits (PostgreSQL delivers NOTIFY on commit only). */
async function notifyGateways(tx: Tx, apiKeyId: string) {
  await tx.$executeRaw`SELECT pg_notify(${GATEWAY_CHANNELS.apiKeys}, ${apiKeyId})`;
}

/** What the audit trail and the console may know about a key: never its secret or hash. */
function auditView(key: {
  name: string;
  prefix: string;
  scopes: string[];
  allowedDeploymentIds: string[];
  expiresAt: Date | null;
  rateLimitRpm: number | null;
  rateLimitTpm: number | null;
  monthlyBudgetCents: number | null;
  captureContent: boolean;
}) {
  return {
    name: key.name,
    prefix: key.prefix,
    scopes: key.scopes,
    allowedDeploymentIds: key.allowedDeploymentIds,
    expiresAt: key.expiresAt,
    rateLimitRpm: key.rateLimitRpm,
    rateLimitTpm: key.rateLimitTpm,
    monthlyBudgetCents: key.monthlyBudgetCents,
    captureContent: key.captureContent,
  };
}

// ─── Read model ──────────────────────────────────────────────────────────────

export async function listApiKeys(orgId: string, now: Date = new Date()) {
  const monthStart = startOfMonthUtc(now);
  const [keys, spend] = await Promise.all([
    db.apiKey.findMany({
      where: { orgId },
      orderBy: { createdAt: "desc" },
      // Selected field by field so that a hash can never slip into the answer.
      select: {
        id: true,
        name: true,
        prefix: true,
        previousPrefix: true,
        previousSecretHash: true,
        previousSecretExpiresAt: true,
        scopes: true,
        allowedDeploymentIds: true,
        expiresAt: true,
        rateLimitRpm: true,
        rateLimitTpm: true,
        monthlyBudgetCents: true,
        captureContent: true,
        revokedAt: true,
        lastUsedAt: true,
        createdAt: true,
        createdBy: { select: { name: true } },
      },
    }),
    // From the daily roll-ups (usage.ts), never the raw rows: one row per key × deployment × day.
    spendByApiKey(orgId, monthStart),
  ]);
  const deploymentIds = [...new Set(keys.flatMap((k) => k.allowedDeploymentIds))];
  const deployments = deploymentIds.length
    ? await db.deployment.findMany({ where: { orgId, id: { in: deploymentIds } }, select: { id: true, name: true, phase: true, deletedAt: true } })
    : [];
  const deploymentById = new Map(deployments.map((d) => [d.id, d]));
  return keys.map(({ previousSecretHash, allowedDeploymentIds, monthlyBudgetCents, previousSecretExpiresAt, previousPrefix, ...key }) => {
    const status = apiKeyStatus({ ...key, previousSecretHash, previousSecretExpiresAt }, now);
    return {
      ...key,
      status,
      // While rotating, the previous key (shown by its prefix) keeps working until this time.
      rotatingUntil: status === "rotating" ? previousSecretExpiresAt : null,
      previousPrefix: status === "rotating" ? previousPrefix : null,
      // Empty means every deployment of the organisation.
      allowedDeployments: allowedDeploymentIds.map((id) => {
        const d = deploymentById.get(id);
        return { id, name: d?.name ?? null, deleted: !d || d.deletedAt !== null || d.phase === "DELETED" };
      }),
      monthlyBudgetEur: centsToEur(monthlyBudgetCents),
      spendThisMonthEur: (spend.get(key.id) ?? 0) / 1e6,
    };
  });
}

export type ApiKeySummary = Awaited<ReturnType<typeof listApiKeys>>[number];

// ─── Changes ─────────────────────────────────────────────────────────────────

/**
 * The deployments a key may call: each must be a live deployment of this organisation. Another
 * tenant's id is "not found", exactly like an id that does not exist.
 */
async function checkAllowedDeployments(tx: Tx, orgId: string, ids: string[]): Promise<string[]> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return [];
  const found = await tx.deployment.findMany({ where: { orgId, id: { in: unique } }, select: { id: true, name: true, phase: true, desiredState: true, deletedAt: true } });
  const byId = new Map(found.map((d) => [d.id, d]));
  for (const id of unique) {
    const d = byId.get(id);
    if (!d) throw new DomainError("NOT_FOUND", "A chosen deployment was not found; reload the page and choose again", { field: "allowedDeploymentIds" });
    if (d.deletedAt || d.phase === "DELETED" || d.desiredState === "DELETED") throw badRequest(`Deployment ${d.name} is deleted or being deleted`, "allowedDeploymentIds");
  }
  return unique;
}

function checkFutureExpiry(expiresAt: Date | null | undefined, now: Date) {
  if (expiresAt && expiresAt <= now) throw badRequest("The expiry date must be in the future", "expiresAt");
}

/** Loads the key locked for this transaction, so concurrent changes to one key serialise. */
async function lockApiKey(tx: Tx, orgId: string, apiKeyId: string) {
  const rows = await tx.$queryRaw<{ id: string }[]>`SELECT id FROM "ApiKey" WHERE id = ${apiKeyId} AND "orgId" = ${orgId} FOR UPDATE`;
  if (rows.length === 0) throw notFound("API key");
  return tx.apiKey.findUniqueOrThrow({ where: { id: apiKeyId } });
}

/** A prefix in use by no key, as current or previous prefix (a 48-bit collision is unlikely, not impossible). */
async function freshSecret(tx: Tx) {
  for (;;) {
    const secret = generateApiKey();
    const taken = await tx.apiKey.findFirst({ where: { OR: [{ prefix: secret.prefix }, { previousPrefix: secret.prefix }] }, select: { id: true } });
    if (!taken) return secret;
  }
}

export interface CreateApiKeyInput {
  name: string;
  scopes: ApiKeyScope[];
  allowedDeploymentIds?: string[];
  expiresAt?: Date | null;
  rateLimitRpm?: number | null;
  rateLimitTpm?: number | null;
  monthlyBudgetEur?: number | null;
  /** Store prompts and completions of this key's requests in their traces (off unless asked for). */
  captureContent?: boolean;
}

/** Creates a key; `key` in the answer is the full secret, which exists nowhere else afterwards. */
export async function createApiKey(orgId: string, actor: Actor & { id: string }, input: CreateApiKeyInput, now: Date = new Date()) {
  const scopes = [...new Set(input.scopes)];
  if (scopes.length === 0) throw badRequest("Choose at least one scope", "scopes");
  checkFutureExpiry(input.expiresAt, now);
  const transact = () =>
    db.$transaction(async (tx) => {
      const allowedDeploymentIds = await checkAllowedDeployments(tx, orgId, input.allowedDeploymentIds ?? []);
      const secret = await freshSecret(tx);
      const row = await tx.apiKey.create({
        data: {
          orgId,
          name: input.name,
          prefix: secret.prefix,
          secretHash: secret.secretHash,
          scopes,
          allowedDeploymentIds,
          expiresAt: input.expiresAt ?? null,
          rateLimitRpm: input.rateLimitRpm ?? null,
          rateLimitTpm: input.rateLimitTpm ?? null,
          monthlyBudgetCents: input.monthlyBudgetEur == null ? null : eurToCents(input.monthlyBudgetEur),
          captureContent: input.captureContent ?? false,
          createdById: accountableUserId(actor),
        },
      });
      await recordAudit(tx, actor, { orgId, action: "api_key.created", targetType: "ApiKey", targetId: row.id, after: auditView(row) });
      await notifyGateways(tx, row.id);
      return { id: row.id, name: row.name, prefix: row.prefix, key: secret.key };
    });
  try {
    return await transact();
  } catch (error) {
    // Two concurrent creations drew the same prefix: draw again.
    if (isUniqueViolation(error)) return transact();
    throw error;
  }
}

export async function revokeApiKey(orgId: string, actor: Actor, input: { apiKeyId: string }, now: Date = new Date()) {
  return db.$transaction(async (tx) => {
    const key = await lockApiKey(tx, orgId, input.apiKeyId);
    if (key.revokedAt) throw conflict(`API key ${key.name} is already revoked`);
    const row = await tx.apiKey.update({ where: { id: key.id }, data: { revokedAt: now }, select: { id: true, name: true, prefix: true, revokedAt: true } });
    await recordAudit(tx, actor, { orgId, action: "api_key.revoked", targetType: "ApiKey", targetId: key.id, before: { name: key.name, prefix: key.prefix }, after: { revokedAt: now } });
    await notifyGateways(tx, key.id);
    return row;
  });
}

/**
 * A new secret under the same key id (and so the same limits, scopes and usage history). With a
 * grace period the previous secret, found by its prefix, keeps working until it ends; with none it
 * stops at once.
 */
export async function rotateApiKey(orgId: string, actor: Actor, input: { apiKeyId: string; graceMinutes: number }, now: Date = new Date()) {
  if (!Number.isInteger(input.graceMinutes) || input.graceMinutes < 0 || input.graceMinutes > API_KEY_LIMITS.graceMinutes.max) {
    throw badRequest("The grace period must be between 0 minutes and 7 days", "graceMinutes");
  }
  const transact = () =>
    db.$transaction(async (tx) => {
      const key = await lockApiKey(tx, orgId, input.apiKeyId);
      if (key.revokedAt) throw conflict(`API key ${key.name} is revoked; create a new key instead`);
      if (key.expiresAt && key.expiresAt <= now) throw conflict(`API key ${key.name} has expired; extend its expiry date before rotating it`, "expiresAt");
      const secret = await freshSecret(tx);
      const graceUntil = input.graceMinutes > 0 ? new Date(now.getTime() + input.graceMinutes * 60_000) : null;
      await tx.apiKey.update({
        where: { id: key.id },
        data: {
          prefix: secret.prefix,
          secretHash: secret.secretHash,
          // A previous rotation's grace ends here: only the secret being replaced stays valid.
          previousPrefix: graceUntil ? key.prefix : null,
          previousSecretHash: graceUntil ? key.secretHash : null,
          previousSecretExpiresAt: graceUntil,
        },
      });
      await recordAudit(tx, actor, {
        orgId,
        action: "api_key.rotated",
        targetType: "ApiKey",
        targetId: key.id,
        before: { name: key.name, prefix: key.prefix },
        after: { prefix: secret.prefix, previousPrefixValidUntil: graceUntil, graceMinutes: input.graceMinutes },
      });
      await notifyGateways(tx, key.id);
      return { id: key.id, name: key.name, prefix: secret.prefix, key: secret.key, previousPrefix: graceUntil ? key.prefix : null, previousSecretExpiresAt: graceUntil };
    });
  try {
    return await transact();
  } catch (error) {
    if (isUniqueViolation(error)) return transact();
    throw error;
  }
}

export interface UpdateApiKeyInput {
  apiKeyId: string;
  name?: string;
  /** `null` clears a limit or the expiry; `undefined` leaves it as it is. */
  rateLimitRpm?: number | null;
  rateLimitTpm?: number | null;
  monthlyBudgetEur?: number | null;
  allowedDeploymentIds?: string[];
  expiresAt?: Date | null;
  captureContent?: boolean;
}

export async function updateApiKey(orgId: string, actor: Actor, input: UpdateApiKeyInput, now: Date = new Date()) {
  checkFutureExpiry(input.expiresAt, now);
  return db.$transaction(async (tx) => {
    const key = await lockApiKey(tx, orgId, input.apiKeyId);
    if (key.revokedAt) throw conflict(`API key ${key.name} is revoked and can no longer be changed`);
    const next = {
      name: input.name ?? key.name,
      rateLimitRpm: input.rateLimitRpm === undefined ? key.rateLimitRpm : input.rateLimitRpm,
      rateLimitTpm: input.rateLimitTpm === undefined ? key.rateLimitTpm : input.rateLimitTpm,
      monthlyBudgetCents: input.monthlyBudgetEur === undefined ? key.monthlyBudgetCents : input.monthlyBudgetEur === null ? null : eurToCents(input.monthlyBudgetEur),
      allowedDeploymentIds: input.allowedDeploymentIds === undefined ? key.allowedDeploymentIds : await checkAllowedDeployments(tx, orgId, input.allowedDeploymentIds),
      expiresAt: input.expiresAt === undefined ? key.expiresAt : input.expiresAt,
      captureContent: input.captureContent ?? key.captureContent,
    };
    const before: Record<string, unknown> = {};
    const after: Record<string, unknown> = {};
    for (const field of Object.keys(next) as (keyof typeof next)[]) {
      if (JSON.stringify(next[field]) !== JSON.stringify(key[field])) {
        before[field] = key[field];
        after[field] = next[field];
      }
    }
    const summary = (row: typeof key) => ({ id: row.id, ...auditView(row), monthlyBudgetEur: centsToEur(row.monthlyBudgetCents) });
    if (Object.keys(after).length === 0) return summary(key);
    const row = await tx.apiKey.update({ where: { id: key.id }, data: next });
    await recordAudit(tx, actor, { orgId, action: "api_key.updated", targetType: "ApiKey", targetId: key.id, before: { name: key.name, prefix: key.prefix, ...before }, after });
    await notifyGateways(tx, key.id);
    return summary(row);
  });
}
