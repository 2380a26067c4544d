/**
 * GATEWAY_WORKERS=2: server/gateway/main.ts as a primary forking two gateway processes on one port
 * (server/gateway/cluster.ts). Both serve; /metrics, whichever worker answers it, counts every
 * request of both; a worker SIGKILLed under load is restarted and loses no usage record or trace
 * (its successor replays the same spool directory); SIGTERM stops them all; a worker that cannot
 * start stops the gateway with exit code 1, as a single process does.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "@/server/db";
import { usageRecordId } from "@/server/gateway/usage-sql";
import { createApiKey } from "../deployment-fixtures";
import { loadUntilStopped, postChat, registerDeployment, spawnGateway, startFastUpstream, waitFor, type FakeUpstream, type GatewayProcess } from "../gateway-fixtures";
import { createTenant, type Tenant } from "../helpers";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
let spoolRoot: string;
let tenant: Tenant;
let upstream: FakeUpstream;
let deploymentName: string;
let gateway: GatewayProcess;

/** The "gateway worker listening" lines so far: worker index → pids, in order. */
function workerPids(g: GatewayProcess): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const line of g.logs.join("").split("\n")) {
    if (!line.includes('"message":"gateway worker listening"')) continue;
    const { worker, pid } = JSON.parse(line) as { worker: number; pid: number };
    out.set(worker, [...(out.get(worker) ?? []), pid]);
  }
  return out;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Sums a counter's samples in a Prometheus exposition whose labels contain `match`. */
function sample(text: string, name: string, match: string): number {
  let total = 0;
  for (const line of text.split("\n")) if (line.startsWith(`${name}{`) && line.includes(match)) total += Number(line.slice(line.lastIndexOf(" ") + 1));
  return total;
}

beforeAll(async () => {
  spoolRoot = mkdtempSync(path.join(os.tmpdir(), "enclave-gateway-cluster-"));
  tenant = await createTenant("gateway-cluster");
  upstream = await startFastUpstream();
  deploymentName = (await registerDeployment(tenant, [upstream.url])).name;
  // Batches every 2 s: a kill lands while answered requests are still only in the spool.
  gateway = await spawnGateway({ spoolDir: path.join(spoolRoot, "gw"), env: { GATEWAY_WORKERS: "2", GATEWAY_SPOOL_BATCH_MS: "2000" } });
});

afterAll(async () => {
  await gateway?.kill();
  for (const pids of gateway ? workerPids(gateway).values() : []) for (const pid of pids) if (alive(pid)) process.kill(pid, "SIGKILL");
  await upstream?.close();
  rmSync(spoolRoot, { recursive: true, force: true });
});

describe("a gateway with two workers", () => {
  it("serves from both processes, each spooling to its own directory", async () => {
    const pids = workerPids(gateway);
    expect([...pids.keys()].sort()).toEqual([1, 2]);
    expect(new Set([...pids.values()].flat()).size).toBe(2);
    expect(existsSync(path.join(spoolRoot, "gw-w1", "owner"))).toBe(true);
    expect(existsSync(path.join(spoolRoot, "gw-w2", "owner"))).toBe(true);
    // Started as it ships (spawnGateway passes GATEWAY_NODE_FLAGS): no warning about them.
    expect(gateway.logs.join("")).not.toContain("started without its node flags");

    const { key } = await createApiKey(tenant.org.id, tenant.ownerId);
    // Request ids start with a per-process prefix: two prefixes, two processes answering.
    const prefixes = new Set<string>();
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let i = 0; i < 10; i++) {
          const r = await postChat(gateway.url, key, deploymentName);
          expect(r.status).toBe(200);
          prefixes.add(r.headers.get("x-request-id")!.replace(/_[^_]*$/, ""));
        }
      }),
    );
    expect(prefixes.size).toBe(2);
  });

  it("answers /metrics with the sum of both workers, whichever one the scrape reaches", async () => {
    const { key } = await createApiKey(tenant.org.id, tenant.ownerId);
    const deployment = await db.deployment.findFirstOrThrow({ where: { orgId: tenant.org.id, name: deploymentName }, select: { id: true } });
    const scrape = async () => {
      const res = await fetch(`${gateway.url}/metrics`, { headers: { connection: "close" } });
      expect(res.status).toBe(200);
      return sample(await res.text(), "enclave_gateway_requests_total", `deployment="${deployment.id}",status="200"`);
    };
    const before = await scrape();
    const sent = 120;
    await Promise.all(
      Array.from({ length: 12 }, async () => {
        for (let i = 0; i < sent / 12; i++) expect((await postChat(gateway.url, key, deploymentName)).status).toBe(200);
      }),
    );
    // New connections are dealt round-robin: several scrapes reach both workers, and each sees all.
    for (let i = 0; i < 4; i++) expect((await scrape()) - before).toBe(sent);
  });

  it("restarts a worker SIGKILLed under load, and loses no usage record or trace of an answered request", async () => {
    const { key, row } = await createApiKey(tenant.org.id, tenant.ownerId);
    const load = loadUntilStopped(gateway.url, key, deploymentName);
    const { answered, answeredSpans } = load;
    await waitFor(() => answered.length >= 300, 20_000, 5);
    const victim = workerPids(gateway).get(1)!.at(-1)!;
    process.kill(victim, "SIGKILL");
    // The primary forks a new worker 1, which listens again; the other one served meanwhile.
    await waitFor(() => (workerPids(gateway).get(1) ?? []).length === 2, 30_000, 50);
    const atRestart = answered.length;
    await waitFor(() => answered.length >= atRestart + 200, 20_000, 5);
    await load.stop();
    // Every call got an answer or a closed connection, none was left waiting: with node:cluster's
    // round-robin, a connection in the primary's hand-off to the dying worker hung (cluster.ts).
    expect(load.hung).toEqual([]);
    expect(alive(victim)).toBe(false);
    expect(gateway.logs.join("")).toContain("a gateway worker died; restarting it");

    await waitFor(async () => {
      const ids = new Set((await db.usageRecord.findMany({ where: { apiKeyId: row.id }, select: { id: true } })).map((r) => r.id));
      return answered.every((id) => ids.has(usageRecordId(id)));
    }, 30_000, 100);
    const rows = await db.usageRecord.count({ where: { apiKeyId: row.id } });
    // Only requests cut off by the kill may have a record without a response.
    expect(rows - answered.length).toBeGreaterThanOrEqual(0);
    expect(rows - answered.length).toBeLessThanOrEqual(16);
    const traced = new Set((await db.trace.findMany({ where: { apiKeyId: row.id }, select: { spanId: true } })).map((t) => t.spanId));
    expect(answeredSpans.filter((s) => !traced.has(s))).toEqual([]);
  });

  it("stops every worker on SIGTERM and exits 0", async () => {
    const pids = [...workerPids(gateway).values()].map((list) => list.at(-1)!);
    expect(pids.every(alive)).toBe(true);
    const exited = new Promise<number | null>((resolve) => gateway.child.once("exit", (code) => resolve(code)));
    gateway.child.kill("SIGTERM");
    expect(await exited).toBe(0);
    await waitFor(() => !pids.some(alive), 5000);
  });
});

describe("a worker that cannot start", () => {
  it("stops the gateway with exit code 1 and says why", async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const port = (taken.address() as net.AddressInfo).port;
    try {
      const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "server", "gateway", "main.ts")], {
        cwd: ROOT,
        env: { ...process.env, GATEWAY_WORKERS: "2", GATEWAY_PORT: String(port), GATEWAY_HOST: "127.0.0.1", GATEWAY_SPOOL_DIR: path.join(spoolRoot, "taken") },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      child.stdout.on("data", (d) => (output += String(d)));
      child.stderr.on("data", (d) => (output += String(d)));
      const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
      expect(code).toBe(1);
      expect(output).toContain("EADDRINUSE");
      expect(output).toContain("a gateway worker failed to start; stopping");
      // Spawned without GATEWAY_NODE_FLAGS: the primary says so.
      expect(output).toContain("gateway started without its node flags");
      expect(output).not.toContain('"message":"gateway listening"');
    } finally {
      taken.close();
    }
  });

  it("refuses a worker count that is not a whole number from 1 to 64", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "server", "gateway", "main.ts")], {
      cwd: ROOT,
      env: { ...process.env, GATEWAY_WORKERS: "0" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stderr.on("data", (d) => (output += String(d)));
    expect(await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)))).toBe(1);
    expect(output).toContain('GATEWAY_WORKERS: GATEWAY_WORKERS must be a whole number from 1 to 64, or "auto"');
  });
});
