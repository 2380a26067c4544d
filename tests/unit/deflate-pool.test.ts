/**
 * The worker that compresses spooled traces (server/gateway/deflate-pool.ts, used by
 * `deflateTraces` in trace-sql.ts): each record comes back as its own zlib stream, in order and
 * byte for byte the same as compressing it here; a batch whose worker dies is still compressed
 * (here), and the next batch gets a new worker.
 */
import { randomBytes } from "node:crypto";
import { inflateSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { DeflatePool } from "@/server/gateway/deflate-pool";
import { compressTraceRecord, deflateTraces, TRACE_IN_LINE } from "@/server/gateway/trace-sql";
import type { SpoolItem } from "@/server/gateway/spool";

const records = [
  JSON.stringify({ traceId: "a".repeat(32), spans: Array.from({ length: 9 }, (_, i) => ({ name: `span ${i}`, attributes: { "zürich — 東京": i } })) }),
  "{}",
  // Incompressible bytes: the output is larger than the input.
  randomBytes(5000).toString("base64"),
  JSON.stringify({ model: "x".repeat(70_000) }),
].map((s) => Buffer.from(s));

const pools: DeflatePool[] = [];
afterAll(async () => {
  for (const p of pools) await p.close();
});

describe("DeflatePool", () => {
  it("gives every record back compressed on its own, in order, as compressTraceRecord would", async () => {
    const pool = new DeflatePool({ level: 1, windowBits: 12 });
    pools.push(pool);
    const out = await pool.deflate(records);
    expect(out).toHaveLength(records.length);
    for (let i = 0; i < records.length; i++) {
      expect(inflateSync(out[i]).equals(records[i])).toBe(true);
      expect(out[i].equals(compressTraceRecord(records[i]))).toBe(true);
    }
    // Two batches in flight at once each get their own answer.
    const [a, b] = await Promise.all([pool.deflate(records.slice(0, 2)), pool.deflate(records.slice(2))]);
    expect(a.map((r) => inflateSync(r).toString())).toEqual(records.slice(0, 2).map(String));
    expect(b.map((r) => inflateSync(r).toString())).toEqual(records.slice(2).map(String));
    expect(pool.started).toBe(1);
    expect(await pool.deflate([])).toEqual([]);
  });

  it("rejects the batches of a worker that stops, and starts a new one for the next batch", async () => {
    const pool = new DeflatePool({ level: 1, windowBits: 12 });
    pools.push(pool);
    await pool.deflate(records.slice(0, 1));
    const inFlight = pool.deflate(records);
    await pool.close();
    await expect(inFlight).rejects.toThrow(/exited/);
    const again = await pool.deflate(records.slice(1, 2));
    expect(inflateSync(again[0]).equals(records[1])).toBe(true);
    expect(pool.started).toBe(2);
  });
});

describe("deflateTraces", () => {
  const items: SpoolItem[] = records.map((r) => ({ usage: null, trace: r.toString(), content: null }));

  it("compresses the same on the worker and on the event loop", async () => {
    const onWorker = await deflateTraces(items, { where: "worker" });
    const inline = await deflateTraces(items, { where: "inline" });
    expect(onWorker.map((b) => b.toString("base64"))).toEqual(inline.map((b) => b.toString("base64")));
    expect(inline.map((b) => inflateSync(b).toString())).toEqual(records.map(String));
  });

  it("compresses a batch on the event loop when the worker fails, and says why", async () => {
    // Settings zlib refuses: the worker answers with an error for every batch.
    const broken = new DeflatePool({ level: 99, windowBits: 12 });
    pools.push(broken);
    const errors: unknown[] = [];
    const out = await deflateTraces(items, { pool: broken, onWorkerError: (e) => errors.push(e) });
    expect(out.map((b) => inflateSync(b).toString())).toEqual(records.map(String));
    expect(errors).toHaveLength(1);
    expect(String(errors[0])).toMatch(/trace compression failed/);
  });

  it("takes a record's bytes from its spool line when only the line holds it", async () => {
    const trace = records[0].toString();
    const line = Buffer.from(`{"usage":null,"trace":${trace},"content":null}\n`);
    const item: SpoolItem = { usage: null, trace: TRACE_IN_LINE, content: null, line, traceAt: [22, Buffer.byteLength(trace)], contentAt: null };
    const [out] = await deflateTraces([item]);
    expect(inflateSync(out).toString()).toBe(trace);
  });
});
