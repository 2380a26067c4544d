/**
 * A minimal GGUF v3 writer: enough of the format (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md)
 * to write a llama model with f32 tensors that llama.cpp loads. Little-endian throughout.
 */

/** GGUF metadata value types (gguf_type in ggml). */
export const GgufType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;

type ScalarType = "u32" | "i32" | "f32" | "bool" | "string" | "u64";

/** A metadata value with its GGUF type made explicit (JS numbers alone cannot say u32 vs f32). */
export type GgufValue =
  | { type: "u32" | "i32" | "f32" | "u64"; value: number }
  | { type: "bool"; value: boolean }
  | { type: "string"; value: string }
  | { type: "array"; itemType: "u32" | "i32" | "f32"; value: ArrayLike<number> }
  | { type: "array"; itemType: "string"; value: readonly string[] };

export interface GgufTensor {
  name: string;
  /** ggml order: dims[0] is the fastest-varying (row length), e.g. [n_embd, n_vocab] for token_embd. */
  dims: number[];
  data: Float32Array;
}

const TYPE_CODE: Record<ScalarType, number> = {
  u32: GgufType.UINT32,
  i32: GgufType.INT32,
  f32: GgufType.FLOAT32,
  bool: GgufType.BOOL,
  string: GgufType.STRING,
  u64: GgufType.UINT64,
};

const GGML_TYPE_F32 = 0;
const MAGIC = 0x46554747; // "GGUF" read as a little-endian u32

/** Growable little-endian byte sink: the file is small, so one in-memory buffer keeps writing atomic. */
class ByteWriter {
  private buf = Buffer.alloc(1 << 16);
  length = 0;

  private reserve(n: number) {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = Buffer.alloc(size);
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
  u32(v: number) {
    this.reserve(4);
    this.buf.writeUInt32LE(v, this.length);
    this.length += 4;
  }
  i32(v: number) {
    this.reserve(4);
    this.buf.writeInt32LE(v, this.length);
    this.length += 4;
  }
  u64(v: number) {
    this.reserve(8);
    this.buf.writeBigUInt64LE(BigInt(v), this.length);
    this.length += 8;
  }
  f32(v: number) {
    this.reserve(4);
    this.buf.writeFloatLE(v, this.length);
    this.length += 4;
  }
  u8(v: number) {
    this.reserve(1);
    this.buf.writeUInt8(v, this.length);
    this.length += 1;
  }
  string(s: string) {
    const bytes = Buffer.from(s, "utf8");
    this.u64(bytes.length);
    this.bytes(bytes);
  }
  bytes(b: Uint8Array) {
    this.reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  padTo(alignment: number) {
    const pad = (alignment - (this.length % alignment)) % alignment;
    this.reserve(pad);
    this.buf.fill(0, this.length, this.length + pad);
    this.length += pad;
  }
  result() {
    return this.buf.subarray(0, this.length);
  }
}

function writeScalar(w: ByteWriter, type: ScalarType, value: number | boolean | string) {
  switch (type) {
    case "u32":
      return w.u32(value as number);
    case "i32":
      return w.i32(value as number);
    case "f32":
      return w.f32(value as number);
    case "u64":
      return w.u64(value as number);
    case "bool":
      return w.u8(value ? 1 : 0);
    case "string":
      return w.string(value as string);
  }
}

/** Serialises a GGUF v3 file: header, metadata, tensor infos, aligned f32 tensor data. */
export function writeGguf(metadata: Record<string, GgufValue>, tensors: GgufTensor[], alignment = 32): Buffer {
  const w = new ByteWriter();
  w.u32(MAGIC);
  w.u32(3);
  w.u64(tensors.length);
  // general.alignment is written explicitly only when it differs from the format's default of 32.
  const entries = Object.entries(metadata);
  if (alignment !== 32) entries.push(["general.alignment", { type: "u32", value: alignment }]);
  w.u64(entries.length);
  for (const [key, v] of entries) {
    w.string(key);
    if (v.type === "array") {
      w.u32(GgufType.ARRAY);
      w.u32(TYPE_CODE[v.itemType]);
      w.u64(v.value.length);
      for (let i = 0; i < v.value.length; i++) writeScalar(w, v.itemType, v.value[i]);
    } else {
      w.u32(TYPE_CODE[v.type]);
      writeScalar(w, v.type, v.value);
    }
  }
  let offset = 0;
  for (const t of tensors) {
    const count = t.dims.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new Error(`tensor ${t.name}: dims ${t.dims.join("x")} != ${t.data.length} values`);
    w.string(t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(GGML_TYPE_F32);
    w.u64(offset);
    // Each tensor's offset must itself be a multiple of the alignment.
    offset += Math.ceil((count * 4) / alignment) * alignment;
  }
  w.padTo(alignment);
  for (const t of tensors) {
    // Copy through a little-endian view so the bytes do not depend on the host's endianness.
    const bytes = Buffer.alloc(t.data.length * 4);
    for (let i = 0; i < t.data.length; i++) bytes.writeFloatLE(t.data[i], i * 4);
    w.bytes(bytes);
    w.padTo(alignment);
  }
  return w.result();
}
