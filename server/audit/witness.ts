/**
 * Client of a C2SP tlog-witness (https://c2sp.org/tlog-witness): POST <url>/add-checkpoint with
 *
 *     old <size the witness last saw>
 *     <base64 consistency proof line>…
 *     <blank line>
 *     <the signed checkpoint note>
 *
 * 200 answers the witness's cosignature line(s), verified here against its cosignature/v1 vkey;
 * 409 (text/x.tlog.size) answers the size the witness has, and the request is retried once from it.
 * Never throws: the outcome is returned, so a witness down never blocks signing.
 */
import { verifyCosignature } from "./note";
import { parseNote } from "./note";

export type WitnessOutcome =
  | { ok: true; cosignature: string; witnessNote: string; timestamp: number }
  | { ok: false; error: string; witnessSize?: number };

export interface WitnessRequest {
  url: string;
  witnessKey: string;
  note: string;
  oldSize: number;
  /** Consistency proof from oldSize to the checkpoint's size, for any old size the witness may ask. */
  proofFrom: (oldSize: number) => Buffer[] | null;
  timeoutMs?: number;
}

export function addCheckpointBody(oldSize: number, proof: Buffer[], note: string): string {
  return `old ${oldSize}\n${proof.map((p) => `${p.toString("base64")}\n`).join("")}\n${note}`;
}

async function post(url: string, body: string, timeoutMs: number) {
  const response = await fetch(new URL("add-checkpoint", url.endsWith("/") ? url : `${url}/`), {
    method: "POST",
    headers: { "content-type": "text/plain; charset=utf-8" },
    body,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = (await response.text()).slice(0, 10_000);
  return { status: response.status, contentType: response.headers.get("content-type") ?? "", text };
}

export async function submitToWitness(req: WitnessRequest): Promise<WitnessOutcome> {
  const timeoutMs = req.timeoutMs ?? 10_000;
  let oldSize = req.oldSize;
  for (let attempt = 0; attempt < 2; attempt++) {
    const proof = req.proofFrom(oldSize);
    if (!proof) return { ok: false, error: `the witness has size ${oldSize}, which this log cannot prove consistency from` };
    let res: Awaited<ReturnType<typeof post>>;
    try {
      res = await post(req.url, addCheckpointBody(oldSize, proof, req.note), timeoutMs);
    } catch (error) {
      const name = (error as Error).name;
      return { ok: false, error: name === "TimeoutError" ? `the witness did not answer within ${timeoutMs / 1000} s` : "the witness cannot be reached" };
    }
    if (res.status === 409 && attempt === 0) {
      const size = /^(0|[1-9][0-9]*)\n?$/.exec(res.text.trim());
      if (!size) return { ok: false, error: "the witness answered 409 without its size" };
      oldSize = Number(size[1]);
      continue;
    }
    if (res.status !== 200) return { ok: false, error: `the witness refused the checkpoint (HTTP ${res.status})` };
    const text = parseNote(req.note).text;
    const v = verifyCosignature(text, res.text, req.witnessKey);
    if (!v.ok) return { ok: false, error: v.error };
    return { ok: true, cosignature: v.line, witnessNote: `${req.note}${v.line}\n`, timestamp: v.timestamp };
  }
  return { ok: false, error: "the witness keeps a different size than this log" };
}
