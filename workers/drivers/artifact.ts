/**
 * Artifact verification (docs/evidence.md): before a replica starts, the file it will serve is
 * hashed (sha256, streamed) and compared to the catalog's `artifactSha256`. A mismatch refuses the
 * replica; a catalog model without a digest starts, and the observed digest is recorded as
 * "unverified" (nothing to compare it to).
 *
 * Hashing a multi-GB file at every start would be slow, so digests are cached keyed by the file's
 * real path, device, inode, size and modification time (in memory, and on disk next to the local
 * driver's state): a file rewritten in place changes its mtime or size and is hashed again.
 */
import { createHash } from "node:crypto";
import { createReadStream, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { DriverError } from "./types";

export type ArtifactStatus = "verified" | "mismatch" | "unverified";

/** What a driver (or the model server it launches) established about a replica's artifact. */
export interface ArtifactCheck {
  status: ArtifactStatus;
  /** The digest of the file as it was read (lower-case hex); null when only the expected one is known. */
  sha256: string | null;
  /** The catalog's digest at the time of the check; null when the catalog has none. */
  expectedSha256: string | null;
  checkedAt: Date;
  /** Who hashed the file: the local driver itself, the model server before loading it, or a Kubernetes init container. */
  checkedBy: "local-driver" | "model-server" | "kubernetes-init-container";
  /** Why the status is what it is, in words a tenant can read. */
  note: string;
}

/** Exit status of the model server when the artifact's digest is not the expected one (EX_DATAERR). */
export const ARTIFACT_MISMATCH_EXIT = 65;

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** The catalog's digest, normalised; null when there is none (empty, or not a sha256). */
export function expectedDigest(value: string | null | undefined): string | null {
  const v = (value ?? "").trim().toLowerCase();
  return SHA256_HEX.test(v) ? v : null;
}

export function mismatchReason(expected: string, actual: string): string {
  return `artifact sha256 mismatch: the catalog says ${expected}, the file is ${actual}`;
}

export const UNVERIFIED_NOTE = "unverified: the catalog has no digest for this model";

/** A replica refused because its file is not the catalog's: never retried (the file will not change by itself). */
export class ArtifactMismatchError extends DriverError {
  constructor(readonly check: ArtifactCheck) {
    super(mismatchReason(check.expectedSha256 ?? "", check.sha256 ?? ""), false);
    this.name = "ArtifactMismatchError";
  }
}

/** sha256 of a file, streamed (constant memory whatever its size). */
export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    const stream = createReadStream(file, { highWaterMark: 1 << 20 });
    stream.on("data", (chunk) => hash.update(chunk));
    stream.on("error", reject);
    stream.on("end", () => resolve(hash.digest("hex")));
  });
}

interface CacheEntry {
  key: string;
  sha256: string;
}

/** Digests keyed by what identifies a file's content without reading it. */
export class ArtifactDigestCache {
  private readonly memory = new Map<string, string>();
  private loaded = false;
  /** How many files were actually read (tests check the cache is used). */
  hashed = 0;

  /** `file`: where entries persist across worker restarts (JSON); none keeps them in memory only. */
  constructor(private readonly file?: string) {}

  private static keyOf(realPath: string): string {
    const s = statSync(realPath, { bigint: true });
    return `${realPath}|${s.dev}|${s.ino}|${s.size}|${s.mtimeNs}`;
  }

  private load() {
    if (this.loaded || !this.file) return;
    this.loaded = true;
    try {
      const entries = JSON.parse(readFileSync(this.file, "utf8")) as CacheEntry[];
      for (const e of entries) if (typeof e.key === "string" && SHA256_HEX.test(e.sha256)) this.memory.set(e.key, e.sha256);
    } catch {
      // Missing or corrupt: start empty, every file is hashed once.
    }
  }

  private async save() {
    if (!this.file) return;
    await mkdir(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    // Bounded: the newest 200 entries (a machine serves a handful of models).
    const entries = [...this.memory].slice(-200).map(([key, sha256]) => ({ key, sha256 }));
    writeFileSync(tmp, `${JSON.stringify(entries)}\n`);
    renameSync(tmp, this.file);
  }

  async digest(realPath: string): Promise<string> {
    this.load();
    const key = ArtifactDigestCache.keyOf(realPath);
    const cached = this.memory.get(key);
    if (cached) return cached;
    const sha256 = await sha256File(realPath);
    this.hashed += 1;
    // Changed while it was read: do not cache a digest of a file half old, half new.
    if (ArtifactDigestCache.keyOf(realPath) !== key) return sha256;
    this.memory.delete(key);
    this.memory.set(key, sha256);
    await this.save();
    return sha256;
  }
}

/**
 * Hashes `realPath` and compares it to the catalog's digest. Throws ArtifactMismatchError on a
 * mismatch; returns the check (verified, or unverified when the catalog has no digest) otherwise.
 */
export async function verifyArtifactFile(realPath: string, catalogSha256: string | null | undefined, cache: ArtifactDigestCache): Promise<ArtifactCheck> {
  const expected = expectedDigest(catalogSha256);
  let sha256: string;
  try {
    sha256 = await cache.digest(realPath);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "error";
    throw new DriverError(`Model file ${realPath} could not be read to verify its sha256 (${code}).`, false);
  }
  const base = { sha256, expectedSha256: expected, checkedAt: new Date(), checkedBy: "local-driver" as const };
  if (expected === null) return { ...base, status: "unverified", note: UNVERIFIED_NOTE };
  if (sha256 !== expected) throw new ArtifactMismatchError({ ...base, status: "mismatch", note: mismatchReason(expected, sha256) });
  return { ...base, status: "verified", note: "the file's sha256 matches the catalog's" };
}
