/**
 * One gateway on several event loops: with `GATEWAY_WORKERS` above 1, main.ts becomes a small
 * primary process that forks that many gateway processes (node:cluster) on the same port. Each
 * worker is a whole gateway — its own spool directory (`<spool dir>-w<index>`), its own database
 * pool, limit leases and caches — exactly as separate gateway processes already are (the spool,
 * the limits and the hard budget were built for several processes). The primary serves nothing and
 * accepts no connection: the workers accept from the one listening socket they share
 * (SCHED_NONE, below). It restarts a worker that dies (the new one replays
 * its predecessor's spool, so a crash loses no record), and aggregates the workers' metrics so that
 * `GET /metrics`, answered by whichever worker the scrape reaches, covers the whole gateway.
 *
 * Why: one event loop tops out well before two cores do (docs/gateway.md, "Several event loops").
 *
 * Why not node:cluster's default, round-robin from the primary: the primary accepts each
 * connection and passes it to a worker, and closes its own copy only when the worker acknowledges
 * it (lib/internal/cluster/round_robin_handle.js). A connection in that hand-off when the worker
 * dies is never acknowledged and never closed: its client waits for an answer forever, and the
 * primary keeps the socket. With SCHED_NONE a worker's connections are its own, and its death closes
 * them (the client sees a reset, as when a single gateway dies). Found by the kill-under-load test.
 */
import cluster, { type Worker } from "node:cluster";
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue } from "prom-client";

type Log = (level: "info" | "warn" | "error", message: string, fields?: Record<string, unknown>) => void;
type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/** Messages between the primary and its workers (all carry `enclave`, so prom-client's own pass by). */
type WorkerMessage =
  | { enclave: "listening"; url: string }
  | { enclave: "metrics-request"; id: number }
  | { enclave: "metrics-json"; id: number; metrics?: MetricsJson; error?: string };
type PrimaryMessage = { enclave: "metrics-collect"; id: number } | { enclave: "metrics-text"; id: number; text?: string; error?: string };

/** How long the primary waits for every worker's metrics before answering the scrape with an error. */
const COLLECT_TIMEOUT_MS = 3000;
/** A worker that lived shorter than this and died counts as a crash loop: the restart waits longer. */
const HEALTHY_MS = 30_000;
/** Workers asked to stop and still running after this are killed (what they spooled is on disk). */
const STOP_GRACE_MS = 30_000;

export function workerSpoolDir(base: string, index: number): string {
  return `${base}-w${index}`;
}

export function isGatewayWorker(): boolean {
  return cluster.isWorker;
}

/**
 * Runs the primary: forks `workers` gateway processes, each with GATEWAY_SPOOL_DIR set to its own
 * directory. Resolves once every worker listens (rejects if one fails before it ever listened, as a
 * single gateway's start failure does).
 */
export function runPrimary(options: { workers: number; spoolBase: string; log: Log }): Promise<string> {
  const { log } = options;
  // Before the first fork: the workers accept connections themselves (see the comment at the top).
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  const exit = (code: number) => process.exit(code);
  const byIndex = new Map<number, Worker>();
  const listening = new Set<Worker>();
  const everListened = new Set<number>();
  const restarts = new Map<number, number>();
  let stopping = false;
  /** 0 once stopped by a signal; 1 when a worker failed to start. */
  let exitCode = 0;
  let started = false;
  let resolveStarted!: (url: string) => void;
  let rejectStarted!: (error: Error) => void;
  const ready = new Promise<string>((resolve, reject) => {
    resolveStarted = resolve;
    rejectStarted = reject;
  });

  const collecting = new Map<number, { waiting: Set<Worker>; parts: MetricsJson[]; reply: (message: PrimaryMessage) => void; timer: NodeJS.Timeout }>();
  let collectSeq = 0;

  function finishCollect(id: number, error?: string) {
    const c = collecting.get(id);
    if (!c) return;
    collecting.delete(id);
    clearTimeout(c.timer);
    if (error) return c.reply({ enclave: "metrics-text", id, error });
    AggregatorRegistry.aggregate(c.parts)
      .metrics()
      .then(
        (text) => c.reply({ enclave: "metrics-text", id, text }),
        (e: unknown) => c.reply({ enclave: "metrics-text", id, error: e instanceof Error ? e.message : String(e) }),
      );
  }

  function fork(index: number) {
    const startedAt = Date.now();
    const worker = cluster.fork({ GATEWAY_SPOOL_DIR: workerSpoolDir(options.spoolBase, index), GATEWAY_WORKER_INDEX: String(index) });
    byIndex.set(index, worker);
    worker.on("message", (message: WorkerMessage) => {
      if (!message || typeof message !== "object" || !("enclave" in message)) return;
      if (message.enclave === "listening") {
        listening.add(worker);
        everListened.add(index);
        if (listening.size === options.workers && !started) {
          started = true;
          resolveStarted(message.url);
        }
      } else if (message.enclave === "metrics-request") {
        // A scrape reached this worker: gather every listening worker's registry, answer it the sum.
        const id = ++collectSeq;
        const reply = (m: PrimaryMessage) => {
          if (worker.isConnected()) worker.send({ ...m, id: message.id });
        };
        const waiting = new Set([...listening].filter((w) => w.isConnected()));
        const timer = setTimeout(() => finishCollect(id, `a gateway worker did not send its metrics within ${COLLECT_TIMEOUT_MS} ms`), COLLECT_TIMEOUT_MS);
        collecting.set(id, { waiting, parts: [], reply, timer });
        if (waiting.size === 0) return finishCollect(id, "no gateway worker is running");
        for (const w of waiting) w.send({ enclave: "metrics-collect", id } satisfies PrimaryMessage);
      } else if (message.enclave === "metrics-json") {
        const c = collecting.get(message.id);
        if (!c || !c.waiting.delete(worker)) return;
        if (message.error !== undefined || !message.metrics) return finishCollect(message.id, message.error ?? "no metrics");
        c.parts.push(message.metrics);
        if (c.waiting.size === 0) finishCollect(message.id);
      }
    });
    worker.on("exit", (code, signal) => {
      listening.delete(worker);
      byIndex.delete(index);
      // A scrape waiting for this worker goes on without it.
      for (const [id, c] of collecting) if (c.waiting.delete(worker) && c.waiting.size === 0) finishCollect(id);
      if (stopping) {
        if (byIndex.size === 0) exit(exitCode);
        return;
      }
      if (!everListened.has(index)) {
        // It never served: the environment, the port or the spool directory is wrong. A restart would
        // fail the same way; stop, as a single gateway does.
        log("error", "a gateway worker failed to start; stopping", { worker: index, code, signal });
        if (!started) rejectStarted(new Error(`gateway worker ${index} exited (${signal ?? code}) before it listened`));
        stopAll("worker failed to start", 1);
        return;
      }
      const lived = Date.now() - startedAt;
      const n = lived < HEALTHY_MS ? (restarts.get(index) ?? 0) + 1 : 0;
      restarts.set(index, n);
      const delay = n === 0 ? 0 : Math.min(10_000, 250 * 2 ** Math.min(n, 6));
      log("error", "a gateway worker died; restarting it (it replays its spool)", { worker: index, pid: worker.process.pid, code, signal, restartInMs: delay });
      setTimeout(() => {
        if (!stopping) fork(index);
      }, delay);
    });
  }

  function stopAll(reason: string, code = 0) {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    log("info", "gateway stopping", { reason, workers: byIndex.size });
    if (byIndex.size === 0) return exit(exitCode);
    for (const w of byIndex.values()) w.process.kill("SIGTERM");
    setTimeout(() => {
      for (const w of byIndex.values()) w.process.kill("SIGKILL");
    }, STOP_GRACE_MS).unref();
  }
  process.on("SIGTERM", () => stopAll("SIGTERM"));
  process.on("SIGINT", () => stopAll("SIGINT"));
  for (let i = 1; i <= options.workers; i++) fork(i);
  return ready;
}

/** In a worker: tells the primary it serves. */
export function announceListening(url: string) {
  process.send?.({ enclave: "listening", url } satisfies WorkerMessage);
}

/**
 * In a worker: answers the primary's requests for this process's metrics (as prom-client's JSON),
 * and returns the function that asks the primary for the whole gateway's exposition.
 */
export function clusterMetricsSource(registry: { getMetricsAsJSON(): Promise<MetricsJson> }): () => Promise<string> {
  let seq = 0;
  const waiting = new Map<number, { resolve: (text: string) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>();
  process.on("message", (message: PrimaryMessage) => {
    if (!message || typeof message !== "object" || !("enclave" in message)) return;
    if (message.enclave === "metrics-collect") {
      registry.getMetricsAsJSON().then(
        (metrics) => process.send?.({ enclave: "metrics-json", id: message.id, metrics } satisfies WorkerMessage),
        (error: unknown) => process.send?.({ enclave: "metrics-json", id: message.id, error: error instanceof Error ? error.message : String(error) } satisfies WorkerMessage),
      );
    } else if (message.enclave === "metrics-text") {
      const w = waiting.get(message.id);
      if (!w) return;
      waiting.delete(message.id);
      clearTimeout(w.timer);
      if (message.text !== undefined) w.resolve(message.text);
      else w.reject(new Error(message.error ?? "no metrics"));
    }
  });
  return () =>
    new Promise<string>((resolve, reject) => {
      const id = ++seq;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error("the gateway's primary process did not answer"));
      }, COLLECT_TIMEOUT_MS + 2000);
      waiting.set(id, { resolve, reject, timer });
      process.send?.({ enclave: "metrics-request", id } satisfies WorkerMessage);
    });
}
