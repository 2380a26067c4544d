/**
 * The installation's Ed25519 key that signs audit checkpoints (docs/audit-log.md, "Keys").
 *
 * The seed is `AUDIT_SIGNING_KEY` (base64 of 32 bytes), else the file `AUDIT_SIGNING_KEY_FILE`,
 * else `.data/audit-signing-key`, generated once (mode 0600) and read by every process of this
 * checkout — as the replica secret and NEXTAUTH_SECRET are (workers/model-server/replica-auth.ts),
 * so the demo's key survives restarts. The seed is never logged nor returned; only the public
 * verifier key is published. The key name is `AUDIT_LOG_ORIGIN`, else the host of NEXTAUTH_URL,
 * else "enclave.localhost".
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { auditEnv } from "../env";
import { noteSignerFromSeed, validKeyName } from "./note";
import type { InstallationSigner } from "./types";

// import.meta.dirname is undefined in the Next.js server bundle: there the project root is the working directory.
const ROOT = import.meta.dirname ? path.resolve(import.meta.dirname, "..", "..") : process.cwd();
export const DEFAULT_AUDIT_KEY_FILE = path.join(ROOT, ".data", "audit-signing-key");

export class AuditKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AuditKeyError";
  }
}

function decodeSeed(text: string, where: string): Buffer {
  const seed = Buffer.from(text.trim(), "base64");
  if (seed.length !== 32) throw new AuditKeyError(`${where} must hold base64 of a 32-byte Ed25519 seed`);
  return seed;
}

function seedFromFile(file: string, create: boolean): Buffer {
  try {
    return decodeSeed(readFileSync(file, "utf8"), file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT" || !create) {
      if (error instanceof AuditKeyError) throw error;
      throw new AuditKeyError(`cannot read the audit signing key ${file} (${(error as NodeJS.ErrnoException).code ?? "error"})`);
    }
  }
  mkdirSync(path.dirname(file), { recursive: true });
  try {
    // `wx`: when the console and the workers start together, exactly one of them writes it.
    writeFileSync(file, `${randomBytes(32).toString("base64")}\n`, { mode: 0o600, flag: "wx" });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw new AuditKeyError(`cannot create the audit signing key ${file}`);
  }
  return decodeSeed(readFileSync(file, "utf8"), file);
}

/** The key name (and origin prefix) of this installation's checkpoints. */
export function auditKeyName(): string {
  const e = auditEnv();
  if (e.AUDIT_LOG_ORIGIN) return e.AUDIT_LOG_ORIGIN;
  const host = e.NEXTAUTH_URL ? new URL(e.NEXTAUTH_URL).host : "";
  return host && validKeyName(host) ? host : "enclave.localhost";
}

let cached: { fingerprint: string; signer: InstallationSigner } | null = null;

/** The installation's signer. Cached per configuration (tests switch keys through the environment). */
export async function installationSigner(): Promise<InstallationSigner> {
  const e = auditEnv();
  const keyName = auditKeyName();
  const source = e.AUDIT_SIGNING_KEY ? "env" : `file:${e.AUDIT_SIGNING_KEY_FILE ?? DEFAULT_AUDIT_KEY_FILE}`;
  // The fingerprint is compared in memory only; it holds the seed's source, never the seed itself.
  const fingerprint = `${keyName}\n${source}\n${e.AUDIT_SIGNING_KEY ? hashOf(e.AUDIT_SIGNING_KEY) : ""}`;
  if (cached?.fingerprint === fingerprint) return cached.signer;
  const seed = e.AUDIT_SIGNING_KEY
    ? decodeSeed(e.AUDIT_SIGNING_KEY, "AUDIT_SIGNING_KEY")
    : e.AUDIT_SIGNING_KEY_FILE
      ? seedFromFile(e.AUDIT_SIGNING_KEY_FILE, false)
      : seedFromFile(DEFAULT_AUDIT_KEY_FILE, true);
  const signer = noteSignerFromSeed(keyName, seed);
  seed.fill(0);
  cached = { fingerprint, signer };
  return signer;
}

function hashOf(value: string): string {
  // Only to tell configurations apart in the cache.
  return createHash("sha256").update(value).digest("hex");
}

/** The installation's published verifier key (C2SP vkey). */
export async function verifierKey(): Promise<string> {
  return (await installationSigner()).verifierKey;
}
