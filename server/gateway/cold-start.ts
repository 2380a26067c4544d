/**
 * Scale from zero (docs/autoscaling.md): a request to a deployment that autoscaling has taken to
 * zero replicas (desired RUNNING, policy enabled with min 0) is held while the workers start a
 * replica, instead of being refused. The first held request writes the load signal and NOTIFYs the
 * autoscaler at once; every held request is then served, or answered 503 on its timeout (default
 * 60 s, `x-enclave-cold-start-timeout` in seconds, bounded) or when the bounded queue is full.
 */
import type pg from "pg";
import { AUTOSCALE_CHANNEL, COLD_START } from "../../lib/autoscaling";
import { gatewayError, type GatewayErrorBody } from "./errors";
import type { LoadSignal } from "./load-signal";
import type { GatewayState, Route } from "./state";

type Log = (level: "info" | "warn" | "error", message: string, fields?: Record<string, unknown>) => void;

export type ColdStartOutcome = { route: Route } | { error: GatewayErrorBody; outcome: "timeout" | "queue_full" | "bad_header" | "stopped" } | null;

interface Waiter {
  resolve: (outcome: ColdStartOutcome) => void;
  timer: NodeJS.Timeout;
}

export interface ColdStartOptions {
  /** Held requests per deployment in this process; beyond, 503 with Retry-After. Default 256. */
  maxQueue?: number;
  /** Default hold when the request names none. Default 60 s. */
  defaultTimeoutMs?: number;
  /** How often the route table is looked at for a ready replica while requests wait. Default 50 ms. */
  pollMs?: number;
  /** How often the set of scale-to-zero deployments is reloaded. Default 1 s. */
  refreshMs?: number;
}

const coldStartTimeout = (model: string, seconds: number) =>
  gatewayError(503, "server_error", "cold_start_timeout", `The deployment \`${model}\` is scaled to zero and no replica was ready after ${seconds} s of cold start. Retry, or raise the ${COLD_START.header} header (at most ${COLD_START.maxTimeoutSeconds} s).`, null, 5);
const coldStartQueueFull = (model: string, max: number) =>
  gatewayError(503, "server_error", "cold_start_queue_full", `The deployment \`${model}\` is starting from zero and already holds ${max} requests in this gateway. Retry shortly.`, null, 5);
const badTimeoutHeader = () =>
  gatewayError(400, "invalid_request_error", "invalid_cold_start_timeout", `The ${COLD_START.header} header must be a number of seconds between 0 and ${COLD_START.maxTimeoutSeconds}.`, COLD_START.header);
const stoppedMeanwhile = (model: string) => gatewayError(503, "server_error", "no_healthy_replica", `The deployment \`${model}\` was stopped while the request waited for its cold start.`, null, 2);

export class ColdStart {
  /** Deployments whose autoscaling may take them to zero: these are held for, not refused. */
  private scalable = new Set<string>();
  private readonly waiting = new Map<string, Waiter[]>();
  private poll: NodeJS.Timeout | null = null;
  private refreshTimer: NodeJS.Timeout | null = null;
  private readonly maxQueue: number;
  private readonly defaultTimeoutMs: number;

  constructor(
    private readonly pool: pg.Pool,
    private readonly state: GatewayState,
    private readonly load: LoadSignal,
    private readonly log: Log,
    private readonly options: ColdStartOptions = {},
  ) {
    this.maxQueue = options.maxQueue ?? 256;
    this.defaultTimeoutMs = options.defaultTimeoutMs ?? COLD_START.defaultTimeoutSeconds * 1000;
  }

  async start() {
    await this.refresh();
    this.refreshTimer = setInterval(() => void this.refresh(), this.options.refreshMs ?? 1000);
    this.refreshTimer.unref();
  }

  private refreshing: Promise<void> | null = null;
  private refreshedAt = 0;

  /**
   * Reloads the set now, unless it was reloaded in the last 100 ms (one query at a time): for a
   * request that finds a running deployment with no replica the set does not hold. The autoscaler
   * can take a deployment to zero within a second of its policy's change to min 0, before the
   * periodic reload has seen that change; such a request is held, not refused.
   */
  refreshSoon(): Promise<void> {
    if (this.refreshing) return this.refreshing;
    if (performance.now() - this.refreshedAt < 100) return Promise.resolve();
    return (this.refreshing = this.refresh().finally(() => (this.refreshing = null)));
  }

  private async refresh() {
    this.refreshedAt = performance.now();
    try {
      const { rows } = await this.pool.query<{ id: string }>(
        `SELECT p."deploymentId" AS id FROM "AutoscalingPolicy" p JOIN "Deployment" d ON d.id = p."deploymentId"
         WHERE p.enabled AND d."minReplicas" = 0 AND d."desiredState" = 'RUNNING' AND d."deletedAt" IS NULL`,
      );
      this.scalable = new Set(rows.map((r) => r.id));
    } catch (error) {
      this.log("warn", "gateway cold-start policy refresh failed", { error: String(error) });
    }
  }

  /** Running, no replica, not failed, and not (yet) known to scale to zero: worth a `refreshSoon` before refusing. */
  unsure(route: Route): boolean {
    return route.desiredState === "RUNNING" && route.replicas.length === 0 && route.phase !== "FAILED" && !this.scalable.has(route.id);
  }

  /** Whether a request to this route, with no replica, should wait for one rather than be refused. */
  holds(route: Route): boolean {
    // A failed deployment waits for a retry, not for the autoscaler: refused at once, as before.
    return route.desiredState === "RUNNING" && route.phase !== "FAILED" && this.scalable.has(route.id);
  }

  /**
   * Waits for a ready replica of `route`. Resolves with the reloaded route, with an error to answer,
   * or null when the client went away (`res` closed).
   */
  wait(route: Route, header: string | string[] | undefined, res: { once(event: "close", fn: () => void): unknown }): Promise<ColdStartOutcome> {
    let timeoutMs = this.defaultTimeoutMs;
    if (header !== undefined) {
      const seconds = Number(Array.isArray(header) ? header[0] : header);
      if (!Number.isFinite(seconds) || seconds < 0 || seconds > COLD_START.maxTimeoutSeconds) return Promise.resolve({ error: badTimeoutHeader(), outcome: "bad_header" });
      timeoutMs = seconds * 1000;
    }
    const list = this.waiting.get(route.id) ?? [];
    if (list.length >= this.maxQueue) return Promise.resolve({ error: coldStartQueueFull(route.name, this.maxQueue), outcome: "queue_full" });
    return new Promise<ColdStartOutcome>((resolve) => {
      const waiter: Waiter = {
        resolve: (outcome) => {
          clearTimeout(waiter.timer);
          this.remove(route.id, waiter);
          resolve(outcome);
        },
        timer: setTimeout(() => waiter.resolve({ error: coldStartTimeout(route.name, Math.round(timeoutMs / 100) / 10), outcome: "timeout" }), timeoutMs),
      };
      list.push(waiter);
      this.waiting.set(route.id, list);
      this.load.setQueued(route.id, list.length);
      res.once("close", () => waiter.resolve(null));
      if (list.length === 1) this.wake(route.id);
      this.poll ??= setInterval(() => this.check(), this.options.pollMs ?? 50);
    });
  }

  /** The workers hear of the held request now: the load row first, then the NOTIFY that makes them read it. */
  private wake(deploymentId: string) {
    void this.load
      .flushNow()
      .then(() => this.pool.query("SELECT pg_notify($1, $2)", [AUTOSCALE_CHANNEL, deploymentId]))
      .catch((error) => this.log("warn", "gateway cold-start wake-up failed", { deploymentId, error: String(error) }));
  }

  private check() {
    for (const [id, list] of this.waiting) {
      const route = this.state.routesById.get(id);
      if (route && route.desiredState === "RUNNING" && route.replicas.length > 0) {
        for (const w of [...list]) w.resolve({ route });
      } else if (!route || route.desiredState !== "RUNNING") {
        const name = route?.name ?? id;
        for (const w of [...list]) w.resolve({ error: stoppedMeanwhile(name), outcome: "stopped" });
      }
    }
  }

  private remove(deploymentId: string, waiter: Waiter) {
    const list = this.waiting.get(deploymentId);
    if (!list) return;
    const i = list.indexOf(waiter);
    if (i !== -1) list.splice(i, 1);
    this.load.setQueued(deploymentId, list.length);
    if (list.length === 0) this.waiting.delete(deploymentId);
    if (this.waiting.size === 0 && this.poll) {
      clearInterval(this.poll);
      this.poll = null;
    }
  }

  /** Held requests (all deployments) in this process. */
  get held(): number {
    let n = 0;
    for (const list of this.waiting.values()) n += list.length;
    return n;
  }

  close() {
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    for (const [, list] of this.waiting) for (const w of [...list]) w.resolve({ error: gatewayError(503, "server_error", "service_unavailable", "The gateway is shutting down. Retry.", null, 1), outcome: "stopped" });
  }
}
