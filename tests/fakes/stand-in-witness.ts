/**
 * A STAND-IN for a C2SP tlog-witness (https://c2sp.org/tlog-witness), for tests only: a real HTTP
 * server on loopback that serves POST /add-checkpoint the way a witness does — it checks the log's
 * signature against the one log key it knows, checks the consistency proof from the size it last
 * cosigned, answers 409 with its size when the client's "old" differs, and cosigns (cosignature/v1)
 * with its own Ed25519 key. It keeps its state in memory.
 */
import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { verifyConsistency } from "@/server/audit/merkle";
import { cosignCheckpoint, ed25519PrivateKeyFromSeed, ed25519PublicKeyBytes, parseCheckpointBody, SIG_COSIGNATURE_V1, verifierKeyString, verifyNote } from "@/server/audit/note";

export interface StandInWitness {
  url: string;
  /** The witness's cosignature/v1 vkey (AUDIT_WITNESS_KEY). */
  vkey: string;
  /** What it last cosigned, per origin. */
  state: Map<string, { size: number; root: Buffer }>;
  requests: number;
  close(): Promise<void>;
}

export async function startStandInWitness(opts: { logKey: string; name?: string }): Promise<StandInWitness> {
  const name = opts.name ?? "stand-in-witness.test";
  const key = ed25519PrivateKeyFromSeed(randomBytes(32));
  const vkey = verifierKeyString(name, ed25519PublicKeyBytes(key), SIG_COSIGNATURE_V1);
  const state = new Map<string, { size: number; root: Buffer }>();
  const witness: StandInWitness = { url: "", vkey, state, requests: 0, close: async () => {} };

  const server = http.createServer(async (req, res) => {
    const reply = (status: number, body: string, type = "text/plain; charset=utf-8") => res.writeHead(status, { "content-type": type }).end(body);
    if (req.method !== "POST" || req.url !== "/add-checkpoint") return reply(404, "not found\n");
    witness.requests++;
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    const blank = body.indexOf("\n\n");
    if (blank < 0) return reply(400, "no blank line\n");
    const [oldLine, ...proofLines] = body.slice(0, blank).split("\n");
    const note = body.slice(blank + 2);
    const old = /^old (0|[1-9][0-9]*)$/.exec(oldLine);
    if (!old) return reply(400, "bad old line\n");
    const verified = verifyNote(note, [opts.logKey]);
    if (!verified.ok) return reply(403, "unknown log key or bad signature\n");
    let cp: ReturnType<typeof parseCheckpointBody>;
    try {
      cp = parseCheckpointBody(verified.text);
    } catch {
      return reply(400, "bad checkpoint\n");
    }
    const known = state.get(cp.origin) ?? { size: 0, root: Buffer.alloc(0) };
    if (Number(old[1]) !== known.size) return reply(409, `${known.size}\n`, "text/x.tlog.size");
    if (cp.treeSize < known.size) return reply(400, "checkpoint older than the witness's\n");
    const root = Buffer.from(cp.rootHash, "hex");
    const proof = proofLines.map((l) => Buffer.from(l, "base64"));
    if (known.size > 0 && !verifyConsistency(known.size, cp.treeSize, proof, known.root, root)) return reply(422, "inconsistent\n");
    state.set(cp.origin, { size: cp.treeSize, root });
    return reply(200, `${cosignCheckpoint(verified.text, name, key, Math.floor(Date.now() / 1000))}\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  witness.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  witness.close = () => new Promise((resolve) => server.close(() => resolve()));
  return witness;
}
