/**
 * A secret that an installation generates once for itself when no environment variable provides
 * it (the webhook signing key, the replica secret): 32 random bytes, base64url, in a file of mode
 * 0600 under the checkout's `.data/`, read by every process of that checkout. Never log it.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

/** The secret in `file`, which is created first when it does not exist. */
export function generatedSecret(file: string): string {
  try {
    return readFileSync(file, "utf8").trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  mkdirSync(path.dirname(file), { recursive: true });
  try {
    // `wx`: when several processes start together (console, workers, gateway), exactly one writes it.
    writeFileSync(file, randomBytes(32).toString("base64url"), { mode: 0o600, flag: "wx" });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
  return readFileSync(file, "utf8").trim();
}
