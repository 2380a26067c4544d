/**
 * RFC 6962 / RFC 9162 Merkle tree hashing, proofs and their verification.
 *
 * Pure: node:crypto only, nothing of Enclave, so that the offline verifier and an auditor's own code
 * can use it alone. Hashes are Uint8Array (Buffers) here; the shared contracts (types.ts) carry hex.
 *
 * Generation follows RFC 9162 §2.1.3.1 (PATH) and §2.1.4.1 (SUBPROOF) over a tree built once from
 * the leaf hashes (`MerkleTree`: O(n) hashes to build, O(log² n) per proof after that). Verification
 * follows the algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2 literally, and trusts nothing it is handed.
 */
import { createHash } from "node:crypto";

export const HASH_SIZE = 32;
const LEAF_PREFIX = Buffer.from([0x00]);
const NODE_PREFIX = Buffer.from([0x01]);

/** SHA-256 of the empty string: the root of an empty tree (RFC 9162 §2.1.1). */
export const EMPTY_ROOT: Buffer = createHash("sha256").digest();

/** MTH({d}) = SHA-256(0x00 || d). */
export function leafHash(data: Uint8Array): Buffer {
  return createHash("sha256").update(LEAF_PREFIX).update(data).digest();
}

/** SHA-256(0x01 || left || right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  return createHash("sha256").update(NODE_PREFIX).update(left).update(right).digest();
}

/** Largest power of two strictly smaller than n (n ≥ 2). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

function checkSize(name: string, value: number) {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
}

/**
 * A Merkle tree over leaf hashes, keeping every complete (power-of-two, aligned) subtree so that
 * any root and any proof up to `size` costs O(log² n) hashes. Leaves can be appended.
 */
export class MerkleTree {
  /** levels[k][i] = hash of the perfect subtree of 2^k leaves starting at leaf i·2^k. */
  private readonly levels: Buffer[][] = [[]];

  constructor(leafHashes: Iterable<Uint8Array> = []) {
    for (const leaf of leafHashes) this.append(leaf);
  }

  get size(): number {
    return this.levels[0].length;
  }

  /** The leaf hash at `index`. */
  leaf(index: number): Buffer {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.size) throw new RangeError(`no leaf ${index} in a tree of ${this.size}`);
    return this.levels[0][index];
  }

  /** Appends one leaf *hash* (already SHA-256(0x00 || data)). */
  append(leaf: Uint8Array) {
    if (leaf.length !== HASH_SIZE) throw new RangeError(`a leaf hash has ${HASH_SIZE} bytes, got ${leaf.length}`);
    let node: Buffer = Buffer.from(leaf);
    let level = 0;
    this.levels[0].push(node);
    // Complete every perfect subtree this leaf closes.
    while (this.levels[level].length % 2 === 0) {
      const row = this.levels[level];
      node = nodeHash(row[row.length - 2], row[row.length - 1]);
      level++;
      if (!this.levels[level]) this.levels[level] = [];
      this.levels[level].push(node);
    }
  }

  /** MTH(D[start:end]) for a range the RFC's recursion reaches (start aligned to the subtree). */
  private subtree(start: number, end: number): Buffer {
    const n = end - start;
    if (n === 0) return EMPTY_ROOT;
    if (isPowerOfTwo(n) && start % n === 0) {
      const level = Math.log2(n);
      return this.levels[level][start / n];
    }
    const k = splitPoint(n);
    return nodeHash(this.subtree(start, start + k), this.subtree(start + k, end));
  }

  /** Root of the first `size` leaves (default: all). */
  root(size = this.size): Buffer {
    checkSize("size", size);
    if (size > this.size) throw new RangeError(`tree size ${size} is beyond the ${this.size} leaves`);
    return this.subtree(0, size);
  }

  /** RFC 9162 §2.1.3.1: the inclusion proof of leaf `index` in the tree of the first `size` leaves. */
  inclusionProof(index: number, size: number): Buffer[] {
    checkSize("index", index);
    checkSize("size", size);
    if (size > this.size) throw new RangeError(`tree size ${size} is beyond the ${this.size} leaves`);
    if (index >= size) throw new RangeError(`leaf index ${index} is not in a tree of size ${size}`);
    const path: Buffer[] = [];
    // PATH(m, D[start:end]) unrolled from the top, then reversed (the proof goes leaf → root).
    let start = 0;
    let end = size;
    let m = index;
    while (end - start > 1) {
      const k = splitPoint(end - start);
      if (m < k) {
        path.push(this.subtree(start + k, end));
        end = start + k;
      } else {
        path.push(this.subtree(start, start + k));
        start += k;
        m -= k;
      }
    }
    return path.reverse();
  }

  /** RFC 9162 §2.1.4.1: the consistency proof between the trees of size1 and size2 leaves. */
  consistencyProof(size1: number, size2: number): Buffer[] {
    checkSize("size1", size1);
    checkSize("size2", size2);
    if (size2 > this.size) throw new RangeError(`tree size ${size2} is beyond the ${this.size} leaves`);
    if (size1 > size2) throw new RangeError(`size1 ${size1} is larger than size2 ${size2}`);
    if (size1 === 0 || size1 === size2) return [];
    const proof: Buffer[] = [];
    // SUBPROOF(m, D[start:end], b) unrolled from the top, then reversed.
    let start = 0;
    let end = size2;
    let m = size1;
    let complete = true;
    for (;;) {
      const n = end - start;
      if (m === n) {
        if (!complete) proof.push(this.subtree(start, end));
        break;
      }
      const k = splitPoint(n);
      if (m <= k) {
        proof.push(this.subtree(start + k, end));
        end = start + k;
      } else {
        proof.push(this.subtree(start, start + k));
        start += k;
        m -= k;
        complete = false;
      }
    }
    return proof.reverse();
  }
}

/** MTH of the given leaf hashes. */
export function rootHash(leafHashes: readonly Uint8Array[]): Buffer {
  return new MerkleTree(leafHashes).root();
}

/** Inclusion proof of leaf `index` in the tree of the first `size` of the given leaf hashes. */
export function inclusionProof(leafHashes: readonly Uint8Array[], index: number, size: number): Buffer[] {
  return new MerkleTree(leafHashes.slice(0, size)).inclusionProof(index, size);
}

/** Consistency proof between the trees of the first size1 and size2 of the given leaf hashes. */
export function consistencyProof(leafHashes: readonly Uint8Array[], size1: number, size2: number): Buffer[] {
  return new MerkleTree(leafHashes.slice(0, size2)).consistencyProof(size1, size2);
}

function equalHashes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === HASH_SIZE && b.length === HASH_SIZE && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}

function validInputs(sizes: number[], hashes: readonly Uint8Array[]): boolean {
  return sizes.every((s) => Number.isSafeInteger(s) && s >= 0) && hashes.every((h) => h instanceof Uint8Array && h.length === HASH_SIZE);
}

/**
 * RFC 9162 §2.1.3.2: true when `proof` shows the leaf hash at `index` is in the tree of `size`
 * leaves whose root is `root`. Any malformed input is a rejection, never an exception.
 */
export function verifyInclusion(
  leaf: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  if (!validInputs([index, size], [leaf, root, ...proof])) return false;
  if (index >= size) return false;
  // fn, sn can exceed 2^31: use plain numbers with Math.floor instead of bit operators.
  let fn = index;
  let sn = size - 1;
  let r: Buffer = Buffer.from(leaf);
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && equalHashes(r, root);
}

/**
 * RFC 9162 §2.1.4.2: true when `proof` shows the tree of size1 leaves with root1 is a prefix of the
 * tree of size2 leaves with root2. size1 = size2 needs an empty proof and equal roots; size1 = 0 is
 * refused (a proof from the empty tree proves nothing), as the transparency-dev/merkle vectors decide.
 */
export function verifyConsistency(
  size1: number,
  size2: number,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): boolean {
  if (!Number.isSafeInteger(size1) || !Number.isSafeInteger(size2) || size1 <= 0 || size2 < size1) return false;
  if (size1 === size2) return proof.length === 0 && root1.length > 0 && Buffer.compare(Buffer.from(root1), Buffer.from(root2)) === 0;
  if (!validInputs([], [root1, root2, ...proof])) return false;
  if (proof.length === 0) return false;
  const path = isPowerOfTwo(size1) ? [root1, ...proof] : [...proof];
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr: Buffer = Buffer.from(path[0]);
  let sr: Buffer = Buffer.from(path[0]);
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && equalHashes(fr, root1) && equalHashes(sr, root2);
}

/** Hex helpers for the contracts' types. */
export const toHex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
export function fromHex(hex: string): Buffer {
  if (typeof hex !== "string" || !/^[0-9a-f]*$/i.test(hex) || hex.length % 2 !== 0) throw new Error("not a hex string");
  return Buffer.from(hex, "hex");
}
