/**
 * The autoscaler's signal from this gateway process (docs/autoscaling.md): per deployment, the
 * time-averaged in-flight requests over the last interval, the requests held for a cold start and
 * the requests started, upserted into "GatewayLoad" about every second. The hot path only moves
 * counters (no await, no allocation after a deployment's first request); the write is a timer's.
 */
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import type pg from "pg";

interface Load {
  inFlight: number;
  queued: number;
  requests: number;
  /** ∑ inFlight × ms since the window started. */
  area: number;
  lastChange: number;
  /** The last write said something other than zeros (one zero row follows, then silence). */
  reported: boolean;
}

type Log = (level: "info" | "warn" | "error", message: string, fields?: Record<string, unknown>) => void;

export class LoadSignal {
  readonly gatewayId = `${hostname()}-${process.pid}-${randomBytes(4).toString("hex")}`;
  private readonly loads = new Map<string, Load>();
  /** Which deployment an exchange was counted against (its route may change on failover). */
  private readonly counted = new WeakMap<object, Load>();
  private windowStart = performance.now();
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> | null = null;
  private failedAt = 0;

  constructor(
    private readonly pool: pg.Pool,
    private readonly options: { intervalMs: number; log: Log },
  ) {}

  start() {
    this.timer = setInterval(() => void this.flush(), this.options.intervalMs);
    this.timer.unref();
  }

  private load(deploymentId: string): Load {
    let l = this.loads.get(deploymentId);
    if (!l) {
      l = { inFlight: 0, queued: 0, requests: 0, area: 0, lastChange: performance.now(), reported: false };
      this.loads.set(deploymentId, l);
    }
    return l;
  }

  private static accrue(l: Load, now: number) {
    l.area += l.inFlight * (now - l.lastChange);
    l.lastChange = now;
  }

  /** A request to the deployment starts (it reached the upstream step). */
  begin(exchange: object, deploymentId: string) {
    const l = this.load(deploymentId);
    LoadSignal.accrue(l, performance.now());
    l.inFlight++;
    l.requests++;
    this.counted.set(exchange, l);
  }

  /** The request counted by `begin` is over (a no-op for one that never began). */
  end(exchange: object) {
    const l = this.counted.get(exchange);
    if (!l) return;
    this.counted.delete(exchange);
    LoadSignal.accrue(l, performance.now());
    l.inFlight--;
  }

  /** Requests held for the deployment's cold start now (cold-start.ts). */
  setQueued(deploymentId: string, queued: number) {
    this.load(deploymentId).queued = queued;
  }

  /** Writes now (a request is being held: the workers should hear of it at once). */
  flushNow(): Promise<void> {
    return (this.writing ?? Promise.resolve()).then(() => this.flush());
  }

  flush(): Promise<void> {
    if (this.writing) return this.writing;
    const now = performance.now();
    const span = Math.max(1, now - this.windowStart);
    this.windowStart = now;
    const ids: string[] = [];
    const inFlight: number[] = [];
    const queued: number[] = [];
    const requests: number[] = [];
    for (const [id, l] of this.loads) {
      LoadSignal.accrue(l, now);
      const average = l.area / span;
      const busy = average > 0 || l.inFlight > 0 || l.queued > 0 || l.requests > 0;
      if (busy || l.reported) {
        ids.push(id);
        inFlight.push(Math.round(average * 1000) / 1000);
        queued.push(l.queued);
        requests.push(l.requests);
      }
      l.reported = busy;
      l.area = 0;
      l.requests = 0;
      if (!busy) this.loads.delete(id);
    }
    if (ids.length === 0) return Promise.resolve();
    this.writing = this.pool
      .query(
        `INSERT INTO "GatewayLoad" ("gatewayId", "deploymentId", "inFlight", queued, requests, "updatedAt")
         SELECT $1, u.id, u.f, u.q, u.r, now() FROM unnest($2::text[], $3::float8[], $4::int[], $5::int[]) AS u(id, f, q, r)
         JOIN "Deployment" d ON d.id = u.id
         ON CONFLICT ("gatewayId", "deploymentId") DO UPDATE SET "inFlight" = EXCLUDED."inFlight", queued = EXCLUDED.queued, requests = EXCLUDED.requests, "updatedAt" = EXCLUDED."updatedAt"`,
        [this.gatewayId, ids, inFlight, queued, requests],
      )
      .then(
        () => undefined,
        (error: unknown) => {
          // Lost samples only delay a decision; say so once a minute, not every second.
          if (Date.now() - this.failedAt > 60_000) this.options.log("warn", "gateway load signal write failed", { error: String(error) });
          this.failedAt = Date.now();
        },
      )
      .finally(() => {
        this.writing = null;
      });
    return this.writing;
  }

  /** Stops writing and removes this process's rows (its load is gone with it). */
  async close() {
    if (this.timer) clearInterval(this.timer);
    await this.writing;
    await this.pool.query(`DELETE FROM "GatewayLoad" WHERE "gatewayId" = $1`, [this.gatewayId]).catch(() => {});
  }
}
