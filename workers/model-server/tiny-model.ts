import { createHash, randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { DriverError } from "../drivers/types";
import { writeGguf, type GgufTensor, type GgufValue } from "./gguf";

const ROOT = path.resolve(import.meta.dirname, "..", "..");

export const TINY_MODEL_URI = "local://tiny-random-llama";
export const TINY_MODEL_FILE = "tiny-random-llama.gguf";
export const DEFAULT_MODELS_DIR = path.join(ROOT, ".data", "models");
/** The only directory `file://` catalog artifacts may name files in (default DEFAULT_MODELS_DIR). */
export const MODELS_DIR_ENV = "ENCLAVE_MODELS_DIR";
/** sha256 of the file buildTinyModel() writes; a test pins it so any change to the generator is deliberate. */
export const TINY_MODEL_SHA256 = "a83f8e1a50e031d087795016c5f8491230600b0ebeefc14a02dc90628373c043";

/** Hyper-parameters: small enough to generate in milliseconds and load in about a second. */
export const TINY_MODEL_SHAPE = {
  embedding: 64,
  layers: 2,
  heads: 4,
  feedForward: 128,
  context: 512,
  seed: 0x5eed_11a3,
} as const;

/**
 * The chat template stored in the file. Plain Jinja that both llama.cpp and node-llama-cpp's
 * JinjaTemplateChatWrapper render; eos_token closes each turn so generation stops on an EOG token.
 */
export const TINY_CHAT_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{{ '<|' + message['role'] + '|>\n' + message['content'] + eos_token + '\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}";

// A few whole words (plus every prefix, which SentencePiece merging needs to reach them).
const WORDS = [
  "the", "and", "of", "to", "in", "is", "you", "that", "it", "he", "was", "for", "on", "are", "with", "as", "his",
  "they", "be", "at", "one", "have", "this", "from", "hello", "world", "model", "token", "user", "assistant", "system",
  "what", "how", "can", "say", "tell", "me", "about", "answer", "question", "count", "number", "write", "story",
];

/** mulberry32: a tiny seeded PRNG built on 32-bit integer ops, so every platform draws the same numbers. */
function mulberry32(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Number of weights in the tiny model (embeddings, output head, norms, attention and FFN of every layer). */
export const TINY_MODEL_PARAMETERS: number = (() => {
  const { embedding: E, layers, feedForward: F } = TINY_MODEL_SHAPE;
  const V = tinyVocabulary().tokens.length;
  return 2 * E * V + E + layers * (2 * E + 4 * E * E + 3 * E * F);
})();

/** SPM vocabulary with byte fallback: special tokens, the 256 byte tokens, printable ASCII and some words. */
export function tinyVocabulary() {
  const tokens: string[] = ["<unk>", "<s>", "</s>"];
  const types: number[] = [2, 3, 3]; // llama_token_type: UNKNOWN, CONTROL, CONTROL
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
    types.push(6); // BYTE
  }
  const pieces = new Set<string>(["\u2581"]);
  for (let c = 0x21; c < 0x7f; c++) pieces.add(String.fromCharCode(c));
  for (const word of WORDS) {
    const piece = `\u2581${word}`; // SentencePiece marks a leading space with U+2581
    for (let i = 2; i <= piece.length; i++) pieces.add(piece.slice(0, i));
  }
  for (const p of pieces) {
    tokens.push(p);
    types.push(1); // NORMAL
  }
  // Earlier pieces rank higher, as in real SentencePiece models; special and byte tokens score 0.
  const scores = tokens.map((_, i) => (types[i] === 1 ? -(i - 259) : 0));
  return { tokens, types, scores };
}

/** Builds the tiny-random llama GGUF in memory; deterministic, so its digest is a constant. */
export function buildTinyModel(): Buffer {
  const { embedding: E, layers, heads, feedForward: F, context, seed } = TINY_MODEL_SHAPE;
  const vocab = tinyVocabulary();
  const V = vocab.tokens.length;
  const rand = mulberry32(seed);
  // Uniform in ±1/sqrt(fan_in): keeps activations finite through the random network.
  const random = (fanIn: number, ...dims: number[]): GgufTensor["data"] => {
    const n = dims.reduce((a, b) => a * b, 1);
    const scale = 1 / Math.sqrt(fanIn);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = (rand() * 2 - 1) * scale;
    return data;
  };
  const ones = (n: number) => new Float32Array(n).fill(1);

  const tensors: GgufTensor[] = [
    { name: "token_embd.weight", dims: [E, V], data: random(E, E, V) },
    { name: "output_norm.weight", dims: [E], data: ones(E) },
    { name: "output.weight", dims: [E, V], data: random(E, E, V) },
  ];
  for (let l = 0; l < layers; l++) {
    const b = `blk.${l}`;
    tensors.push(
      { name: `${b}.attn_norm.weight`, dims: [E], data: ones(E) },
      { name: `${b}.attn_q.weight`, dims: [E, E], data: random(E, E, E) },
      { name: `${b}.attn_k.weight`, dims: [E, E], data: random(E, E, E) },
      { name: `${b}.attn_v.weight`, dims: [E, E], data: random(E, E, E) },
      { name: `${b}.attn_output.weight`, dims: [E, E], data: random(E, E, E) },
      { name: `${b}.ffn_norm.weight`, dims: [E], data: ones(E) },
      { name: `${b}.ffn_gate.weight`, dims: [E, F], data: random(E, E, F) },
      { name: `${b}.ffn_up.weight`, dims: [E, F], data: random(E, E, F) },
      { name: `${b}.ffn_down.weight`, dims: [F, E], data: random(F, F, E) },
    );
  }

  const u32 = (value: number): GgufValue => ({ type: "u32", value });
  const metadata: Record<string, GgufValue> = {
    "general.architecture": { type: "string", value: "llama" },
    "general.name": { type: "string", value: "tiny-random-llama" },
    "general.file_type": u32(0), // ALL_F32
    "llama.context_length": u32(context),
    "llama.embedding_length": u32(E),
    "llama.block_count": u32(layers),
    "llama.feed_forward_length": u32(F),
    "llama.attention.head_count": u32(heads),
    "llama.attention.head_count_kv": u32(heads),
    "llama.rope.dimension_count": u32(E / heads),
    "llama.rope.freq_base": { type: "f32", value: 10000 },
    "llama.attention.layer_norm_rms_epsilon": { type: "f32", value: 1e-5 },
    "llama.vocab_size": u32(V),
    "tokenizer.ggml.model": { type: "string", value: "llama" },
    "tokenizer.ggml.tokens": { type: "array", itemType: "string", value: vocab.tokens },
    "tokenizer.ggml.scores": { type: "array", itemType: "f32", value: vocab.scores },
    "tokenizer.ggml.token_type": { type: "array", itemType: "i32", value: vocab.types },
    "tokenizer.ggml.unknown_token_id": u32(0),
    "tokenizer.ggml.bos_token_id": u32(1),
    "tokenizer.ggml.eos_token_id": u32(2),
    "tokenizer.ggml.add_bos_token": { type: "bool", value: true },
    "tokenizer.ggml.add_eos_token": { type: "bool", value: false },
    "tokenizer.chat_template": { type: "string", value: TINY_CHAT_TEMPLATE },
  };
  return writeGguf(metadata, tensors);
}

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

/** mkdir -p that leaves every directory it creates (and the leaf) world-readable regardless of umask. */
function mkdirReadable(dir: string) {
  const first = mkdirSync(dir, { recursive: true, mode: 0o755 });
  if (first) {
    for (let d = dir; d.length >= first.length; d = path.dirname(d)) chmodSync(d, 0o755);
  }
}

/**
 * Writes the tiny model under `dir` once (tmp file + rename, so concurrent callers never see a
 * partial file) and reuses it while its digest matches. World-readable: a Slurm job running as
 * another user loads the same file.
 */
export async function ensureTinyModel(dir: string = DEFAULT_MODELS_DIR): Promise<{ path: string; sha256: string }> {
  const file = path.join(dir, TINY_MODEL_FILE);
  if (existsSync(file) && sha256(readFileSync(file)) === TINY_MODEL_SHA256) {
    return { path: file, sha256: TINY_MODEL_SHA256 };
  }
  mkdirReadable(dir);
  const data = buildTinyModel();
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    writeFileSync(tmp, data, { mode: 0o644 });
    chmodSync(tmp, 0o644);
    renameSync(tmp, file);
  } finally {
    rmSync(tmp, { force: true });
  }
  return { path: file, sha256: sha256(data) };
}

function fileUriPath(uri: string): string {
  try {
    return fileURLToPath(uri);
  } catch {
    throw new DriverError(`Invalid file URI ${uri}: use file:///absolute/path/model.gguf.`, false);
  }
}

/**
 * Maps a catalog artifact URI to a local file path: the generated tiny model, or an existing
 * absolute file:// path. Anything that would need a download is refused (no network here).
 * It does not confine file:// paths: drivers resolve through resolveConfinedArtifact.
 */
export async function resolveModelArtifact(uri: string): Promise<string> {
  if (uri === TINY_MODEL_URI) return (await ensureTinyModel()).path;
  if (uri.startsWith("local://")) {
    throw new DriverError(`Unknown local model ${uri}: the local driver only generates ${TINY_MODEL_URI}.`, false);
  }
  if (uri.startsWith("file://")) {
    const file = fileUriPath(uri);
    if (!existsSync(file) || !statSync(file).isFile()) {
      throw new DriverError(`Model file ${file} does not exist on this machine.`, false);
    }
    return file;
  }
  const scheme = uri.includes("://") ? uri.slice(0, uri.indexOf("://") + 3) : uri;
  throw new DriverError(
    `The local driver cannot fetch ${scheme} artifacts (${uri}): place the GGUF file on this machine and use a file:// URI.`,
    false,
  );
}

/** ENCLAVE_MODELS_DIR, absolute; `.data/models` of this checkout when unset. */
export function modelsDirectory(): string {
  const configured = process.env[MODELS_DIR_ENV];
  return path.resolve(configured && configured.trim() !== "" ? configured : DEFAULT_MODELS_DIR);
}

const isInside = (dir: string, file: string) => {
  const relative = path.relative(dir, file);
  return relative !== "" && relative !== ".." && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative);
};

/**
 * resolveModelArtifact for a replica about to be launched: a `file://` artifact must be a file
 * inside the models directory, both as written and once `..` and symbolic links are resolved;
 * anything else is refused with a DriverError before any process starts. Returns the real path.
 */
export async function resolveConfinedArtifact(uri: string, modelsDir: string = modelsDirectory()): Promise<string> {
  if (!uri.startsWith("file://")) return resolveModelArtifact(uri);
  const file = fileUriPath(uri);
  const dir = path.resolve(modelsDir);
  const where = `the models directory ${dir} (${MODELS_DIR_ENV})`;
  if (!isInside(dir, path.resolve(file))) {
    throw new DriverError(`Model file ${file} is outside ${where}: file:// artifacts must name a file inside it.`, false);
  }
  let realDir: string;
  try {
    realDir = realpathSync(dir);
  } catch {
    throw new DriverError(`Model file ${file} cannot be served: ${where} does not exist on this machine.`, false);
  }
  let real: string;
  try {
    real = realpathSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new DriverError(code === "ENOENT" || code === "ENOTDIR" ? `Model file ${file} does not exist on this machine.` : `Model file ${file} cannot be read (${code ?? "error"}).`, false);
  }
  if (!isInside(realDir, real)) {
    throw new DriverError(`Model file ${file} leads outside ${where} through a symbolic link: refused.`, false);
  }
  if (!statSync(real).isFile()) throw new DriverError(`Model file ${file} is not a regular file.`, false);
  return real;
}
