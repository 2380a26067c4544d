/**
 * The usage spool on its own, against the real PostgreSQL through a TCP proxy the test can cut:
 * during a long outage records stay on disk (memory stays bounded), segments rotate, and everything
 * lands once the database is reachable again; spools of dead processes are claimed and replayed,
 * those of live ones are left alone.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "@/server/db";
import { UsageSpool, type UsageEntry } from "@/server/gateway/spool";
import { usageRecordId } from "@/server/gateway/usage-sql";
import { createTenant, unique, type Tenant } from "../helpers";

let tenant: Tenant;
let root: string;

beforeAll(async () => {
  tenant = await createTenant("spool");
  root = mkdtempSync(path.join(os.tmpdir(), "enclave-spool-"));
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A TCP proxy to PostgreSQL: cut() drops every connection and refuses new ones until restore(). */
async function startProxy(targetPort: number) {
  const sockets = new Set<net.Socket>();
  let up = true;
  const server = net.createServer((client) => {
    if (!up) return client.destroy();
    const upstream = net.connect(targetPort, "127.0.0.1");
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    for (const s of [client, upstream]) {
      s.on("error", close);
      s.on("close", close);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    cut() {
      up = false;
      for (const s of sockets) s.destroy();
    },
    restore() {
      up = true;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function entry(tag: string, i: number): UsageEntry {
  return {
    requestId: `${tag}-${i}`,
    orgId: tenant.org.id,
    apiKeyId: tenant.apiKey.id,
    deploymentId: tenant.deployment.id,
    endpoint: "/v1/chat/completions",
    tokensIn: 3,
    tokensOut: 5,
    latencyMs: 1.5,
    ttftMs: 0.5,
    status: 200,
    costMicroEur: 0,
    at: Date.now(),
  };
}

/** The "UsageRecord" ids of entry(tag, 0…n-1). */
const recordIds = (tag: string, n: number) => Array.from({ length: n }, (_, i) => usageRecordId(`${tag}-${i}`));

const spoolBytes = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith(".jsonl"))
    .reduce((n, f) => n + statSync(path.join(dir, f)).size, 0);

const quiet = () => {};

describe("the usage spool during a long database outage", () => {
  it("keeps records on disk beyond its memory bound, rotates segments, and delivers everything afterwards", async () => {
    const url = new URL(process.env.DATABASE_URL!);
    const proxy = await startProxy(Number(url.port));
    url.host = `127.0.0.1:${proxy.port}`;
    const pool = new pg.Pool({ connectionString: url.toString(), max: 2, connectionTimeoutMillis: 1000 });
    pool.on("error", quiet);
    const dir = path.join(root, "outage");
    const spool = new UsageSpool({ dir, pool, batchMs: 50, batchSize: 50, log: quiet, segmentBytes: 16 * 1024, maxQueued: 100 });
    await spool.open();
    const tag = unique("outage");
    try {
      proxy.cut();
      for (let i = 0; i < 1000; i++) spool.append(entry(tag, i));
      // Memory holds at most maxQueued records; the rest are only in the files, all of them there.
      expect(spool.pending).toBeLessThanOrEqual(100);
      // …and what is not yet in PostgreSQL counts both (the metrics' figure): none is forgotten.
      expect(spool.unsent).toBe(1000);
      const lines = readdirSync(dir)
        .filter((f) => f.endsWith(".jsonl"))
        .flatMap((f) => readFileSync(path.join(dir, f), "utf8").split("\n").filter(Boolean));
      // A line is {"usage":…,"trace":…,"content":…} (spool.ts).
      expect(new Set(lines.map((l) => (JSON.parse(l) as { usage: UsageEntry }).usage.requestId)).size).toBe(1000);
      expect(spool.segmentCount).toBeGreaterThan(5);
      await new Promise((r) => setTimeout(r, 300)); // a few failed batches
      expect(await db.usageRecord.count({ where: { id: { in: recordIds(tag, 1000) } } })).toBe(0);

      proxy.restore();
      expect(await spool.drain(30_000)).toBe(true);
      expect(await db.usageRecord.count({ where: { id: { in: recordIds(tag, 1000) } } })).toBe(1000);
      expect(spool.unsent).toBe(0);
      // Committed segments are deleted, the active one emptied.
      expect(spoolBytes(dir)).toBe(0);
    } finally {
      await spool.close();
      await pool.end();
      await proxy.close();
    }
  });
});

describe("spools left by other processes", () => {
  it("replays a dead process's directory and removes it, and leaves a live one alone", async () => {
    const parent = path.join(root, "siblings");
    const write = (name: string, owner: object, tag: string, n: number) => {
      const dir = path.join(parent, name);
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, "owner"), JSON.stringify(owner));
      writeFileSync(path.join(dir, "usage-x-000001.jsonl"), Array.from({ length: n }, (_, i) => JSON.stringify(entry(tag, i))).join("\n") + "\n" + '{"requestId":"torn');
      return dir;
    };
    const deadTag = unique("dead");
    const liveTag = unique("live");
    // A pid that is not running (the kernel's pid_max is far below it), on this host.
    write("gw-dead", { pid: 2 ** 30, start: "1", host: os.hostname() }, deadTag, 7);
    const live = write("gw-live", { pid: process.pid, start: readFileSync(`/proc/${process.pid}/stat`, "utf8").split(") ")[1].split(" ")[19], host: os.hostname() }, liveTag, 3);

    const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 2 });
    const spool = new UsageSpool({ dir: path.join(parent, "gw-new"), pool, batchMs: 50, batchSize: 50, log: quiet });
    await spool.open();
    try {
      expect(await spool.drain(10_000)).toBe(true);
      expect(await db.usageRecord.count({ where: { id: { in: recordIds(deadTag, 7) } } })).toBe(7);
      expect(await db.usageRecord.count({ where: { id: { in: recordIds(liveTag, 3) } } })).toBe(0);
      expect(readdirSync(parent).sort()).toEqual(["gw-live", "gw-new"]);
      expect(readdirSync(live)).toContain("usage-x-000001.jsonl");
    } finally {
      await spool.close();
      await pool.end();
    }
    // A clean close leaves nothing behind.
    expect(readdirSync(parent)).toEqual(["gw-live"]);
  });
});
