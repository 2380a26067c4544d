/**
 * Diagnosis only (`BENCH_PROBE=1 npm run bench`): preloaded into the gateway process
 * (`node --import tsx --import ./scripts/lib/gateway-probe.ts server/gateway/main.ts`), it records a
 * timeline of what could stall the gateway's event loop, in wall-clock milliseconds so that the
 * benchmark can line it up with its slowest requests:
 *
 * - `loop`: the event-loop delay (perf_hooks.monitorEventLoopDelay, 1 ms resolution) per 100 ms
 *   window: its max and mean;
 * - `gc`: every garbage collection (PerformanceObserver "gc"): start, duration, kind;
 * - `queries`: every PostgreSQL query the gateway sends (pg.Client.prototype.query): start, the
 *   synchronous time of the call (serialising its parameters), when its answer arrived, its first words;
 * - `spans`: the full refresh (GatewayState.fullRefresh) and the spool's batches (UsageSpool.flush):
 *   start and end.
 *
 * BENCH_PROBE_DISABLE (comma-separated) turns one suspect off, to measure without it:
 * `refresh` (no periodic full reload after the first), `spool` (no batch INSERT until SIGTERM;
 * the records stay spooled and are flushed at shutdown), `poll` (no one-second change poll),
 * `traces` (usage records are spooled without their trace), `stringparams` (the trace INSERT's
 * parameter built from strings, as before). Without BENCH_PROBE=1 nothing is
 * recorded (no event-loop monitor): the probe only turns suspects off.
 *
 * BENCH_PROBE_TOGGLE (same names): SIGUSR2 flips them, for paired runs with and without.
 *
 * Written to BENCH_PROBE_OUT as JSON when the process exits.
 */
import { monitorEventLoopDelay, PerformanceObserver, type PerformanceEntry } from "node:perf_hooks";
import { writeFileSync } from "node:fs";
import http from "node:http";
import pg from "pg";
import { GatewayState } from "../../server/gateway/state";
import { UsageSpool, type SpoolItem } from "../../server/gateway/spool";
import { traceJsonOf } from "../../server/gateway/trace-sql";

const out = process.env.BENCH_PROBE_OUT;
const disabled = new Set((process.env.BENCH_PROBE_DISABLE ?? "").split(",").filter(Boolean));
const epoch = () => performance.timeOrigin + performance.now();

/** [end of the 100 ms window, max delay, mean delay, CPU ms this process used in the window]. */
const loop: [number, number, number, number][] = [];
/** Requests whose x-request-id is the benchmark's 12 digits: [id, arrival in onRequest, response handed to the kernel]. */
const requests: [number, number, number][] = [];
const gc: [number, number, number][] = [];
const queries: [number, number, number, string][] = [];
const spans: [string, number, number][] = [];

// Recording only with BENCH_PROBE=1; BENCH_PROBE_DISABLE alone just turns suspects off.
const recording = process.env.BENCH_PROBE === "1";
const histogram = monitorEventLoopDelay({ resolution: 1 });
if (recording) histogram.enable();
let cpuBefore = process.cpuUsage();
const sampler = setInterval(() => {
  const cpu = process.cpuUsage(cpuBefore);
  cpuBefore = process.cpuUsage();
  if (histogram.count > 0) loop.push([epoch(), histogram.max / 1e6, histogram.mean / 1e6, (cpu.user + cpu.system) / 1000]);
  histogram.reset();
}, 100);
sampler.unref();
if (!recording) clearInterval(sampler);

if (recording) new PerformanceObserver((list) => {
  for (const e of list.getEntries() as (PerformanceEntry & { detail?: { kind?: number } })[]) {
    gc.push([performance.timeOrigin + e.startTime, e.duration, e.detail?.kind ?? 0]);
  }
}).observe({ entryTypes: ["gc"] });

// Each benchmark request's arrival and end, in the gateway's own clock (a listener before the gateway's).
const originalCreateServer = http.createServer;
(http as unknown as { createServer: (...a: unknown[]) => http.Server }).createServer = (...args: unknown[]) => {
  const server = (originalCreateServer as (...a: unknown[]) => http.Server)(...args);
  server.prependListener("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    const id = recording ? req.headers["x-request-id"] : undefined;
    if (typeof id !== "string" || !/^\d{12}$/.test(id)) return;
    const entry: [number, number, number] = [Number(id), epoch(), 0];
    requests.push(entry);
    res.once("finish", () => (entry[2] = epoch()));
  });
  return server;
};

// Every query, callback or promise style.
type QueryFn = (...args: unknown[]) => unknown;
const originalQuery = pg.Client.prototype.query as unknown as QueryFn;
(pg.Client.prototype as unknown as { query: QueryFn }).query = function (this: unknown, ...args: unknown[]) {
  const first = args[0] as string | { text?: string } | undefined;
  const text = typeof first === "string" ? first : (first?.text ?? "");
  const head = text.replace(/\s+/g, " ").trim().slice(0, 48);
  if (!recording) return originalQuery.apply(this, args);
  const t0 = epoch();
  const entry: [number, number, number, string] = [t0, 0, 0, head];
  queries.push(entry);
  const last = args[args.length - 1];
  if (typeof last === "function") {
    args[args.length - 1] = (...r: unknown[]) => {
      entry[2] = epoch();
      return (last as QueryFn)(...r);
    };
  }
  const result = originalQuery.apply(this, args);
  entry[1] = epoch() - t0;
  if (result && typeof (result as Promise<unknown>).then === "function") {
    (result as Promise<unknown>).then(
      () => (entry[2] ||= epoch()),
      () => (entry[2] ||= epoch()),
    );
  }
  return result;
};

function span<T extends object>(proto: T, method: string, name: string, off: () => boolean) {
  const original = (proto as Record<string, QueryFn>)[method];
  (proto as Record<string, QueryFn>)[method] = function (this: unknown, ...args: unknown[]) {
    if (off()) return Promise.resolve();
    const t0 = epoch();
    const result = original.apply(this, args) as Promise<unknown>;
    const end = () => spans.push([name, t0, epoch()]);
    if (result && typeof result.then === "function") result.then(end, end);
    else end();
    return result;
  };
}

let refreshes = 0;
let stopping = false;
process.once("SIGTERM", () => (stopping = true));
span(GatewayState.prototype, "fullRefresh", "fullRefresh", () => refreshes++ > 0 && disabled.has("refresh"));
const spools = new Set<UsageSpool>();
// One spooled line's arguments, as a sample of what a request costs to record.
let sample: unknown = null;
const originalAppend = UsageSpool.prototype.append;
UsageSpool.prototype.append = function (this: UsageSpool, ...args: Parameters<UsageSpool["append"]>) {
  if (recording && sample === null && args[1]) sample = { usage: args[0], trace: JSON.parse(JSON.stringify(args[1])) };
  // `traces`: the usage record alone, as before traces existed (what the traces cost).
  if (disabled.has("traces")) return originalAppend.call(this, args[0], null, null);
  return originalAppend.apply(this, args);
};
const originalOpen = UsageSpool.prototype.open;
UsageSpool.prototype.open = function (this: UsageSpool) {
  spools.add(this);
  return originalOpen.call(this);
};
span(UsageSpool.prototype, "flush", "spoolFlush", () => disabled.has("spool") && !stopping);
// `stringparams`: the trace INSERT's parameter built from the trace strings (as before it was built
// from the spooled lines' bytes), to measure what that costs the event loop.
const proto = UsageSpool.prototype as unknown as { enqueue(item: SpoolItem, ...rest: unknown[]): void };
const originalEnqueue = proto.enqueue;
proto.enqueue = function (this: unknown, item: SpoolItem, ...rest: unknown[]) {
  if (disabled.has("stringparams") && item.line) {
    item.trace = traceJsonOf(item);
    item.line = undefined;
  }
  return originalEnqueue.call(this, item, ...rest);
};
const originalPoll = (GatewayState.prototype as unknown as Record<string, QueryFn>).pollFingerprint;
(GatewayState.prototype as unknown as Record<string, QueryFn>).pollFingerprint = function (this: unknown, ...args: unknown[]) {
  return disabled.has("poll") ? Promise.resolve() : originalPoll.apply(this, args);
};

// SIGUSR2 flips the suspects named in BENCH_PROBE_TOGGLE (paired runs with and without, under the same noise).
const toggles = (process.env.BENCH_PROBE_TOGGLE ?? "").split(",").filter(Boolean);
process.on("SIGUSR2", () => {
  for (const t of toggles) if (!disabled.delete(t)) disabled.add(t);
  if (!disabled.has("spool")) for (const s of spools) void (s as unknown as { flush(): Promise<void> }).flush();
  process.stdout.write(`${JSON.stringify({ message: "probe toggled", disabled: [...disabled] })}\n`);
});

process.on("exit", () => {
  if (out && recording) writeFileSync(out, JSON.stringify({ disabled: [...disabled], loop, gc, queries, spans, requests, sample }));
});
