/**
 * Compresses a spool batch's trace records (trace-sql.ts, `deflateTraces`) on a worker thread, so
 * that zlib's work leaves the gateway's event loop. At saturation that loop is what limits the
 * gateway (the machine still had a quarter of its two cores idle), and compression was 8–9 % of
 * its on-CPU time (perf, docs/gateway.md "Compression off the event loop"); at 500 req/s a batch's
 * compression slices held requests back by up to a millisecond each.
 *
 * One worker per process, started on first use and unref'd (it never keeps a process alive). A
 * batch crosses as one buffer in each direction, transferred, not copied: the records laid end to
 * end with their lengths, and back the compressed records end to end with theirs. The worker is
 * plain JavaScript given as source (`eval`), so it needs no TypeScript loader wherever the gateway
 * runs (tsx in production, Vitest in tests).
 *
 * If the worker cannot start, fails or exits, its pending batches are compressed on the event loop
 * instead (the caller's fallback), and the next batch starts a new worker: a batch is never lost to
 * it, and a worker that keeps failing costs only its restarts.
 */
import { Worker } from "node:worker_threads";
import type { ZlibOptions } from "node:zlib";

/** zlib's settings for a record (trace-sql.ts passes the ones compressTraceRecord uses). */
export type DeflateSettings = Pick<ZlibOptions, "level" | "windowBits">;

const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { deflateSync } = require("node:zlib");
parentPort.on("message", ({ id, input, lengths }) => {
  try {
    const bytes = Buffer.from(input);
    const parts = new Array(lengths.length);
    const out = new Uint32Array(lengths.length);
    let offset = 0, total = 0;
    for (let i = 0; i < lengths.length; i++) {
      parts[i] = deflateSync(bytes.subarray(offset, offset + lengths[i]), workerData);
      out[i] = parts[i].length;
      offset += lengths[i];
      total += parts[i].length;
    }
    const joined = new Uint8Array(new ArrayBuffer(total));
    let at = 0;
    for (const p of parts) { joined.set(p, at); at += p.length; }
    parentPort.postMessage({ id, output: joined.buffer, lengths: out }, [joined.buffer, out.buffer]);
  } catch (error) {
    parentPort.postMessage({ id, error: String(error) });
  }
});
`;

interface Pending {
  resolve: (records: Buffer[]) => void;
  reject: (error: Error) => void;
}

export class DeflatePool {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  /** Workers started (the first, then one after each failure): for tests and diagnosis. */
  started = 0;

  constructor(private readonly settings: DeflateSettings) {}

  private ensure(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: this.settings });
    this.started++;
    worker.unref();
    worker.on("message", (m: { id: number; output?: ArrayBuffer; lengths?: Uint32Array; error?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.error !== undefined || !m.output || !m.lengths) return p.reject(new Error(`trace compression failed: ${m.error ?? "no output"}`));
      const all = Buffer.from(m.output);
      const records = new Array<Buffer>(m.lengths.length);
      let at = 0;
      for (let i = 0; i < m.lengths.length; i++) {
        records[i] = all.subarray(at, at + m.lengths[i]);
        at += m.lengths[i];
      }
      p.resolve(records);
    });
    const fail = (error: Error) => {
      if (this.worker !== worker) return;
      this.worker = null;
      for (const p of this.pending.values()) p.reject(error);
      this.pending.clear();
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`trace compression worker exited (${code})`)));
    this.worker = worker;
    return worker;
  }

  /**
   * The records compressed, in order. Rejects when the worker fails (the caller compresses them
   * itself then). `records` are read at once: the caller may reuse them after the call returns.
   */
  deflate(records: Buffer[]): Promise<Buffer[]> {
    if (records.length === 0) return Promise.resolve([]);
    let total = 0;
    for (const r of records) total += r.length;
    // A buffer of its own (never a slice of Node's shared pool), so it can be transferred.
    const input = new Uint8Array(new ArrayBuffer(total));
    const lengths = new Uint32Array(records.length);
    let at = 0;
    for (let i = 0; i < records.length; i++) {
      input.set(records[i], at);
      lengths[i] = records[i].length;
      at += records[i].length;
    }
    return new Promise<Buffer[]>((resolve, reject) => {
      let worker: Worker;
      try {
        worker = this.ensure();
      } catch (error) {
        return reject(error instanceof Error ? error : new Error(String(error)));
      }
      const id = ++this.nextId;
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, input: input.buffer, lengths }, [input.buffer, lengths.buffer]);
    });
  }

  /** Stops the worker (pending batches are rejected, so their callers compress them themselves). */
  async close() {
    const worker = this.worker;
    if (!worker) return;
    await worker.terminate();
  }
}
