/**
 * Per-replica bearer tokens: model servers started by the drivers answer only callers that present
 * their replica's token (docs/local-models.md, "Replica tokens"). The token is derived, never
 * stored: HMAC-SHA256 of this installation's replica secret over the deployment and replica ids.
 * The worker that launches a replica hands the server its own token (and only that one); the
 * gateway derives the same token for each call. Nobody else holds the secret.
 *
 * The secret is `ENCLAVE_REPLICA_SECRET`; when unset, it is generated once into
 * `.data/replica-secret` (mode 0600) and read from there by every process of this checkout, as
 * `npm start` does for NEXTAUTH_SECRET. Installations whose gateway and workers run on different
 * machines must set the variable on both.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import path from "node:path";
import { generatedSecret } from "../../server/generated-secret";
import { DriverError } from "../drivers/types";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
export const REPLICA_SECRET_ENV = "ENCLAVE_REPLICA_SECRET";
/** What a launched model server reads its own token from (workers/model-server/main.ts). */
export const REPLICA_TOKEN_ENV = "ENCLAVE_REPLICA_TOKEN";
export const DEFAULT_REPLICA_SECRET_FILE = path.join(ROOT, ".data", "replica-secret");
const MIN_SECRET_LENGTH = 32;

export class ReplicaSecretError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ReplicaSecretError";
  }
}

let fileSecret: string | null = null;


/** This installation's replica secret (environment first, else the generated file). Never log it. */
export function replicaSecret(): string {
  const fromEnv = process.env[REPLICA_SECRET_ENV];
  const secret = fromEnv !== undefined && fromEnv !== "" ? fromEnv : (fileSecret ??= loadFileSecret());
  if (secret.length < MIN_SECRET_LENGTH) {
    throw new ReplicaSecretError(`${fromEnv ? REPLICA_SECRET_ENV : DEFAULT_REPLICA_SECRET_FILE} must hold at least ${MIN_SECRET_LENGTH} characters.`);
  }
  return secret;
}

function loadFileSecret(): string {
  try {
    return generatedSecret(DEFAULT_REPLICA_SECRET_FILE);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "error";
    throw new ReplicaSecretError(`No replica secret: ${REPLICA_SECRET_ENV} is unset and ${DEFAULT_REPLICA_SECRET_FILE} cannot be created (${code}).`);
  }
}

export interface ReplicaIdentity {
  deploymentId: string;
  replicaId: string;
}

const cache = new Map<string, string>();
let cachedFor = "";

/** The bearer token of one replica: `enr_` + base64url(HMAC-SHA256(secret, identity)). */
export function replicaToken(identity: ReplicaIdentity): string {
  const secret = replicaSecret();
  // A changed secret (tests, rotation) drops every cached token.
  if (secret !== cachedFor) {
    cache.clear();
    cachedFor = secret;
  }
  const key = `${identity.deploymentId}\n${identity.replicaId}`;
  let token = cache.get(key);
  if (!token) {
    token = `enr_${createHmac("sha256", secret).update(`enclave-replica-token/v1\n${key}`).digest("base64url")}`;
    if (cache.size >= 10_000) cache.clear();
    cache.set(key, token);
  }
  return token;
}

/** replicaToken for a driver about to launch a replica: no secret is a DriverError (the deployment fails with why). */
export function launchToken(identity: ReplicaIdentity): string {
  try {
    return replicaToken(identity);
  } catch (error) {
    if (error instanceof ReplicaSecretError) throw new DriverError(error.message, false);
    throw error;
  }
}

/** The message drivers report when a live replica refuses this installation's token for it. */
export const TOKEN_REFUSED =
  `The model server refuses this installation's replica token (started under another ${REPLICA_SECRET_ENV}?); it is restarted if it had been serving.`;

/** The `Authorization` header value the gateway sends to a replica. */
export function replicaAuthorization(deploymentId: string, replicaId: string): string {
  return `Bearer ${replicaToken({ deploymentId, replicaId })}`;
}

/** Constant-time check of an `Authorization` header against the expected token. */
export function authorizationMatches(header: string | undefined, expectedToken: string): boolean {
  if (!header) return false;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) return false;
  const digest = (value: string) => createHash("sha256").update(value).digest();
  return timingSafeEqual(digest(match[1]!), digest(expectedToken));
}
