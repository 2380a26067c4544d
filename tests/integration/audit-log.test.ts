import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditLeafHash, auditEventHash } from "@/server/audit/event-hash";
import { installationSigner, verifierKey } from "@/server/audit/keys";
import { checkLatestCheckpointRoot, consistencyProofFor, createCheckpoint, inclusionProofs, lastWitnessed, latestCheckpoint, loadAuditBundle } from "@/server/audit/log";
import { rootHash, verifyConsistency, verifyInclusion } from "@/server/audit/merkle";
import { parseNote, verifyCheckpointNote, verifyCosignature } from "@/server/audit/note";
import { usageHourDigest } from "@/server/audit/usage-digest";
import { verifyAuditBundle } from "@/server/audit/verify";
import { db } from "@/server/db";
import { recordAudit, systemActor, verifyAuditChain } from "@/server/services/audit";
import { signAuditCheckpoints } from "@/workers/jobs/sign-audit-checkpoints";
import { sealUsageHours } from "@/workers/jobs/seal-usage-hours";
import { verifyAllAuditChains } from "@/workers/jobs/verify-audit-chains";
import { startStandInWitness, type StandInWitness } from "../fakes/stand-in-witness";
import { createTenant, unique, type Tenant } from "../helpers";
import { call, issueKey, startRestServer, type RestServer } from "../rest-fixtures";

const hex = (h: string) => Buffer.from(h, "hex");
const SAVED = ["AUDIT_SIGNING_KEY", "AUDIT_LOG_ORIGIN", "AUDIT_WITNESS_URL", "AUDIT_WITNESS_KEY"].map((k) => [k, process.env[k]] as const);

async function freshChain(events: number) {
  const orgId = (await db.organization.create({ data: { name: "audit log", slug: unique("auditlog") } })).id;
  await addEvents(orgId, events);
  return orgId;
}

async function addEvents(orgId: string, n: number) {
  for (let i = 0; i < n; i++) {
    await db.$transaction((tx) => recordAudit(tx, systemActor("test"), { orgId, action: "test.event", targetType: "Thing", targetId: `t${i}`, after: { n: i, nested: { z: 1, a: [i] } } }));
  }
}

/** The root recomputed independently of log.ts: from the rows, with merkle.ts only. */
async function rootFromRows(chain: string, size: number) {
  const rows = await db.auditEvent.findMany({ where: { chain, seq: { lte: size } }, orderBy: { seq: "asc" }, select: { hash: true } });
  return rootHash(rows.map((r) => auditLeafHash(r.hash))).toString("hex");
}

function setWitness(w: { url: string; vkey: string } | null) {
  if (w) {
    process.env.AUDIT_WITNESS_URL = w.url;
    process.env.AUDIT_WITNESS_KEY = w.vkey;
  } else {
    delete process.env.AUDIT_WITNESS_URL;
    delete process.env.AUDIT_WITNESS_KEY;
  }
}

beforeAll(() => {
  process.env.AUDIT_SIGNING_KEY = Buffer.alloc(32, 42).toString("base64");
  process.env.AUDIT_LOG_ORIGIN = "audit-log.test.example";
  setWitness(null);
});
afterAll(() => {
  for (const [k, v] of SAVED) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

describe("the verifiable audit log", () => {
  it("signs a checkpoint whose proofs verify with merkle.ts, and a later one consistent with it", async () => {
    const chain = await freshChain(10);
    const vkey = await verifierKey();
    expect(vkey).toMatch(/^audit-log\.test\.example\+[0-9a-f]{8}\+/);
    const first = (await createCheckpoint(chain))!;
    expect(first).toMatchObject({ chain, treeSize: 10, origin: `audit-log.test.example/audit/${chain}` });
    expect(first.rootHash).toBe(await rootFromRows(chain, 10));
    expect(verifyCheckpointNote(first.note, [vkey])).toMatchObject({ ok: true, body: { treeSize: 10, rootHash: first.rootHash } });

    const proofs = await inclusionProofs(chain, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const events = await db.auditEvent.findMany({ where: { chain }, orderBy: { seq: "asc" } });
    for (const p of proofs) {
      expect(p.leafHash).toBe(auditLeafHash(events[p.leafIndex].hash).toString("hex"));
      expect(verifyInclusion(hex(p.leafHash), p.leafIndex, 10, p.path.map(hex), hex(first.rootHash)), `seq ${p.leafIndex + 1}`).toBe(true);
    }

    // Not grown: the same checkpoint comes back, nothing new is signed.
    expect((await createCheckpoint(chain))!.note).toBe(first.note);
    expect(await db.auditCheckpoint.count({ where: { chain } })).toBe(1);

    await addEvents(chain, 7);
    const second = (await createCheckpoint(chain))!;
    expect(second.treeSize).toBe(17);
    const consistency = await consistencyProofFor(chain, 10, 17);
    expect(verifyConsistency(10, 17, consistency.path.map(hex), hex(first.rootHash), hex(second.rootHash))).toBe(true);
    // Proofs under the earlier checkpoint still verify against its root.
    const [old] = await inclusionProofs(chain, [4], 10);
    expect(verifyInclusion(hex(old.leafHash), 3, 10, old.path.map(hex), hex(first.rootHash))).toBe(true);

    const bundle = await loadAuditBundle(chain);
    expect(bundle.checkpoints.map((c) => c.treeSize)).toEqual([10, 17]);
    expect(verifyAuditBundle(bundle, { trustedKeys: [vkey] })).toMatchObject({ ok: true, events: 17, verifiedTreeSize: 17, problems: [] });
  });

  it("signs each size once when two signers race", async () => {
    const chain = await freshChain(5);
    const [a, b] = await Promise.all([createCheckpoint(chain), createCheckpoint(chain)]);
    expect(a!.note).toBe(b!.note);
    expect(await db.auditCheckpoint.count({ where: { chain } })).toBe(1);
  });

  it("the worker signs every chain that grew, and only those", async () => {
    const grown = await freshChain(3);
    const run = await signAuditCheckpoints();
    expect(run.signed).toContainEqual({ chain: grown, treeSize: 3, witnessed: false });
    const again = await signAuditCheckpoints();
    expect(again.signed.map((s) => s.chain)).not.toContain(grown);
  });

  it("refuses proofs beyond the tree with a precise error", async () => {
    const chain = await freshChain(4);
    await createCheckpoint(chain);
    await expect(inclusionProofs(chain, [5])).rejects.toThrow("event #5 is not in the tree of size 4");
    await expect(inclusionProofs(chain, [1], 9)).rejects.toThrow("treeSize 9 is beyond the latest checkpoint (size 4)");
    await expect(consistencyProofFor(chain, 3, 2)).rejects.toThrow("size2 (2) must be at least size1 (3)");
    await expect(consistencyProofFor(chain, 1, 5)).rejects.toThrow("size2 5 is beyond the latest checkpoint (size 4)");
  });

  it("detects an edited event row by the chain verification, and a re-hashed rewrite by the root check", async () => {
    const chain = await freshChain(8);
    await createCheckpoint(chain);
    expect(await checkLatestCheckpointRoot(chain)).toEqual({ ok: true, chain, treeSize: 8 });

    // A plain edit: the event's hash no longer matches its content.
    const original = await db.auditEvent.findUniqueOrThrow({ where: { chain_seq: { chain, seq: 3 } } });
    await db.auditEvent.update({ where: { id: original.id }, data: { after: { n: 999 } } });
    expect(await verifyAuditChain(db, chain)).toMatchObject({ ok: false, brokenAtSeq: 3 });

    // A forger with database access recomputes that hash, every later one and the head: the hash
    // chain verifies again, but the events no longer give the signed root.
    const rows = await db.auditEvent.findMany({ where: { chain }, orderBy: { seq: "asc" } });
    let prev = rows[1].hash;
    for (const row of rows.slice(2)) {
      const hash = auditEventHash({ ...row, prevHash: prev, before: row.before ?? null, after: row.after ?? null });
      await db.auditEvent.update({ where: { id: row.id }, data: { prevHash: prev, hash } });
      prev = hash;
    }
    await db.auditChainHead.update({ where: { chain }, data: { hash: prev } });
    expect(await verifyAuditChain(db, chain)).toMatchObject({ ok: true });
    expect(await checkLatestCheckpointRoot(chain)).toMatchObject({ ok: false, treeSize: 8, reason: expect.stringContaining("root") });
    const hourly = await verifyAllAuditChains();
    expect(hourly.find((r) => r.chain === chain)).toMatchObject({ ok: false, brokenAtSeq: 8 });
    // And the installation refuses to sign over the rewrite.
    await addEvents(chain, 1);
    await expect(createCheckpoint(chain)).rejects.toThrow("no longer matches its checkpoint of size 8");
    // The offline verifier sees it too.
    const report = verifyAuditBundle(await loadAuditBundle(chain), { trustedKeys: [await verifierKey()] });
    expect(report.problems).toContainEqual(expect.objectContaining({ kind: "checkpoint-root", treeSize: 8 }));
  });
});

describe("witness", () => {
  let witness: StandInWitness;
  beforeAll(async () => {
    witness = await startStandInWitness({ logKey: await verifierKey() });
  });
  afterAll(async () => {
    setWitness(null);
    await witness.close();
  });

  it("gets each new checkpoint cosigned, with the consistency proof from the size it saw", async () => {
    setWitness(witness);
    const chain = await freshChain(6);
    const first = (await createCheckpoint(chain))!;
    expect(first.witnessError).toBeNull();
    expect(first.witnessedAt).not.toBeNull();
    expect(verifyCosignature(parseNote(first.note).text, first.witnessCosignature!, witness.vkey)).toMatchObject({ ok: true });
    expect(verifyCheckpointNote(first.witnessNote!, [await verifierKey()]).ok).toBe(true);

    await addEvents(chain, 5);
    const second = (await createCheckpoint(chain))!;
    expect(second.witnessedAt).not.toBeNull();
    expect(witness.state.get(second.origin)).toMatchObject({ size: 11 });
    expect((await lastWitnessed(chain))!.treeSize).toBe(11);
  });

  it("catches up from the witness's own size when it differs (409)", async () => {
    setWitness(witness);
    const chain = await freshChain(3);
    await createCheckpoint(chain);
    // The witness forgets: its size (0) is not what the log last saw witnessed (3).
    witness.state.delete((await latestCheckpoint(chain))!.origin);
    await addEvents(chain, 2);
    const cp = (await createCheckpoint(chain))!;
    expect(cp).toMatchObject({ treeSize: 5, witnessError: null });
    expect(cp.witnessedAt).not.toBeNull();
  });

  it("records a failure without blocking signing: wrong witness key, witness down", async () => {
    const chain = await freshChain(2);
    const other = await startStandInWitness({ logKey: await verifierKey(), name: "other-witness.test" });
    setWitness({ url: witness.url, vkey: other.vkey });
    const cp = (await createCheckpoint(chain))!;
    expect(cp.treeSize).toBe(2);
    expect(cp.witnessedAt).toBeNull();
    expect(cp.witnessError).toBe("no cosignature by the witness key");
    await other.close();

    setWitness({ url: other.url, vkey: other.vkey });
    await addEvents(chain, 1);
    const down = (await createCheckpoint(chain))!;
    expect(down).toMatchObject({ treeSize: 3, witnessedAt: null, witnessError: "the witness cannot be reached" });
    expect(await lastWitnessed(chain)).toBeNull();
  });

  it("a witness that does not know the log key refuses, and the refusal is recorded", async () => {
    const stranger = await startStandInWitness({ logKey: (await installationSigner()).verifierKey.replace(/\+[0-9a-f]{8}\+/, "+00000000+") });
    setWitness(stranger);
    const cp = (await createCheckpoint(await freshChain(1)))!;
    expect(cp).toMatchObject({ treeSize: 1, witnessError: "the witness refused the checkpoint (HTTP 403)" });
    await stranger.close();
  });
});

describe("usage hours", () => {
  const HOUR = 3_600_000;
  const hourStart = new Date(Math.floor(Date.now() / HOUR) * HOUR - 3 * HOUR);

  async function usage(orgId: string, at: Date, n: number) {
    for (let i = 0; i < n; i++) {
      await db.usageRecord.create({ data: { orgId, createdAt: new Date(at.getTime() + i * 1000), endpoint: "/v1/chat/completions", tokensIn: 10 + i, tokensOut: 20, latencyMs: 12.3, status: 200, costMicroEur: 42, guardrails: [1, 9] } });
    }
  }
  const sealEvents = (orgId: string) => db.auditEvent.findMany({ where: { chain: orgId, action: { startsWith: "usage.hour." } }, orderBy: { seq: "asc" } });

  it("seals each closed hour once, even with two workers at the same time, with a digest anyone can recompute", async () => {
    const orgId = (await db.organization.create({ data: { name: "usage seal", slug: unique("seal") } })).id;
    await usage(orgId, new Date(hourStart.getTime() + 60_000), 5);
    await usage(orgId, new Date(hourStart.getTime() + HOUR + 60_000), 2);
    // The current hour is not closed: its records wait.
    await usage(orgId, new Date(), 1);
    const [r1, r2] = await Promise.all([sealUsageHours({ orgId }), sealUsageHours({ orgId })]);
    expect(r1.sealed + r2.sealed).toBe(2);
    const events = await sealEvents(orgId);
    expect(events.map((e) => [e.action, e.targetType, (e.after as { records: number }).records])).toEqual([
      ["usage.hour.sealed", "UsageHour", 5],
      ["usage.hour.sealed", "UsageHour", 2],
    ]);
    const rows = await db.usageRecord.findMany({ where: { orgId, createdAt: { gte: hourStart, lt: new Date(hourStart.getTime() + HOUR) } } });
    expect(events[0].after).toEqual({ hour: hourStart.toISOString(), records: 5, digest: usageHourDigest([...rows].reverse()) });
    expect(await verifyAuditChain(db, orgId)).toMatchObject({ ok: true });
    expect(await sealUsageHours({ orgId })).toEqual({ sealed: 0, amended: 0 });
  });

  it("adds an amendment when records of a sealed hour arrive late", async () => {
    const orgId = (await db.organization.create({ data: { name: "usage amend", slug: unique("amend") } })).id;
    await usage(orgId, new Date(hourStart.getTime() + 60_000), 3);
    await sealUsageHours({ orgId });
    const sealed = (await sealEvents(orgId))[0].after as { digest: string };
    await usage(orgId, new Date(hourStart.getTime() + 30 * 60_000), 1);
    expect(await sealUsageHours({ orgId })).toEqual({ sealed: 0, amended: 1 });
    const [, amended] = await sealEvents(orgId);
    expect(amended.action).toBe("usage.hour.amended");
    expect(amended.before).toEqual({ hour: hourStart.toISOString(), records: 3, digest: sealed.digest });
    expect(amended.after).toMatchObject({ hour: hourStart.toISOString(), records: 4 });
    expect((amended.after as { digest: string }).digest).not.toBe(sealed.digest);
    expect(await sealUsageHours({ orgId })).toEqual({ sealed: 0, amended: 0 });
  });
});

describe("over REST", () => {
  let server: RestServer;
  let t: Tenant;
  let key: string;
  let readKey: string;
  beforeAll(async () => {
    server = await startRestServer();
    t = await createTenant("audit-rest");
    key = (await issueKey(t.org.id, t.ownerId, ["read", "manage"])).key;
    readKey = (await issueKey(t.org.id, t.ownerId, ["read"], "read key")).key;
  });
  afterAll(() => server.close());

  it("serves the checkpoint, proofs that verify with merkle.ts, and precise 4xx", async () => {
    const signed = await call(server, "POST", `/orgs/${t.org.id}/audit/checkpoints`, { auth: key, body: {} });
    expect(signed.status).toBe(200);
    const size = signed.body.treeSize as number;
    const vkey = (await call(server, "GET", "/audit/verifier-key", { auth: key })).body.verifierKey;
    expect(vkey).toBe(await verifierKey());
    expect(verifyCheckpointNote(signed.body.note, [vkey]).ok).toBe(true);

    const status = await call(server, "GET", `/orgs/${t.org.id}/audit/checkpoint`, { auth: readKey });
    expect(status.status).toBe(200);
    expect(status.body.latest).toMatchObject({ treeSize: size, rootHash: signed.body.rootHash });

    const proof = await call(server, "GET", `/orgs/${t.org.id}/audit-events/1/proof`, { auth: key });
    expect(proof.status).toBe(200);
    expect(proof.body.checkpoint.treeSize).toBe(size);
    expect(verifyInclusion(hex(proof.body.leafHash), 0, size, proof.body.path.map(hex), hex(signed.body.rootHash))).toBe(true);
    expect(proof.body.leafHash).toBe(auditLeafHash(proof.body.eventHash).toString("hex"));

    // A later checkpoint, consistent with the first.
    await call(server, "POST", `/orgs/${t.org.id}/audit/checkpoints`, { auth: key, body: {} });
    const later = (await call(server, "GET", `/orgs/${t.org.id}/audit/checkpoint`, { auth: key })).body.latest;
    expect(later.treeSize).toBeGreaterThan(size);
    const consistency = await call(server, "GET", `/orgs/${t.org.id}/audit/consistency?size1=${size}&size2=${later.treeSize}`, { auth: key });
    expect(consistency.status).toBe(200);
    expect(verifyConsistency(size, later.treeSize, consistency.body.path.map(hex), hex(signed.body.rootHash), hex(later.rootHash))).toBe(true);

    const list = await call(server, "GET", `/orgs/${t.org.id}/audit/checkpoints?limit=1`, { auth: key });
    expect(list.body.items.map((c: { treeSize: number }) => c.treeSize)).toEqual([later.treeSize]);
    const next = await call(server, "GET", `/orgs/${t.org.id}/audit/checkpoints?limit=1&cursor=${list.body.nextCursor}`, { auth: key });
    expect(next.body.items.map((c: { treeSize: number }) => c.treeSize)).toEqual([size]);

    const beyond = await call(server, "GET", `/orgs/${t.org.id}/audit-events/${later.treeSize + 1}/proof`, { auth: key });
    expect(beyond.status).toBe(400);
    expect(JSON.stringify(beyond.body)).toContain(`is not in the tree of size ${later.treeSize}`);
    const reversed = await call(server, "GET", `/orgs/${t.org.id}/audit/consistency?size1=3&size2=2`, { auth: key });
    expect(reversed.status).toBe(400);
    expect(JSON.stringify(reversed.body)).toContain("size2 (2) must be at least size1 (3)");
    const tooBig = await call(server, "GET", `/orgs/${t.org.id}/audit/consistency?size1=1&size2=${later.treeSize + 5}`, { auth: key });
    expect(tooBig.status).toBe(400);
    expect(JSON.stringify(tooBig.body)).toContain("beyond the latest checkpoint");
    const notANumber = await call(server, "GET", `/orgs/${t.org.id}/audit-events/abc/proof`, { auth: key });
    expect(notANumber.status).toBe(400);
    // Proofs are for admins: a read key acts as a viewer.
    expect((await call(server, "GET", `/orgs/${t.org.id}/audit-events/1/proof`, { auth: readKey })).status).toBe(403);
  });
});

describe("the installation key", () => {
  it("comes from AUDIT_SIGNING_KEY, else AUDIT_SIGNING_KEY_FILE, and is never created at a configured path", async () => {
    const { mkdtempSync, writeFileSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const path = await import("node:path");
    const dir = mkdtempSync(path.join(tmpdir(), "audit-key-"));
    const file = path.join(dir, "seed");
    writeFileSync(file, `${Buffer.alloc(32, 5).toString("base64")}\n`);
    const fromEnv = await verifierKey();
    const saved = process.env.AUDIT_SIGNING_KEY;
    try {
      delete process.env.AUDIT_SIGNING_KEY;
      process.env.AUDIT_SIGNING_KEY_FILE = file;
      const fromFile = await verifierKey();
      expect(fromFile).not.toBe(fromEnv);
      expect(fromFile).toMatch(/^audit-log\.test\.example\+[0-9a-f]{8}\+/);
      process.env.AUDIT_SIGNING_KEY_FILE = path.join(dir, "missing");
      await expect(verifierKey()).rejects.toThrow(/cannot read the audit signing key/);
    } finally {
      process.env.AUDIT_SIGNING_KEY = saved;
      delete process.env.AUDIT_SIGNING_KEY_FILE;
    }
    expect(await verifierKey()).toBe(fromEnv);
  });
});
