import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { exportedEventHash, GENESIS_HASH } from "../../server/audit/event-hash";
import { cosignCheckpoint, ed25519PrivateKeyFromSeed, ed25519PublicKeyBytes, noteSignerFromSeed, parseNote, signCheckpoint, verifierKeyString, verifyCheckpointNote, verifyCosignature, verifyNote, SIG_COSIGNATURE_V1 } from "../../server/audit/note";
import { MerkleTree, toHex } from "../../server/audit/merkle";
import { auditLeafHash } from "../../server/audit/event-hash";
import type { AuditBundle, AuditProblem, ExportedAuditEvent } from "../../server/audit/types";
import { auditBundleFiles, bundleProofs, readAuditBundleFiles, verifyAuditBundle } from "../../server/audit/verify";

const CHAIN = "org_test_chain";
const signer = noteSignerFromSeed("audit.test.example", Buffer.alloc(32, 7));
const otherSigner = noteSignerFromSeed("audit.test.example", Buffer.alloc(32, 9));
const trusted = { trustedKeys: [signer.verifierKey] };

/** A chain of events linked and hashed as recordAudit does it. */
function buildEvents(n: number, from: ExportedAuditEvent[] = [], label = "x"): ExportedAuditEvent[] {
  const events = [...from];
  for (let i = events.length; i < n; i++) events.push(rehash({ ...baseEvent(i + 1, label), prevHash: events[i - 1]?.hash ?? GENESIS_HASH }));
  return events;
}

function baseEvent(seq: number, label: string): ExportedAuditEvent {
  return {
    chain: CHAIN, seq, orgId: CHAIN, actorType: "USER", actorId: "user_1", actorLabel: "ada@example.test", action: seq % 3 ? "deployment.create" : "member.invite",
    targetType: "Deployment", targetId: `dep_${label}_${seq}`, before: null, after: { replicas: seq, nested: { b: 1, a: [1, 2] } }, ip: "203.0.113.7", requestId: `req_${seq}`,
    createdAt: new Date(Date.UTC(2026, 11, 2, 7, 0, seq)).toISOString(), prevHash: "", hash: "",
  };
}

const rehash = (e: ExportedAuditEvent): ExportedAuditEvent => ({ ...e, hash: exportedEventHash(e) });

/** Re-links and re-hashes every event from `from` on, as a forger with database access would. */
function relink(events: ExportedAuditEvent[]): ExportedAuditEvent[] {
  const out: ExportedAuditEvent[] = [];
  events.forEach((e, i) => out.push(rehash({ ...e, seq: i + 1, prevHash: out[i - 1]?.hash ?? GENESIS_HASH })));
  return out;
}

function rootOf(events: ExportedAuditEvent[], size: number) {
  return toHex(new MerkleTree(events.map((e) => auditLeafHash(e.hash))).root(size));
}

function buildBundle(events: ExportedAuditEvent[], sizes: number[], by = signer): AuditBundle {
  const checkpoints = sizes.map((s, i) => signCheckpoint(by, CHAIN, s, rootOf(events, s), new Date(Date.UTC(2026, 11, 2, 8, i))));
  return { chain: CHAIN, events: [...events], checkpoints, ...bundleProofs(events, checkpoints), verifierKeys: [by.verifierKey] };
}

const kinds = (problems: AuditProblem[]) => [...new Set(problems.map((p) => p.kind))].sort();
const EVENTS = buildEvents(25);
const SIZES = [7, 16, 25];

describe("verifyAuditBundle", () => {
  it("passes an untampered bundle, checking every event, checkpoint and proof", () => {
    const bundle = buildBundle(EVENTS, SIZES);
    expect(bundle.inclusionProofs).toHaveLength(25);
    expect(bundle.consistencyProofs.map((p) => [p.size1, p.size2])).toEqual([[7, 16], [16, 25]]);
    const report = verifyAuditBundle(bundle, trusted);
    expect(report).toEqual({ ok: true, chain: CHAIN, events: 25, checkpoints: 3, verifiedTreeSize: 25, problems: [] });
  });

  it("passes a log whose tail is not checkpointed yet", () => {
    const report = verifyAuditBundle(buildBundle(buildEvents(30, EVENTS), SIZES), trusted);
    expect(report.ok).toBe(true);
    expect(report.verifiedTreeSize).toBe(25);
  });

  it("detects an edited event", () => {
    const bundle = buildBundle(EVENTS, SIZES);
    bundle.events[9] = { ...bundle.events[9], action: "deployment.delete" };
    const report = verifyAuditBundle(bundle, trusted);
    expect(report.ok).toBe(false);
    expect(report.problems).toContainEqual(expect.objectContaining({ kind: "event-hash", seq: 10 }));
  });

  it("detects an edited event whose hash and successors were recomputed (the signed root differs)", () => {
    const tampered = relink(EVENTS.map((e, i) => (i === 9 ? { ...e, after: { replicas: 0 } } : e)));
    const bundle = { ...buildBundle(EVENTS, SIZES), events: tampered };
    const report = verifyAuditBundle(bundle, trusted);
    expect(report.ok).toBe(false);
    expect(kinds(report.problems)).toContain("checkpoint-root");
    expect(report.problems.filter((p) => p.kind === "checkpoint-root").map((p) => p.treeSize)).toEqual([16, 25]);
  });

  it("detects a deleted event", () => {
    const bundle = buildBundle(EVENTS, SIZES);
    bundle.events.splice(4, 1);
    const report = verifyAuditBundle(bundle, trusted);
    expect(report.ok).toBe(false);
    expect(report.problems).toContainEqual(expect.objectContaining({ kind: "sequence-gap", seq: 5 }));
  });

  it("detects reordered events", () => {
    const bundle = buildBundle(EVENTS, SIZES);
    [bundle.events[3], bundle.events[4]] = [bundle.events[4], bundle.events[3]];
    const report = verifyAuditBundle(bundle, trusted);
    expect(report.ok).toBe(false);
    expect(report.problems).toContainEqual(expect.objectContaining({ kind: "sequence-gap", seq: 4 }));
  });

  it("detects reordered events renumbered and re-hashed by a forger", () => {
    const swapped = [...EVENTS];
    [swapped[3], swapped[4]] = [swapped[4], swapped[3]];
    const report = verifyAuditBundle({ ...buildBundle(EVENTS, SIZES), events: relink(swapped) }, trusted);
    expect(report.ok).toBe(false);
    expect(kinds(report.problems)).toEqual(["checkpoint-root", "inclusion"]);
  });

  it("detects an inserted event", () => {
    const bundle = buildBundle(EVENTS, SIZES);
    const forged = rehash({ ...baseEvent(6, "forged"), prevHash: bundle.events[4].hash });
    bundle.events.splice(5, 0, forged);
    const report = verifyAuditBundle(bundle, trusted);
    expect(report.ok).toBe(false);
    expect(report.problems).toContainEqual(expect.objectContaining({ kind: "sequence-gap", seq: 7 }));
    expect(report.problems).toContainEqual(expect.objectContaining({ kind: "prev-hash", seq: 6 }));
  });

  it("detects an inserted event with the rest renumbered and re-hashed (the signed roots differ)", () => {
    const inserted = [...EVENTS.slice(0, 5), baseEvent(6, "forged"), ...EVENTS.slice(5)];
    const report = verifyAuditBundle({ ...buildBundle(EVENTS, SIZES), events: relink(inserted) }, trusted);
    expect(report.ok).toBe(false);
    expect(report.problems.filter((p) => p.kind === "checkpoint-root").map((p) => p.treeSize)).toEqual([7, 16, 25]);
  });

  it("detects a truncated log", () => {
    const bundle = buildBundle(EVENTS, SIZES);
    bundle.events = bundle.events.slice(0, 20);
    const report = verifyAuditBundle(bundle, trusted);
    expect(report.ok).toBe(false);
    expect(report.problems).toContainEqual(expect.objectContaining({ kind: "truncated", treeSize: 25 }));
    expect(report.verifiedTreeSize).toBe(16);
  });

  it("detects a fork: two different histories validly signed for the same size", () => {
    const bundle = buildBundle(EVENTS, SIZES);
    const other = buildEvents(25, EVENTS.slice(0, 20), "fork");
    bundle.checkpoints.push(signCheckpoint(signer, CHAIN, 25, rootOf(other, 25), new Date(Date.UTC(2026, 11, 2, 9))));
    const report = verifyAuditBundle(bundle, trusted);
    expect(report.ok).toBe(false);
    expect(report.problems).toContainEqual(expect.objectContaining({ kind: "fork", treeSize: 25 }));
    // The other history verifies on its own: only the two signed side by side are a fork.
    expect(verifyAuditBundle(buildBundle(other, SIZES), trusted).ok).toBe(true);
  });

  it("rejects a forged inclusion proof", () => {
    const bundle = buildBundle(EVENTS, SIZES);
    const p = bundle.inclusionProofs[11];
    bundle.inclusionProofs[11] = { ...p, path: [p.path[0].replace(/^./, (c) => (c === "0" ? "1" : "0")), ...p.path.slice(1)] };
    const report = verifyAuditBundle(bundle, trusted);
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([expect.objectContaining({ kind: "inclusion", seq: 12 })]);
  });

  it("rejects an inclusion proof of a leaf that is not in the log", () => {
    const bundle = buildBundle(EVENTS, SIZES);
    const stranger = auditLeafHash(rehash({ ...baseEvent(3, "stranger"), prevHash: EVENTS[1].hash }).hash);
    bundle.inclusionProofs[2] = { ...bundle.inclusionProofs[2], leafHash: toHex(stranger) };
    const report = verifyAuditBundle(bundle, trusted);
    expect(report.problems).toEqual([expect.objectContaining({ kind: "inclusion", seq: 3 })]);
  });

  it("rejects a forged consistency proof", () => {
    const bundle = buildBundle(EVENTS, SIZES);
    const p = bundle.consistencyProofs[1];
    bundle.consistencyProofs[1] = { ...p, path: p.path.map((h, i) => (i === p.path.length - 1 ? h.replace(/.$/, (c) => (c === "a" ? "b" : "a")) : h)) };
    const report = verifyAuditBundle(bundle, trusted);
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([expect.objectContaining({ kind: "consistency", treeSize: 25 })]);
  });

  it("rejects a missing consistency proof between successive checkpoints", () => {
    const bundle = buildBundle(EVENTS, SIZES);
    bundle.consistencyProofs.splice(0, 1);
    expect(verifyAuditBundle(bundle, trusted).problems).toEqual([expect.objectContaining({ kind: "consistency", treeSize: 16 })]);
  });

  it("rejects checkpoints signed by an untrusted key (even when the bundle lists that key)", () => {
    const bundle = buildBundle(EVENTS, SIZES, otherSigner);
    const report = verifyAuditBundle(bundle, trusted);
    expect(report.ok).toBe(false);
    expect(report.problems.filter((p) => p.kind === "signature")).toHaveLength(3);
    expect(report.verifiedTreeSize).toBeNull();
  });

  it("rejects an edited note (size, root or time changed after signing)", () => {
    for (const edit of [
      (note: string) => note.replace("\n25\n", "\n24\n"),
      (note: string) => note.replace(/\n([A-Za-z0-9+/]{43}=)\n/, (_m, root: string) => `\n${root.startsWith("A") ? "B" : "A"}${root.slice(1)}\n`),
      (note: string) => note.replace("time 2026-12-02T08:02:00.000Z", "time 2026-12-02T08:03:00.000Z"),
    ]) {
      const bundle = buildBundle(EVENTS, SIZES);
      const edited = edit(bundle.checkpoints[2].note);
      expect(edited).not.toBe(bundle.checkpoints[2].note);
      bundle.checkpoints[2] = { ...bundle.checkpoints[2], note: edited };
      const report = verifyAuditBundle(bundle, trusted);
      expect(report.ok).toBe(false);
      expect(report.problems).toContainEqual(expect.objectContaining({ kind: "signature" }));
    }
  });

  it("rejects checkpoint fields that differ from the signed note", () => {
    const bundle = buildBundle(EVENTS, SIZES);
    bundle.checkpoints[0] = { ...bundle.checkpoints[0], rootHash: bundle.checkpoints[1].rootHash };
    expect(kinds(verifyAuditBundle(bundle, trusted).problems)).toEqual(["format"]);
  });
});

describe("the archive's audit part", () => {
  it("round-trips through files, byte for byte", () => {
    const bundle = buildBundle(EVENTS, SIZES);
    const files = auditBundleFiles(bundle);
    expect(files.map((f) => f.path)).toEqual(["audit/events.jsonl", "audit/checkpoints.jsonl", "audit/proofs.json", "audit/verifier-keys.txt"]);
    const read = readAuditBundleFiles(new Map(files.map((f) => [f.path, f.content])));
    expect(read).toEqual(bundle);
    expect(auditBundleFiles(read)).toEqual(files);
    expect(verifyAuditBundle(read, trusted).ok).toBe(true);
  });

  it("names the file at fault when malformed", () => {
    const files = new Map(auditBundleFiles(buildBundle(EVENTS, SIZES)).map((f) => [f.path, f.content]));
    files.set("audit/events.jsonl", `${files.get("audit/events.jsonl")}{not json\n`);
    expect(() => readAuditBundleFiles(files)).toThrow(/audit\/events.jsonl line 26/);
    files.set("audit/events.jsonl", "");
    files.delete("audit/proofs.json");
    expect(() => readAuditBundleFiles(files)).toThrow(/audit\/proofs.json/);
  });
});

describe("signed notes", () => {
  it("carry the C2SP key id, vkey and signature line", () => {
    const cp = signCheckpoint(signer, CHAIN, 25, rootOf(EVENTS, 25), new Date("2026-12-02T07:00:00.000Z"));
    const [text, sigs] = cp.note.split("\n\n");
    expect(text.split("\n")).toEqual([`audit.test.example/audit/${CHAIN}`, "25", Buffer.from(cp.rootHash, "hex").toString("base64"), "time 2026-12-02T07:00:00.000Z"]);
    expect(sigs).toMatch(/^\u2014 audit\.test\.example [A-Za-z0-9+/]+=*\n$/);
    expect(signer.verifierKey).toMatch(/^audit\.test\.example\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}$/);
    expect(verifyCheckpointNote(cp.note, [signer.verifierKey])).toMatchObject({ ok: true, body: { treeSize: 25, rootHash: cp.rootHash, time: cp.time } });
  });

  it("reject unknown keys, bad signatures and malformed notes", () => {
    const cp = signCheckpoint(signer, CHAIN, 3, rootOf(EVENTS, 3), new Date());
    expect(verifyNote(cp.note, [otherSigner.verifierKey]).ok).toBe(false);
    expect(verifyNote(cp.note, []).ok).toBe(false);
    const sigStart = cp.note.lastIndexOf(" ") + 1;
    const badSig = `${cp.note.slice(0, sigStart + 10)}${cp.note[sigStart + 10] === "A" ? "B" : "A"}${cp.note.slice(sigStart + 11)}`;
    expect(verifyNote(badSig, [signer.verifierKey]).ok).toBe(false);
    for (const malformed of ["", "no signatures\n", cp.note.replace("\n\n", "\n"), cp.note.replace("\u2014", "-"), cp.note.trimEnd(), `${cp.note}garbage\n`]) {
      expect(verifyNote(malformed, [signer.verifierKey]).ok, JSON.stringify(malformed.slice(-30))).toBe(false);
    }
    // A vkey whose id does not match its key trusts nothing.
    const [name, , ...rest] = signer.verifierKey.split("+");
    const key = rest.join("+");
    expect(verifyNote(cp.note, [`${name}+00000000+${key}`]).ok).toBe(false);
  });

  it("accept a cosigned note against the installation key, and the cosignature against the witness key", () => {
    const cp = signCheckpoint(signer, CHAIN, 3, rootOf(EVENTS, 3), new Date());
    const witnessKey = ed25519PrivateKeyFromSeed(randomBytes(32));
    const witnessVkey = verifierKeyString("witness.test", ed25519PublicKeyBytes(witnessKey), SIG_COSIGNATURE_V1);
    const line = cosignCheckpoint(parseNote(cp.note).text, "witness.test", witnessKey, 1_780_000_000);
    const cosigned = `${cp.note}${line}\n`;
    expect(verifyNote(cosigned, [signer.verifierKey]).ok).toBe(true);
    expect(verifyCosignature(parseNote(cosigned).text, line, witnessVkey)).toMatchObject({ ok: true, timestamp: 1_780_000_000 });
    const other = signCheckpoint(signer, CHAIN, 4, rootOf(EVENTS, 4), new Date());
    expect(verifyCosignature(parseNote(other.note).text, line, witnessVkey).ok).toBe(false);
  });
});
