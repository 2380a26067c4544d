/**
 * C2SP signed notes (https://c2sp.org/signed-note), tlog checkpoints (https://c2sp.org/tlog-checkpoint)
 * and witness cosignatures (https://c2sp.org/tlog-cosignature, cosignature/v1), with Ed25519 from
 * node:crypto. Pure: nothing of Enclave, so the offline verifier can use it alone.
 *
 * A checkpoint note of Enclave reads:
 *
 *     enclave.example.eu/audit/<chain>        origin line
 *     42                                       tree size, decimal
 *     <base64 root hash>                       RFC 6962 root of the first 42 leaves
 *     time 2026-12-02T07:00:00.000Z           extension line: when the installation signed it
 *
 *     — enclave.example.eu <base64(4-byte key id || 64-byte Ed25519 signature)>
 *
 * The signature covers the body (the four lines, each ending in "\n"), so the time is signed too.
 */
import { createHash, createPrivateKey, createPublicKey, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from "node:crypto";
import type { Checkpoint, InstallationSigner } from "./types";

/** Signature types of C2SP signed-note: Ed25519 note signatures and cosignature/v1 (witnesses). */
export const SIG_ED25519 = 0x01;
export const SIG_COSIGNATURE_V1 = 0x04;
const EM_DASH = "\u2014";
const MAX_SIGNATURES = 100;

const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI_ED25519_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

export class NoteError extends Error {}

// ---------- keys ----------

/** A key name of a signed note: non-empty, no whitespace, no "+". */
export function validKeyName(name: string): boolean {
  return name.length > 0 && !/[\s+]/u.test(name) && !/[\u0000-\u001f\u007f]/.test(name);
}

/** First 4 bytes of SHA-256(name || 0x0A || type || public key). */
export function keyId(name: string, type: number, publicKey: Uint8Array): Buffer {
  return createHash("sha256").update(name, "utf8").update(Buffer.from([0x0a, type])).update(publicKey).digest().subarray(0, 4);
}

export function ed25519PrivateKeyFromSeed(seed: Uint8Array): KeyObject {
  if (seed.length !== 32) throw new NoteError("an Ed25519 seed has 32 bytes");
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: "der", type: "pkcs8" });
}

export function ed25519PublicKeyBytes(key: KeyObject): Buffer {
  const der = createPublicKey(key).export({ format: "der", type: "spki" });
  return Buffer.from(der.subarray(der.length - 32));
}

function ed25519PublicKey(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: "der", type: "spki" });
}

/** The C2SP vkey "<name>+<8 hex key id>+<base64(type || public key)>". */
export function verifierKeyString(name: string, publicKey: Uint8Array, type = SIG_ED25519): string {
  if (!validKeyName(name)) throw new NoteError(`invalid key name "${name}"`);
  const id = keyId(name, type, publicKey).toString("hex");
  return `${name}+${id}+${Buffer.concat([Buffer.from([type]), publicKey]).toString("base64")}`;
}

export interface VerifierKey {
  name: string;
  /** 4 bytes. */
  keyId: Buffer;
  type: number;
  publicKey: KeyObject;
  publicKeyBytes: Buffer;
}

/** Parses a vkey; throws NoteError when malformed or when the key id does not match the key. */
export function parseVerifierKey(vkey: string): VerifierKey {
  // The base64 key may itself hold "+": split at the first two only.
  const m = /^([^+]+)\+([^+]+)\+(.+)$/s.exec(typeof vkey === "string" ? vkey.trim() : "");
  if (!m) throw new NoteError("a verifier key reads <name>+<key id>+<key>");
  const [, name, idHex, keyB64] = m;
  if (!validKeyName(name)) throw new NoteError("invalid key name in verifier key");
  if (!/^[0-9a-f]{8}$/.test(idHex)) throw new NoteError("a verifier key's id is 8 lowercase hex digits");
  const key = Buffer.from(keyB64, "base64");
  if (key.toString("base64") !== keyB64 || key.length !== 33) throw new NoteError("a verifier key's key is base64 of 33 bytes");
  const type = key[0];
  if (type !== SIG_ED25519 && type !== SIG_COSIGNATURE_V1) throw new NoteError(`unsupported verifier key type 0x${type.toString(16)}`);
  const publicKeyBytes = key.subarray(1);
  const id = keyId(name, type, publicKeyBytes);
  if (id.toString("hex") !== idHex) throw new NoteError("the verifier key's id does not match its key");
  return { name, keyId: id, type, publicKey: ed25519PublicKey(publicKeyBytes), publicKeyBytes };
}

/** An InstallationSigner (Ed25519 note signatures) from a 32-byte seed. */
export function noteSignerFromSeed(keyName: string, seed: Uint8Array): InstallationSigner {
  const privateKey = ed25519PrivateKeyFromSeed(seed);
  const verifierKey = verifierKeyString(keyName, ed25519PublicKeyBytes(privateKey));
  return { keyName, verifierKey, sign: (message) => new Uint8Array(cryptoSign(null, message, privateKey)) };
}

// ---------- signed notes ----------

export interface NoteSignature {
  name: string;
  /** keyId (4 bytes) || signature. */
  bytes: Buffer;
  line: string;
}

export interface ParsedNote {
  /** The signed text: every line ends in "\n". */
  text: string;
  signatures: NoteSignature[];
}

function checkText(text: string) {
  if (!text.endsWith("\n")) throw new NoteError("a note's text ends with a newline");
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0009\u000b-\u001f\u007f]/.test(text)) throw new NoteError("a note's text holds no control characters but newlines");
}

/** Signs a note's text (which must end in "\n"): text + blank line + one signature line. */
export function signNote(text: string, signer: InstallationSigner): string {
  checkText(text);
  const vkey = parseVerifierKey(signer.verifierKey);
  const sig = Buffer.from(signer.sign(Buffer.from(text, "utf8")));
  return `${text}\n${EM_DASH} ${signer.keyName} ${Buffer.concat([vkey.keyId, sig]).toString("base64")}\n`;
}

/** Splits a note into its text and signature lines; throws NoteError when malformed. */
export function parseNote(note: string): ParsedNote {
  if (typeof note !== "string" || note.length > 1_000_000) throw new NoteError("not a note");
  const split = note.lastIndexOf("\n\n");
  if (split < 0) throw new NoteError("a note has a blank line before its signatures");
  const text = note.slice(0, split + 1);
  checkText(text);
  const block = note.slice(split + 2);
  if (!block.endsWith("\n")) throw new NoteError("a note's signature lines end with a newline");
  const lines = block.slice(0, -1).split("\n");
  if (lines.length > MAX_SIGNATURES) throw new NoteError("too many signatures");
  const signatures = lines.map((line) => {
    const m = /^\u2014 (\S+) (\S+)$/u.exec(line);
    if (!m) throw new NoteError("a signature line reads \"— <name> <base64>\"");
    const bytes = Buffer.from(m[2], "base64");
    if (bytes.toString("base64") !== m[2] || bytes.length < 5) throw new NoteError("a signature is base64 of a key id and a signature");
    if (!validKeyName(m[1])) throw new NoteError("invalid key name in a signature line");
    return { name: m[1], bytes, line };
  });
  if (signatures.length === 0) throw new NoteError("a note has at least one signature");
  return { text, signatures };
}

export interface NoteVerification {
  ok: boolean;
  text: string;
  /** vkeys whose signature verified. */
  verifiedBy: string[];
  error?: string;
}

/**
 * Verifies a note against trusted vkeys: at least one trusted key must have signed it, and a
 * signature naming a trusted key (name + key id) must verify. Signatures by unknown keys are
 * ignored (C2SP: a verifier looks only at the keys it knows), but a note signed by none is refused.
 */
export function verifyNote(note: string, trustedKeys: readonly string[]): NoteVerification {
  let parsed: ParsedNote;
  try {
    parsed = parseNote(note);
  } catch (error) {
    return { ok: false, text: "", verifiedBy: [], error: (error as Error).message };
  }
  const keys: { vkey: string; key: VerifierKey }[] = [];
  for (const vkey of trustedKeys) {
    try {
      const key = parseVerifierKey(vkey);
      if (key.type === SIG_ED25519) keys.push({ vkey, key });
    } catch {
      // An unparsable trusted key trusts nothing.
    }
  }
  const verifiedBy: string[] = [];
  const message = Buffer.from(parsed.text, "utf8");
  for (const sig of parsed.signatures) {
    const match = keys.find(({ key }) => key.name === sig.name && key.keyId.equals(sig.bytes.subarray(0, 4)));
    if (!match) continue;
    if (sig.bytes.length !== 4 + 64 || !cryptoVerify(null, message, match.key.publicKey, sig.bytes.subarray(4))) {
      return { ok: false, text: parsed.text, verifiedBy, error: `the signature of ${sig.name} does not verify` };
    }
    verifiedBy.push(match.vkey);
  }
  if (verifiedBy.length === 0) return { ok: false, text: parsed.text, verifiedBy, error: "no trusted key signed this note" };
  return { ok: true, text: parsed.text, verifiedBy };
}

// ---------- checkpoints ----------

export interface CheckpointBody {
  origin: string;
  treeSize: number;
  /** Hex. */
  rootHash: string;
  /** ISO 8601 from the "time" extension line, null when absent. */
  time: string | null;
  extensions: string[];
}

/** The body of a tlog checkpoint with Enclave's "time" extension line. */
export function checkpointBody(origin: string, treeSize: number, rootHashHex: string, time: string): string {
  if (!origin || /[\n\u0000-\u001f]/.test(origin)) throw new NoteError("invalid origin");
  if (!Number.isSafeInteger(treeSize) || treeSize < 0) throw new NoteError("invalid tree size");
  if (!/^[0-9a-f]{64}$/.test(rootHashHex)) throw new NoteError("a root hash is 64 hex digits");
  if (Number.isNaN(Date.parse(time)) || new Date(time).toISOString() !== time) throw new NoteError("the time is an ISO 8601 UTC instant with milliseconds");
  return `${origin}\n${treeSize}\n${Buffer.from(rootHashHex, "hex").toString("base64")}\ntime ${time}\n`;
}

/** Parses a checkpoint's text; throws NoteError when malformed. */
export function parseCheckpointBody(text: string): CheckpointBody {
  checkText(text);
  const lines = text.slice(0, -1).split("\n");
  if (lines.length < 3) throw new NoteError("a checkpoint has an origin, a size and a root");
  const [origin, sizeLine, rootLine, ...extensions] = lines;
  if (!origin) throw new NoteError("a checkpoint's origin is not empty");
  if (!/^(0|[1-9][0-9]*)$/.test(sizeLine) || !Number.isSafeInteger(Number(sizeLine))) throw new NoteError("a checkpoint's size is a decimal without leading zeros");
  const root = Buffer.from(rootLine, "base64");
  if (root.length !== 32 || root.toString("base64") !== rootLine) throw new NoteError("a checkpoint's root is base64 of 32 bytes");
  if (extensions.some((l) => l.length === 0)) throw new NoteError("a checkpoint has no empty extension line");
  const timeLine = extensions.find((l) => l.startsWith("time "));
  let time: string | null = null;
  if (timeLine) {
    time = timeLine.slice(5);
    if (Number.isNaN(Date.parse(time)) || new Date(time).toISOString() !== time) throw new NoteError("a checkpoint's time is an ISO 8601 UTC instant");
  }
  return { origin, treeSize: Number(sizeLine), rootHash: root.toString("hex"), time, extensions };
}

/** The origin line of a chain's log. */
export function logOrigin(keyName: string, chain: string): string {
  return `${keyName}/audit/${chain}`;
}

/** Signs a checkpoint of a chain. */
export function signCheckpoint(signer: InstallationSigner, chain: string, treeSize: number, rootHashHex: string, time: Date): Checkpoint {
  const origin = logOrigin(signer.keyName, chain);
  const iso = time.toISOString();
  const note = signNote(checkpointBody(origin, treeSize, rootHashHex, iso), signer);
  return { origin, chain, treeSize, rootHash: rootHashHex, time: iso, note };
}

export type CheckpointVerification =
  | { ok: true; body: CheckpointBody; verifiedBy: string[] }
  | { ok: false; error: string; body?: CheckpointBody };

/** Verifies a checkpoint note's signature against trusted keys and parses its body. */
export function verifyCheckpointNote(note: string, trustedKeys: readonly string[]): CheckpointVerification {
  const v = verifyNote(note, trustedKeys);
  let body: CheckpointBody | undefined;
  try {
    body = parseCheckpointBody(v.text || parseNote(note).text);
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
  if (!v.ok) return { ok: false, error: v.error ?? "signature", body };
  return { ok: true, body, verifiedBy: v.verifiedBy };
}

// ---------- witness cosignatures (cosignature/v1) ----------

/** The message a witness signs: "cosignature/v1\ntime <seconds>\n" + the checkpoint body. */
export function cosignatureMessage(checkpointText: string, timestampSeconds: number): Buffer {
  return Buffer.from(`cosignature/v1\ntime ${timestampSeconds}\n${checkpointText}`, "utf8");
}

/** A cosignature line "— <name> <base64(key id || 8-byte BE timestamp || signature)>" (used by the test witness). */
export function cosignCheckpoint(checkpointText: string, witnessName: string, witnessKey: KeyObject, timestampSeconds: number): string {
  const pub = ed25519PublicKeyBytes(witnessKey);
  const ts = Buffer.alloc(8);
  ts.writeBigUInt64BE(BigInt(timestampSeconds));
  const sig = cryptoSign(null, cosignatureMessage(checkpointText, timestampSeconds), witnessKey);
  return `${EM_DASH} ${witnessName} ${Buffer.concat([keyId(witnessName, SIG_COSIGNATURE_V1, pub), ts, sig]).toString("base64")}`;
}

export type CosignatureVerification = { ok: true; line: string; timestamp: number } | { ok: false; error: string };

/**
 * Finds and verifies the witness's cosignature among signature lines (a witness's response body or
 * a cosigned note). The witness vkey is of type 0x04 (cosignature/v1).
 */
export function verifyCosignature(checkpointText: string, lines: string, witnessVkey: string): CosignatureVerification {
  let key: VerifierKey;
  try {
    key = parseVerifierKey(witnessVkey);
  } catch (error) {
    return { ok: false, error: `witness key: ${(error as Error).message}` };
  }
  if (key.type !== SIG_COSIGNATURE_V1) return { ok: false, error: "the witness key is not a cosignature/v1 key" };
  for (const line of lines.split("\n")) {
    const m = /^\u2014 (\S+) (\S+)$/u.exec(line.trim());
    if (!m || m[1] !== key.name) continue;
    const bytes = Buffer.from(m[2], "base64");
    if (bytes.length !== 4 + 8 + 64 || !bytes.subarray(0, 4).equals(key.keyId)) continue;
    const timestamp = Number(bytes.readBigUInt64BE(4));
    if (!cryptoVerify(null, cosignatureMessage(checkpointText, timestamp), key.publicKey, bytes.subarray(12))) {
      return { ok: false, error: "the witness's cosignature does not verify" };
    }
    return { ok: true, line: line.trim(), timestamp };
  }
  return { ok: false, error: "no cosignature by the witness key" };
}
