/**
 * The export archive (docs/export-format.md), pure: a gzip'd tar (written as gzip members, read
 * with tar-stream) whose entries are hashed as they stream, a `manifest.json` listing every other entry with its size and SHA-256, and a
 * `manifest.sig` — a C2SP signed note over the manifest's SHA-256, signed with the installation's
 * Ed25519 key (server/audit/note.ts). Imports nothing of the database (node:crypto, node:zlib,
 * tar-stream, the pure server/audit/note.ts), so that the
 * offline verifier (`npm run audit:verify`) and an auditor's own code can use it alone.
 */
import { createHash, type Hash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { PassThrough, Readable, Transform, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { StringDecoder } from "node:string_decoder";
import { createGunzip, createGzip, gzipSync } from "node:zlib";
import tar from "tar-stream";
import { signNote, verifyNote } from "../audit/note";

export const EXPORT_FORMAT = "enclave-export/1";
export const MANIFEST_PATH = "manifest.json";
export const SIGNATURE_PATH = "manifest.sig";

export interface ManifestFile {
  path: string;
  bytes: number;
  sha256: string;
}

export interface ExportManifest {
  format: typeof EXPORT_FORMAT;
  /** ISO 8601: when the export was written. */
  exportedAt: string;
  source: { installation: string; verifierKey: string; enclaveVersion: string };
  organization: { id: string; slug: string; name: string };
  /** Every entry of the archive but the manifest and its signature, in archive order. */
  files: ManifestFile[];
}

/** What signs the manifest: the shape of server/audit/types.ts's InstallationSigner. */
export interface ManifestSigner {
  keyName: string;
  verifierKey: string;
  sign(message: Uint8Array): Uint8Array;
}

// ─── C2SP signed note over the manifest's digest ────────────────────────────

/** The note's body: its origin line and the manifest's digest (C2SP signed-note: lines end with \n). */
export function manifestNoteBody(keyName: string, manifestSha256: string): string {
  return `${keyName}/export-manifest\nsha256:${manifestSha256}\n`;
}

export function signManifestNote(signer: ManifestSigner, manifestSha256: string): string {
  return signNote(manifestNoteBody(signer.keyName, manifestSha256), signer);
}

/** Null when the note is a valid signature by `vkey` over `manifestSha256`, else the reason. */
export function verifyManifestNote(note: string, manifestSha256: string, vkey: string): string | null {
  const result = verifyNote(note, [vkey]);
  if (!result.ok) return `manifest.sig does not verify with the trusted key: ${result.error ?? "unknown reason"}`;
  const expected = manifestNoteBody(vkey.split("+")[0], manifestSha256);
  if (result.text !== expected) return "manifest.sig signs another manifest than the one in the archive";
  return null;
}

// ─── Writing ─────────────────────────────────────────────────────────────────

const sha256Hex = (data: string | Uint8Array) => createHash("sha256").update(data).digest("hex");

/** Counts and hashes what passes through. */
class Digest extends Transform {
  readonly hash: Hash = createHash("sha256");
  bytes = 0;
  _transform(chunk: Buffer, _enc: BufferEncoding, done: (e?: Error | null, data?: Buffer) => void) {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }
}

/** A POSIX ustar header of a regular file (names up to 100 bytes, sizes up to 8 GiB). */
function ustarHeader(name: string, size: number, mtime: Date): Buffer {
  const h = Buffer.alloc(512);
  const nameBytes = Buffer.from(name, "utf8");
  if (nameBytes.length > 100) throw new Error(`archive path too long: ${name.slice(0, 60)}…`);
  const octal = (value: number, width: number) => value.toString(8).padStart(width - 1, "0") + "\0";
  nameBytes.copy(h, 0);
  h.write(octal(0o644, 8), 100, "ascii");
  h.write(octal(0, 8), 108, "ascii");
  h.write(octal(0, 8), 116, "ascii");
  h.write(octal(size, 12), 124, "ascii");
  h.write(octal(Math.floor(mtime.getTime() / 1000), 12), 136, "ascii");
  h.write("        ", 148, "ascii");
  h.write("0", 156, "ascii");
  h.write("ustar\0", 257, "ascii");
  h.write("00", 263, "ascii");
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "ascii");
  return h;
}

const padding = (size: number) => Buffer.alloc((512 - (size % 512)) % 512);
const GZIP_LEVEL = 3;

/**
 * Writes an archive entry by entry, with back-pressure. The .tar.gz is a sequence of gzip members
 * (RFC 1952 allows several; gunzip and tar read them as one stream): a small entry is one member;
 * a large one is compressed while it is produced (`spool`, in libuv's threads, beside the
 * formatting on the main thread), then its header, its compressed bytes and its padding follow
 * as members — so nothing is compressed twice and the archive is never in memory.
 */
export class ArchiveWriter {
  private readonly sink = new Digest();
  private readonly done: Promise<void>;
  readonly files: ManifestFile[] = [];
  private readonly mtime: Date;

  constructor(out: Writable, options: { mtime?: Date } = {}) {
    this.mtime = options.mtime ?? new Date();
    this.done = pipeline(this.sink, out);
    this.done.catch(() => {});
  }

  private async push(chunk: Buffer) {
    if (!this.sink.write(chunk)) await new Promise<void>((resolve) => this.sink.once("drain", resolve));
  }

  /** A small entry from memory. */
  async addText(path: string, content: string | Buffer): Promise<void> {
    const data = typeof content === "string" ? Buffer.from(content) : content;
    await this.push(gzipSync(Buffer.concat([ustarHeader(path, data.length, this.mtime), data, padding(data.length)]), { level: GZIP_LEVEL }));
    if (path !== MANIFEST_PATH && path !== SIGNATURE_PATH) this.files.push({ path, bytes: data.length, sha256: sha256Hex(data) });
  }

  /** A large entry already compressed by `spool` (its uncompressed size and digest known). */
  async addSpooled(path: string, spooled: SpooledEntry): Promise<void> {
    await this.push(gzipSync(ustarHeader(path, spooled.bytes, this.mtime), { level: GZIP_LEVEL }));
    await pipeline(createReadStream(spooled.file), this.sink, { end: false });
    await this.push(gzipSync(padding(spooled.bytes), { level: GZIP_LEVEL }));
    this.files.push({ path, bytes: spooled.bytes, sha256: spooled.sha256 });
  }

  /** Writes manifest.json and manifest.sig, ends the archive; returns its size and SHA-256. */
  async finish(manifest: Omit<ExportManifest, "files">, signer: ManifestSigner): Promise<{ bytes: number; sha256: string; manifest: ExportManifest }> {
    const full: ExportManifest = { ...manifest, files: [...this.files] };
    const text = `${JSON.stringify(full, null, 2)}\n`;
    await this.addText(MANIFEST_PATH, text);
    await this.addText(SIGNATURE_PATH, signManifestNote(signer, sha256Hex(text)));
    // The end of a tar: two zero blocks.
    await this.push(gzipSync(Buffer.alloc(1024), { level: GZIP_LEVEL }));
    this.sink.end();
    await this.done;
    return { bytes: this.sink.bytes, sha256: this.sink.hash.digest("hex"), manifest: full };
  }

  /** Stops writing after a failure (the caller removes the partial file). */
  abort(error: Error) {
    this.sink.destroy(error);
  }
}

export interface SpooledEntry {
  file: string;
  /** Uncompressed size and SHA-256: what the manifest lists. */
  bytes: number;
  sha256: string;
}

/**
 * A large entry compressed into `file` as it is written, its uncompressed bytes counted and
 * hashed; `write` honours back-pressure.
 */
export function spool(file: string) {
  const gzip = createGzip({ level: GZIP_LEVEL });
  const written = pipeline(gzip, createWriteStream(file));
  written.catch(() => {});
  const hash = createHash("sha256");
  let bytes = 0;
  return {
    async write(text: string) {
      const buffer = Buffer.from(text);
      hash.update(buffer);
      bytes += buffer.length;
      if (!gzip.write(buffer)) {
        await Promise.race([new Promise<void>((resolve) => gzip.once("drain", resolve)), written]);
      }
    },
    async close(): Promise<SpooledEntry> {
      gzip.end();
      await written;
      return { file, bytes, sha256: hash.digest("hex") };
    },
  };
}

// ─── Reading and verifying ───────────────────────────────────────────────────

export interface ArchiveEntry {
  path: string;
  /** The entry's bytes, streamed. Consume it (or `resume()` it) before the next entry comes. */
  stream: Readable;
}

/**
 * Reads an archive entry by entry; `onEntry` consumes each stream before the next one is read
 * (back-pressure all the way to the file). Returns each entry's size and SHA-256 as read.
 */
export async function readArchive(source: Readable, onEntry: (entry: ArchiveEntry) => Promise<void>): Promise<ManifestFile[]> {
  const extract = tar.extract();
  const seen: ManifestFile[] = [];
  const reading = (async () => {
    for await (const entry of extract as AsyncIterable<Readable & { header: { name: string; type?: string | null } }>) {
      if (entry.header.type && entry.header.type !== "file") {
        entry.resume();
        throw new Error(`the archive holds a ${entry.header.type} entry (${entry.header.name}): only files are allowed`);
      }
      const digest = new Digest();
      const through = new PassThrough();
      const consumed = onEntry({ path: entry.header.name, stream: through });
      await Promise.all([pipeline(entry, digest, through), consumed]);
      seen.push({ path: entry.header.name, bytes: digest.bytes, sha256: digest.hash.digest("hex") });
    }
  })();
  await Promise.all([pipeline(source, createGunzip(), extract as unknown as Writable), reading]);
  return seen;
}

export const readText = async (stream: Readable, limit = 256 * 1024 * 1024): Promise<string> => {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new Error(`an archive entry is larger than ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
};

export interface ArchiveProblem {
  kind: "format" | "missing" | "unlisted" | "hash" | "size" | "signature" | "duplicate";
  path?: string;
  message: string;
}

export interface ArchiveVerification {
  ok: boolean;
  manifest: ExportManifest | null;
  /** The key the signature was checked against, and whether it came from the archive itself. */
  key: { verifierKey: string; fromArchive: boolean } | null;
  problems: ArchiveProblem[];
  /** The entries `keep` asked for, as text. */
  kept: Map<string, string>;
  /** Size and SHA-256 of the archive file itself. */
  archive: { bytes: number; sha256: string };
}

const MANIFEST_SHAPE = (m: unknown): m is ExportManifest => {
  const v = m as ExportManifest;
  return (
    typeof v === "object" &&
    v !== null &&
    v.format === EXPORT_FORMAT &&
    typeof v.exportedAt === "string" &&
    typeof v.source?.installation === "string" &&
    typeof v.source?.verifierKey === "string" &&
    typeof v.organization?.slug === "string" &&
    Array.isArray(v.files) &&
    v.files.every((f) => typeof f?.path === "string" && Number.isInteger(f.bytes) && /^[0-9a-f]{64}$/.test(f.sha256 ?? ""))
  );
};

/**
 * Checks an archive file: every entry listed in the manifest with its size and SHA-256, nothing
 * unlisted, nothing missing, and the manifest signed by `trustedKey` (else by the key the
 * manifest names, which proves integrity, not origin: `key.fromArchive` says so).
 */
export async function verifyArchive(file: string, options: { trustedKey?: string | null; keep?: (path: string) => boolean } = {}): Promise<ArchiveVerification> {
  const problems: ArchiveProblem[] = [];
  const kept = new Map<string, string>();
  let manifestText: string | null = null;
  let signature: string | null = null;
  const whole = new Digest();
  let entries: ManifestFile[] = [];
  try {
    entries = await readArchive(createReadStream(file).pipe(whole), async ({ path, stream }) => {
      if (path === MANIFEST_PATH) manifestText = await readText(stream, 64 * 1024 * 1024);
      else if (path === SIGNATURE_PATH) signature = await readText(stream, 64 * 1024);
      else if (options.keep?.(path)) kept.set(path, await readText(stream));
      else {
        stream.resume();
        await new Promise<void>((resolve, reject) => stream.on("end", resolve).on("error", reject));
      }
    });
  } catch (error) {
    problems.push({ kind: "format", message: `the archive cannot be read: ${(error as Error).message}` });
  }
  const archive = { bytes: whole.bytes, sha256: whole.hash.digest("hex") };
  let manifest: ExportManifest | null = null;
  if (manifestText === null) problems.push({ kind: "missing", path: MANIFEST_PATH, message: "the archive has no manifest.json" });
  else {
    try {
      const parsed: unknown = JSON.parse(manifestText);
      if (MANIFEST_SHAPE(parsed)) manifest = parsed;
      else problems.push({ kind: "format", path: MANIFEST_PATH, message: `manifest.json is not an ${EXPORT_FORMAT} manifest` });
    } catch {
      problems.push({ kind: "format", path: MANIFEST_PATH, message: "manifest.json is not JSON" });
    }
  }
  let key: ArchiveVerification["key"] = null;
  if (manifest) {
    const listed = new Map(manifest.files.map((f) => [f.path, f]));
    const counted = new Map<string, number>();
    for (const entry of entries) {
      if (entry.path === MANIFEST_PATH || entry.path === SIGNATURE_PATH) continue;
      counted.set(entry.path, (counted.get(entry.path) ?? 0) + 1);
      const f = listed.get(entry.path);
      if (!f) problems.push({ kind: "unlisted", path: entry.path, message: `${entry.path} is in the archive but not in its manifest` });
      else if (f.bytes !== entry.bytes) problems.push({ kind: "size", path: entry.path, message: `${entry.path} has ${entry.bytes} bytes, the manifest says ${f.bytes}` });
      else if (f.sha256 !== entry.sha256) problems.push({ kind: "hash", path: entry.path, message: `${entry.path} does not match its SHA-256 in the manifest: it was altered` });
    }
    for (const [path, n] of counted) if (n > 1) problems.push({ kind: "duplicate", path, message: `${path} appears ${n} times in the archive` });
    for (const f of manifest.files) if (!counted.has(f.path)) problems.push({ kind: "missing", path: f.path, message: `${f.path} is listed in the manifest but missing from the archive` });
    key = { verifierKey: options.trustedKey ?? manifest.source.verifierKey, fromArchive: !options.trustedKey };
    if (signature === null) problems.push({ kind: "missing", path: SIGNATURE_PATH, message: "the archive has no manifest.sig: the manifest is not signed" });
    else {
      const reason = verifyManifestNote(signature, sha256Hex(manifestText!), key.verifierKey);
      if (reason) problems.push({ kind: "signature", path: SIGNATURE_PATH, message: reason });
    }
  }
  return { ok: problems.length === 0, manifest, key, problems, kept, archive };
}

/** Size and SHA-256 of a file, streamed. */
export async function fileDigest(file: string): Promise<{ bytes: number; sha256: string }> {
  const digest = new Digest();
  await pipeline(createReadStream(file), digest, new PassThrough().resume());
  return { bytes: digest.bytes, sha256: digest.hash.digest("hex") };
}

// ─── CSV (RFC 4180) ──────────────────────────────────────────────────────────

export function csvField(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined) return "";
  const s = String(value);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export const csvLine = (values: (string | number | boolean | null | undefined)[]) => `${values.map(csvField).join(",")}\r\n`;

/** Splits a stream of CSV text into records (quoted fields may hold commas, quotes and line breaks). */
export async function* csvRecords(stream: AsyncIterable<Buffer | string>): AsyncGenerator<string[]> {
  let field = "";
  let record: string[] = [];
  let quoted = false;
  let afterQuote = false;
  const decoder = new StringDecoder("utf8");
  for await (const chunk of stream) {
    const text = typeof chunk === "string" ? chunk : decoder.write(chunk);
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (quoted) {
        if (c === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i++;
          } else if (i + 1 === text.length) {
            // A quote at the end of a chunk: decided by the next chunk's first character.
            quoted = false;
            afterQuote = true;
          } else quoted = false;
        } else field += c;
        continue;
      }
      if (afterQuote) {
        afterQuote = false;
        if (c === '"') {
          field += '"';
          quoted = true;
          continue;
        }
      }
      if (c === '"' && field === "") quoted = true;
      else if (c === ",") {
        record.push(field);
        field = "";
      } else if (c === "\n") {
        record.push(field.endsWith("\r") ? field.slice(0, -1) : field);
        field = "";
        yield record;
        record = [];
      } else field += c;
    }
  }
  if (field !== "" || record.length > 0) {
    record.push(field);
    yield record;
  }
}

/** Splits a stream of text into lines (JSON Lines). */
export async function* textLines(stream: AsyncIterable<Buffer | string>): AsyncGenerator<string> {
  let rest = "";
  const decoder = new StringDecoder("utf8");
  for await (const chunk of stream) {
    rest += typeof chunk === "string" ? chunk : decoder.write(chunk);
    let at: number;
    while ((at = rest.indexOf("\n")) >= 0) {
      const line = rest.slice(0, at);
      rest = rest.slice(at + 1);
      if (line.trim()) yield line;
    }
  }
  if (rest.trim()) yield rest;
}
