/**
 * Per-key limits that hold across every gateway process, without a database round trip per request.
 *
 * PostgreSQL keeps, per key, kind and window, how much allowance it has handed out
 * ("GatewayAllowance".granted). A process leases a slice with one `INSERT … ON CONFLICT DO UPDATE
 * … RETURNING` that never hands out more than `limit − granted`, then admits requests from its
 * local balance. Slices are sized to the process's own recent rate (about half a second of
 * traffic, capped at an eighth of the limit) and the next one is fetched in the background when
 * half of the last is spent, so the hot path is a few arithmetic operations.
 *
 * - requests per minute: one unit per admitted request; the total admitted in a minute across all
 *   processes never exceeds the limit (a slice a process cannot use is lost, never over-granted).
 * - tokens per minute and the monthly budget (micro-euros): a request needs a positive balance to be
 *   admitted, and its real tokens / cost are debited when it ends (they are unknown before). A
 *   negative balance is a debt paid from the next slice, so the overshoot is bounded by what the
 *   requests in flight at that moment consume.
 * - The budget row of a month starts from what the key has already spent this month (the daily usage
 *   roll-ups plus the deltas not rolled up yet: exact, without reading raw rows; usage-sql.ts).
 * - An organisation's hard monthly budget (docs/budgets.md) is one more allowance, "org_budget",
 *   keyed by the organisation's id: its row holds the token cost spent and leased this month, and
 *   the limit each lease compares it with is the budget minus the GPU time the workers' budget
 *   evaluation last wrote into the "org_gpu" row of the same table (at most a few seconds old).
 *
 * When PostgreSQL cannot be reached, a process fails open but keeps each limit locally (at most the
 * limit per process), and logs it: refusing all traffic during a database restart would be worse.
 */
import type pg from "pg";
import { MICRO_EUR_PER_CENT } from "../services/pricing";
import { budgetExhausted, organizationBudgetExceeded, rateLimited, type GatewayErrorBody } from "./errors";
import type { KeyEntry, OrgEntry } from "./state";
import { keySpendSinceSql, orgSpendSinceSql } from "./usage-sql";

export type AllowanceKind = "requests" | "tokens" | "budget" | "org_budget";

/** Rows of "GatewayAllowance" whose window is a calendar month (UTC), not a minute. */
const MONTHLY_KINDS = ["budget", "org_budget", "org_gpu"];
const monthly = (kind: AllowanceKind) => kind === "budget" || kind === "org_budget";

type Log = (level: "info" | "warn" | "error", message: string, fields?: Record<string, unknown>) => void;

export interface LeaseStore {
  /** Hands out up to `want` units of `limit` for the window; resolves with what was granted. */
  lease(keyId: string, kind: AllowanceKind, windowStart: number, want: number, limit: number): Promise<number>;
  giveBack(keyId: string, kind: AllowanceKind, windowStart: number, amount: number): Promise<void>;
}

const GRANT = (granted: string, limit = "$5::bigint") => `LEAST($4::bigint, GREATEST(${limit} - ${granted}, 0))`;

const LEASE_SQL = `INSERT INTO "GatewayAllowance" AS a ("apiKeyId", kind, "windowStart", granted, "lastGrant")
VALUES ($1, $2, $3::timestamp, ${GRANT("0")}, ${GRANT("0")})
ON CONFLICT ("apiKeyId", kind, "windowStart") DO UPDATE SET
  granted = a.granted + ${GRANT("a.granted")}, "lastGrant" = ${GRANT("a.granted")}, "updatedAt" = now()
RETURNING "lastGrant"::float8 AS "grant"`;

const BUDGET_UPDATE_SQL = `UPDATE "GatewayAllowance" AS a SET
  granted = a.granted + ${GRANT("a.granted")}, "lastGrant" = ${GRANT("a.granted")}, "updatedAt" = now()
WHERE "apiKeyId" = $1 AND kind = $2 AND "windowStart" = $3::timestamp
RETURNING "lastGrant"::float8 AS "grant"`;

// The month's first lease starts the row from what the key has already spent this month.
const BUDGET_INSERT_SQL = `INSERT INTO "GatewayAllowance" AS a ("apiKeyId", kind, "windowStart", granted, "lastGrant")
SELECT $1, $2, $3::timestamp, s.spent + ${GRANT("s.spent")}, ${GRANT("s.spent")}
FROM (${keySpendSinceSql("$1", "$3::timestamp")}) s
ON CONFLICT ("apiKeyId", kind, "windowStart") DO UPDATE SET
  granted = a.granted + ${GRANT("a.granted")}, "lastGrant" = ${GRANT("a.granted")}, "updatedAt" = now()
RETURNING "lastGrant"::float8 AS "grant"`;

// An organisation's budget: what is left is the budget minus the GPU time the workers' evaluation
// last recorded ("org_gpu", written by server/services/budgets.ts) minus the token cost granted.
const ORG_LIMIT = `($5::bigint - COALESCE((SELECT g.granted FROM "GatewayAllowance" g WHERE g."apiKeyId" = $1 AND g.kind = 'org_gpu' AND g."windowStart" = $3::timestamp), 0))`;
const OG = (granted: string) => GRANT(granted, ORG_LIMIT);

const ORG_BUDGET_UPDATE_SQL = `UPDATE "GatewayAllowance" AS a SET
  granted = a.granted + ${OG("a.granted")}, "lastGrant" = ${OG("a.granted")}, "updatedAt" = now()
WHERE "apiKeyId" = $1 AND kind = $2 AND "windowStart" = $3::timestamp
RETURNING "lastGrant"::float8 AS "grant"`;

// The month's first lease starts the row from the token cost the organisation has spent this month.
const ORG_BUDGET_INSERT_SQL = `INSERT INTO "GatewayAllowance" AS a ("apiKeyId", kind, "windowStart", granted, "lastGrant")
SELECT $1, $2, $3::timestamp, s.spent + ${OG("s.spent")}, ${OG("s.spent")}
FROM (${orgSpendSinceSql("$1", "$3::timestamp")}) s
ON CONFLICT ("apiKeyId", kind, "windowStart") DO UPDATE SET
  granted = a.granted + ${OG("a.granted")}, "lastGrant" = ${OG("a.granted")}, "updatedAt" = now()
RETURNING "lastGrant"::float8 AS "grant"`;

const GIVE_BACK_SQL = `UPDATE "GatewayAllowance" SET granted = GREATEST(granted - $4::bigint, 0), "updatedAt" = now()
WHERE "apiKeyId" = $1 AND kind = $2 AND "windowStart" = $3::timestamp`;

const CLEANUP_SQL = `DELETE FROM "GatewayAllowance"
WHERE (kind <> ALL('{${MONTHLY_KINDS.join(",")}}'::text[]) AND "windowStart" < (now() AT TIME ZONE 'UTC') - interval '10 minutes')
   OR "windowStart" < (now() AT TIME ZONE 'UTC') - interval '62 days'`;

export class PgLeaseStore implements LeaseStore {
  constructor(private readonly pool: pg.Pool) {}

  async lease(keyId: string, kind: AllowanceKind, windowStart: number, want: number, limit: number): Promise<number> {
    const params = [keyId, kind, new Date(windowStart).toISOString(), Math.max(0, Math.floor(want)), Math.max(0, Math.floor(limit))];
    if (kind === "budget" || kind === "org_budget") {
      const [update, insert] = kind === "budget" ? [BUDGET_UPDATE_SQL, BUDGET_INSERT_SQL] : [ORG_BUDGET_UPDATE_SQL, ORG_BUDGET_INSERT_SQL];
      const updated = await this.pool.query<{ grant: number }>(update, params);
      if (updated.rows.length) return updated.rows[0].grant;
      return (await this.pool.query<{ grant: number }>(insert, params)).rows[0].grant;
    }
    return (await this.pool.query<{ grant: number }>(LEASE_SQL, params)).rows[0].grant;
  }

  async giveBack(keyId: string, kind: AllowanceKind, windowStart: number, amount: number): Promise<void> {
    await this.pool.query(GIVE_BACK_SQL, [keyId, kind, new Date(windowStart).toISOString(), Math.floor(amount)]);
  }

  async cleanup(): Promise<void> {
    await this.pool.query(CLEANUP_SQL);
  }
}

/** About this much of the process's own traffic is leased at once. */
const LEASE_HORIZON_MS = 500;
/** Balances untouched this long are returned, so an idle process does not sit on allowance. */
const IDLE_RETURN_MS = 5_000;

/** One key's allowance of one kind, in this process. */
class Allowance {
  balance = 0;
  windowStart = 0;
  windowEnd = 0;
  /** PostgreSQL had less than asked: nothing more this window (unless the key's limit changes). */
  drained = false;
  leasing: Promise<void> | null = null;
  lastUsedAt = 0;
  private takenSinceLease = 0;
  private lastLeaseAt = 0;
  private waiting = 0;
  /** Granted locally while PostgreSQL was unreachable, this window. */
  private failOpenGranted = 0;

  constructor(
    readonly keyId: string,
    readonly kind: AllowanceKind,
    private readonly store: LeaseStore,
    private readonly log: Log,
  ) {}

  private roll(now: number) {
    if (monthly(this.kind)) {
      const d = new Date(now);
      this.windowStart = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
      this.windowEnd = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
    } else {
      this.windowStart = now - (now % 60_000);
      this.windowEnd = this.windowStart + 60_000;
    }
    this.balance = 0;
    this.drained = false;
    this.takenSinceLease = 0;
    this.lastLeaseAt = now;
    this.failOpenGranted = 0;
  }

  /** Admits when the local balance allows `need` (and is positive); else leases, or refuses when drained. */
  admit(limit: number, need: number, now: number): boolean | Promise<boolean> {
    if (now >= this.windowEnd) this.roll(now);
    this.lastUsedAt = now;
    if (this.balance > 0 && this.balance >= need) {
      this.balance -= need;
      this.takenSinceLease += need;
      this.maybePrefetch(limit, now);
      return true;
    }
    if (this.drained) return false;
    return this.wait(limit, need);
  }

  /** What a finished request really used (tokens, micro-euros). */
  debit(amount: number, limit: number, now: number) {
    if (amount <= 0 || now >= this.windowEnd) return;
    this.balance -= amount;
    this.takenSinceLease += amount;
    this.maybePrefetch(limit, now);
  }

  retryAfterSeconds(now: number) {
    return Math.max(1, Math.ceil((this.windowEnd - now) / 1000));
  }

  /** The key's limit changed: PostgreSQL may have more to give. */
  reopen() {
    this.drained = false;
  }

  private maybePrefetch(limit: number, now: number) {
    if (this.leasing || this.drained) return;
    if (this.balance <= this.lowWater) void this.startLease(limit, now);
  }

  private lowWater = 0;

  private async wait(limit: number, need: number): Promise<boolean> {
    this.waiting++;
    try {
      for (let attempt = 0; attempt < 10; attempt++) {
        await (this.leasing ?? this.startLease(limit, Date.now()));
        const now = Date.now();
        if (now >= this.windowEnd) this.roll(now);
        if (this.balance > 0 && this.balance >= need) {
          this.balance -= need;
          this.takenSinceLease += need;
          return true;
        }
        if (this.drained) return false;
      }
      return false;
    } finally {
      this.waiting--;
    }
  }

  private want(limit: number, now: number) {
    const elapsed = Math.max(now - this.lastLeaseAt, 100);
    const rate = (this.takenSinceLease * 1000) / elapsed;
    const min = this.kind === "requests" ? 1 : Math.max(1, Math.ceil(limit / 100));
    const max = Math.max(1, Math.ceil(limit / 8));
    let want = Math.min(Math.max(Math.ceil((rate * LEASE_HORIZON_MS) / 1000), min, this.waiting), max);
    if (this.balance < 0) want += -this.balance;
    return want;
  }

  private startLease(limit: number, now: number): Promise<void> {
    const want = this.want(limit, now);
    const windowStart = this.windowStart;
    this.takenSinceLease = 0;
    this.lastLeaseAt = now;
    const lease = this.store.lease(this.keyId, this.kind, windowStart, want, limit).then(
      (granted) => {
        if (this.windowStart !== windowStart) return;
        this.balance += granted;
        this.lowWater = Math.floor(granted / 2);
        if (granted < want) this.drained = true;
      },
      (error: unknown) => {
        if (this.windowStart !== windowStart) return;
        const granted = Math.max(0, Math.min(want, limit - this.failOpenGranted));
        this.failOpenGranted += granted;
        this.balance += granted;
        this.lowWater = Math.floor(granted / 2);
        if (granted < want) this.drained = true;
        this.log("warn", "gateway could not lease quota from PostgreSQL; enforcing the limit locally", { kind: this.kind, keyId: this.keyId, error: String(error) });
      },
    );
    const tracked = lease.finally(() => {
      if (this.leasing === tracked) this.leasing = null;
    });
    this.leasing = tracked;
    return tracked;
  }

  /**
   * Returns an unused positive balance of the current window (idle, or at shutdown). A negative
   * one (consumed past the last slice) is written to the row as well, so the window's total holds
   * it even when this process forgets the allowance.
   */
  async giveBack(now: number) {
    if (this.balance === 0 || now >= this.windowEnd || this.leasing) return;
    const amount = this.balance > 0 ? Math.floor(this.balance) : -Math.ceil(-this.balance);
    if (amount === 0) return;
    this.balance -= amount;
    try {
      await this.store.giveBack(this.keyId, this.kind, this.windowStart, amount);
      if (amount > 0) this.drained = false;
    } catch {
      // Lost allowance only makes the limit stricter for the rest of the window; a debt is kept, paid from the next slice.
      if (amount < 0) this.balance += amount;
    }
  }
}

interface KeyAllowances {
  requests: Allowance | null;
  tokens: Allowance | null;
  budget: Allowance | null;
}

/** An organisation's hard monthly budget, as this process enforces it. */
interface OrgBudget {
  allowance: Allowance;
  /** Micro-euros. */
  limit: number;
  name: string;
  budgetCents: number;
}

export class Limiter {
  private readonly byKey = new Map<string, KeyAllowances>();
  private readonly byOrg = new Map<string, OrgBudget>();
  private sweepTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: LeaseStore,
    private readonly log: Log,
  ) {}

  start() {
    this.sweepTimer = setInterval(() => void this.sweep(Date.now()), IDLE_RETURN_MS);
    this.sweepTimer.unref();
  }

  private allowances(entry: KeyEntry): KeyAllowances {
    let a = this.byKey.get(entry.id);
    if (!a) {
      a = { requests: null, tokens: null, budget: null };
      this.byKey.set(entry.id, a);
    }
    if (entry.rateLimitRpm !== null && !a.requests) a.requests = new Allowance(entry.id, "requests", this.store, this.log);
    if (entry.rateLimitTpm !== null && !a.tokens) a.tokens = new Allowance(entry.id, "tokens", this.store, this.log);
    if (entry.monthlyBudgetCents !== null && !a.budget) a.budget = new Allowance(entry.id, "budget", this.store, this.log);
    return a;
  }

  /** The organisation's hard budget allowance; null when it has none (no budget, or a soft one). */
  private orgBudget(orgId: string, org: OrgEntry | undefined): OrgBudget | null {
    const cents = org?.hardBudgetCents ?? null;
    if (cents === null) return null;
    let o = this.byOrg.get(orgId);
    if (!o) this.byOrg.set(orgId, (o = { allowance: new Allowance(orgId, "org_budget", this.store, this.log), limit: 0, name: "", budgetCents: 0 }));
    o.limit = cents * MICRO_EUR_PER_CENT;
    o.budgetCents = cents;
    o.name = org!.name;
    return o;
  }

  /** null when admitted; the refusal otherwise. Synchronous unless a slice must be leased first. */
  admit(entry: KeyEntry, now: number, org?: OrgEntry): GatewayErrorBody | null | Promise<GatewayErrorBody | null> {
    const o = this.orgBudget(entry.orgId, org);
    if (!o && entry.rateLimitRpm === null && entry.rateLimitTpm === null && entry.monthlyBudgetCents === null) return null;
    return this.stage(entry, o, this.allowances(entry), 0, now);
  }

  // The organisation's budget, the key's budget and tokens only need a positive balance; the
  // request unit is taken last, once they pass.
  private stage(entry: KeyEntry, o: OrgBudget | null, a: KeyAllowances, from: number, now: number): GatewayErrorBody | null | Promise<GatewayErrorBody | null> {
    for (let i = from; i < 4; i++) {
      const allowance = i === 0 ? (o?.allowance ?? null) : i === 1 ? a.budget : i === 2 ? a.tokens : a.requests;
      if (!allowance) continue;
      const limit = i === 0 ? o!.limit : i === 1 ? entry.monthlyBudgetCents! * MICRO_EUR_PER_CENT : i === 2 ? entry.rateLimitTpm! : entry.rateLimitRpm!;
      const admitted = allowance.admit(limit, i === 3 ? 1 : 0, now);
      if (admitted === true) continue;
      if (admitted === false) return this.refusal(entry, o, allowance, now);
      const next = i + 1;
      return admitted.then((ok) => (ok ? this.stage(entry, o, a, next, Date.now()) : this.refusal(entry, o, allowance, Date.now())));
    }
    return null;
  }

  private refusal(entry: KeyEntry, o: OrgBudget | null, allowance: Allowance, now: number): GatewayErrorBody {
    const retryAfter = allowance.retryAfterSeconds(now);
    if (allowance.kind === "org_budget") return organizationBudgetExceeded(o?.name ?? "", o?.budgetCents ?? 0, retryAfter);
    if (allowance.kind === "budget") return budgetExhausted(entry.monthlyBudgetCents ?? 0, retryAfter);
    return rateLimited(allowance.kind as "requests" | "tokens", allowance.kind === "requests" ? entry.rateLimitRpm ?? 0 : entry.rateLimitTpm ?? 0, retryAfter);
  }

  /**
   * Read only (the request's trace): this process's local balance of one allowance — request
   * units, tokens or micro-euros, negative while a debt waits for the next slice — or null when
   * this process holds none. `id` is the key's id, or the organisation's for "org_budget".
   */
  balance(id: string, kind: AllowanceKind): number | null {
    const allowance = kind === "org_budget" ? this.byOrg.get(id)?.allowance : kind === "requests" ? this.byKey.get(id)?.requests : kind === "tokens" ? this.byKey.get(id)?.tokens : this.byKey.get(id)?.budget;
    return allowance ? allowance.balance : null;
  }

  /** A finished request's real consumption. */
  settle(entry: KeyEntry, tokens: number, costMicroEur: number, now: number) {
    const o = this.byOrg.get(entry.orgId);
    if (o) o.allowance.debit(costMicroEur, o.limit, now);
    const a = this.byKey.get(entry.id);
    if (!a) return;
    if (a.tokens && entry.rateLimitTpm !== null) a.tokens.debit(tokens, entry.rateLimitTpm, now);
    if (a.budget && entry.monthlyBudgetCents !== null) a.budget.debit(costMicroEur, entry.monthlyBudgetCents * MICRO_EUR_PER_CENT, now);
  }

  /** The key's limits were reloaded: a raised limit must take effect in this window. */
  reconfigure(entry: KeyEntry) {
    const a = this.byKey.get(entry.id);
    if (!a) return;
    if (entry.rateLimitRpm === null) a.requests = null;
    if (entry.rateLimitTpm === null) a.tokens = null;
    if (entry.monthlyBudgetCents === null) a.budget = null;
    a.requests?.reopen();
    a.tokens?.reopen();
    a.budget?.reopen();
  }

  /** The organisation's budget changed (or was removed, or became soft): a raised one applies at once. */
  reconfigureOrg(orgId: string, org: OrgEntry | undefined) {
    const o = this.byOrg.get(orgId);
    if (!o) return;
    if (org?.hardBudgetCents == null) this.byOrg.delete(orgId);
    else o.allowance.reopen();
  }

  /** Read only (the Prometheus metrics, at scrape time): keys — organisations for "org_budget" — holding limit state here, by kind. */
  heldAllowances(): Record<AllowanceKind, number> {
    const held = { requests: 0, tokens: 0, budget: 0, org_budget: this.byOrg.size };
    for (const a of this.byKey.values()) {
      if (a.requests) held.requests++;
      if (a.tokens) held.tokens++;
      if (a.budget) held.budget++;
    }
    return held;
  }

  private async sweep(now: number) {
    const returns: Promise<void>[] = [];
    for (const [id, a] of this.byKey) {
      let idle = true;
      for (const allowance of [a.requests, a.tokens, a.budget]) {
        if (!allowance) continue;
        if (now - allowance.lastUsedAt < IDLE_RETURN_MS) idle = false;
        else returns.push(allowance.giveBack(now));
      }
      if (idle && now - Math.max(a.requests?.lastUsedAt ?? 0, a.tokens?.lastUsedAt ?? 0, a.budget?.lastUsedAt ?? 0) > 120_000) this.byKey.delete(id);
    }
    for (const [id, o] of this.byOrg) {
      if (now - o.allowance.lastUsedAt < IDLE_RETURN_MS) continue;
      returns.push(o.allowance.giveBack(now));
      if (now - o.allowance.lastUsedAt > 120_000) this.byOrg.delete(id);
    }
    await Promise.all(returns);
  }

  async close() {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    const now = Date.now();
    const returns: Promise<void>[] = [];
    for (const a of this.byKey.values()) for (const allowance of [a.requests, a.tokens, a.budget]) if (allowance) returns.push(allowance.giveBack(now));
    for (const o of this.byOrg.values()) returns.push(o.allowance.giveBack(now));
    await Promise.all(returns);
  }
}
