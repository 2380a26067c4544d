import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  EMPTY_ROOT,
  MerkleTree,
  consistencyProof,
  inclusionProof,
  leafHash,
  nodeHash,
  rootHash,
  verifyConsistency,
  verifyInclusion,
} from "../../server/audit/merkle";

// A copy of ../shared/testdata/rfc6962 (transparency-dev/merkle test data, Apache-2.0, LICENSE inside), so a clone tests alone.
const VECTORS = path.resolve(import.meta.dirname, "../fixtures/rfc6962");
const b64 = (s: string) => Buffer.from(s, "base64");
const hex = (s: string) => Buffer.from(s, "hex");

/** Every .json file under a directory, recursively: the vectors are enumerated, not hand-picked. */
function vectorFiles(dir: string): string[] {
  return readdirSync(dir)
    .flatMap((name) => {
      const full = path.join(dir, name);
      return statSync(full).isDirectory() ? vectorFiles(full) : name.endsWith(".json") ? [full] : [];
    })
    .sort();
}

interface InclusionVector { leafIdx: number; treeSize: number; root: string; leafHash: string; proof: string[] | null; desc: string; wantErr: boolean }
interface ConsistencyVector { size1: number; size2: number; root1: string; root2: string; proof: string[] | null; desc: string; wantErr: boolean }

// The tree of Certificate Transparency's tests (README), and its roots by size.
const CT_LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"].map(hex);
const CT_ROOTS = [
  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
  "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
  "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
  "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
  "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
  "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/** The RFC 9162 §2.1.1 definition, recursively and naively: the reference the tree is checked against. */
function referenceRoot(leaves: Buffer[]): Buffer {
  if (leaves.length === 0) return EMPTY_ROOT;
  if (leaves.length === 1) return leaves[0];
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return nodeHash(referenceRoot(leaves.slice(0, k)), referenceRoot(leaves.slice(k)));
}

function flipBit(buf: Buffer, bit: number): Buffer {
  const copy = Buffer.from(buf);
  copy[Math.floor(bit / 8) % copy.length] ^= 1 << bit % 8;
  return copy;
}

describe("RFC 6962 hashing", () => {
  it("matches the known answers of the README", () => {
    expect(leafHash(Buffer.alloc(0)).toString("hex")).toBe(CT_ROOTS[1]);
    expect(leafHash(Buffer.from("L123456")).toString("hex")).toBe("395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56");
    expect(nodeHash(Buffer.from("N123"), Buffer.from("N456")).toString("hex")).toBe("aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb");
  });

  it("gives the roots table of the README for every size 0..8", () => {
    const leaves = CT_LEAVES.map(leafHash);
    for (let size = 0; size <= 8; size++) {
      expect(rootHash(leaves.slice(0, size)).toString("hex"), `size ${size}`).toBe(CT_ROOTS[size]);
      expect(new MerkleTree(leaves).root(size).toString("hex"), `tree root(${size})`).toBe(CT_ROOTS[size]);
    }
  });

  it("agrees with the recursive definition for every size up to 70", () => {
    const leaves = Array.from({ length: 70 }, (_, i) => leafHash(Buffer.from(`event ${i}`)));
    const tree = new MerkleTree(leaves);
    for (let size = 0; size <= 70; size++) expect(tree.root(size).equals(referenceRoot(leaves.slice(0, size))), `size ${size}`).toBe(true);
  });
});

describe("inclusion proof vectors (transparency-dev/merkle)", () => {
  const files = vectorFiles(path.join(VECTORS, "inclusion"));
  it("are all there", () => expect(files.length).toBeGreaterThan(50));
  for (const file of files) {
    const v = JSON.parse(readFileSync(file, "utf8")) as InclusionVector;
    const name = path.relative(VECTORS, file);
    it(`${name}: ${v.desc} → ${v.wantErr ? "rejected" : "verifies"}`, () => {
      const ok = verifyInclusion(b64(v.leafHash), v.leafIdx, v.treeSize, (v.proof ?? []).map(b64), b64(v.root));
      expect(ok).toBe(!v.wantErr);
    });
  }
});

describe("consistency proof vectors (transparency-dev/merkle)", () => {
  const files = vectorFiles(path.join(VECTORS, "consistency"));
  it("are all there", () => expect(files.length).toBeGreaterThan(50));
  for (const file of files) {
    const v = JSON.parse(readFileSync(file, "utf8")) as ConsistencyVector;
    const name = path.relative(VECTORS, file);
    it(`${name}: ${v.desc} → ${v.wantErr ? "rejected" : "verifies"}`, () => {
      const ok = verifyConsistency(v.size1, v.size2, (v.proof ?? []).map(b64), b64(v.root1), b64(v.root2));
      expect(ok).toBe(!v.wantErr);
    });
  }

  it("happy paths are reproduced by the proof generator over the CT tree", () => {
    const leaves = CT_LEAVES.map(leafHash);
    for (const file of files.filter((f) => f.endsWith("happy-path.json"))) {
      const v = JSON.parse(readFileSync(file, "utf8")) as ConsistencyVector;
      expect(consistencyProof(leaves, v.size1, v.size2).map((p) => p.toString("base64")), file).toEqual(v.proof ?? []);
    }
  });
});

describe("generated proofs up to 40 leaves", () => {
  const N = 40;
  const leaves = Array.from({ length: N }, (_, i) => leafHash(Buffer.from(`leaf ${i}`)));
  const tree = new MerkleTree(leaves);
  const roots = Array.from({ length: N + 1 }, (_, size) => tree.root(size));

  it("inclusion: every (index, size) verifies; a flipped bit, a wrong size or a wrong index is rejected", () => {
    let checked = 0;
    for (let size = 1; size <= N; size++) {
      for (let index = 0; index < size; index++) {
        const proof = tree.inclusionProof(index, size);
        expect(inclusionProof(leaves, index, size)).toEqual(proof);
        expect(verifyInclusion(leaves[index], index, size, proof, roots[size]), `${index}/${size}`).toBe(true);
        // Each flipped bit: in the leaf, in the root, in every proof element.
        expect(verifyInclusion(flipBit(leaves[index], index), index, size, proof, roots[size])).toBe(false);
        expect(verifyInclusion(leaves[index], index, size, proof, flipBit(roots[size], size))).toBe(false);
        for (let p = 0; p < proof.length; p++) {
          const forged = proof.map((h, j) => (j === p ? flipBit(h, 7 * p + index) : h));
          expect(verifyInclusion(leaves[index], index, size, forged, roots[size])).toBe(false);
        }
        // Wrong size: against that size's root always; against the same root whenever the proof's
        // shape differs (the signed checkpoint binds size and root together, so a same-shape
        // size is not a way to forge anything).
        for (const other of [size - 1, size + 1]) {
          if (other >= 1 && other <= N && other > index) {
            expect(verifyInclusion(leaves[index], index, other, proof, roots[other]), `size ${other} for ${index}/${size}`).toBe(false);
            if (tree.inclusionProof(index, other).length !== proof.length) expect(verifyInclusion(leaves[index], index, other, proof, roots[size])).toBe(false);
          }
        }
        for (const other of [index - 1, index + 1]) {
          if (other >= 0 && other < size) expect(verifyInclusion(leaves[index], other, size, proof, roots[size]), `index ${other} for ${index}/${size}`).toBe(false);
        }
        // A truncated or extended proof.
        if (proof.length > 0) expect(verifyInclusion(leaves[index], index, size, proof.slice(0, -1), roots[size])).toBe(false);
        expect(verifyInclusion(leaves[index], index, size, [...proof, leaves[0]], roots[size])).toBe(false);
        checked++;
      }
    }
    expect(checked).toBe((N * (N + 1)) / 2);
  });

  it("consistency: every (m, n) verifies; a flipped bit or a wrong size is rejected", () => {
    let checked = 0;
    for (let n = 1; n <= N; n++) {
      for (let m = 1; m <= n; m++) {
        const proof = tree.consistencyProof(m, n);
        expect(consistencyProof(leaves, m, n)).toEqual(proof);
        expect(verifyConsistency(m, n, proof, roots[m], roots[n]), `${m}→${n}`).toBe(true);
        if (m === n) {
          expect(proof).toEqual([]);
          expect(verifyConsistency(m, n, proof, roots[m], flipBit(roots[n], m))).toBe(false);
        } else {
          expect(verifyConsistency(m, n, proof, flipBit(roots[m], m), roots[n])).toBe(false);
          expect(verifyConsistency(m, n, proof, roots[m], flipBit(roots[n], n))).toBe(false);
          for (let p = 0; p < proof.length; p++) {
            const forged = proof.map((h, j) => (j === p ? flipBit(h, 5 * p + m) : h));
            expect(verifyConsistency(m, n, forged, roots[m], roots[n]), `bit in proof[${p}] ${m}→${n}`).toBe(false);
          }
          for (const other of [m - 1, m + 1]) {
            if (other >= 1 && other < n) {
              expect(verifyConsistency(other, n, proof, roots[other], roots[n]), `size1 ${other} for ${m}→${n}`).toBe(false);
              if (tree.consistencyProof(other, n).length !== proof.length) expect(verifyConsistency(other, n, proof, roots[m], roots[n])).toBe(false);
            }
          }
          for (const other of [n - 1, n + 1]) {
            if (other > m && other <= N) {
              expect(verifyConsistency(m, other, proof, roots[m], roots[other]), `size2 ${other} for ${m}→${n}`).toBe(false);
              if (tree.consistencyProof(m, other).length !== proof.length) expect(verifyConsistency(m, other, proof, roots[m], roots[n])).toBe(false);
            }
          }
          expect(verifyConsistency(m, n, proof.slice(0, -1), roots[m], roots[n])).toBe(false);
          expect(verifyConsistency(m, n, [...proof, leaves[0]], roots[m], roots[n])).toBe(false);
          // A different history of the same sizes is not consistent.
          expect(verifyConsistency(m, n, proof, roots[m], rootHash([...leaves.slice(0, n - 1), leafHash(Buffer.from("other"))]))).toBe(false);
        }
        checked++;
      }
    }
    expect(checked).toBe((N * (N + 1)) / 2);
  });

  it("refuses to build proofs outside the tree", () => {
    expect(() => tree.inclusionProof(5, 5)).toThrow(RangeError);
    expect(() => tree.inclusionProof(0, N + 1)).toThrow(RangeError);
    expect(() => tree.consistencyProof(6, 5)).toThrow(RangeError);
    expect(() => tree.root(N + 1)).toThrow(RangeError);
    expect(() => new MerkleTree([Buffer.alloc(31)])).toThrow(RangeError);
  });
});
