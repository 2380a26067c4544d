/**
 * Routes in the gateway (docs/routes.md): a `model` that names one of the organisation's routes
 * (`ModelRoute`; the gateway's `Route` is one deployment's entry) is resolved per request to one
 * member deployment. Only members that may take the request's data class are candidates (the
 * deployment's own class and the residency verdict that a call by the deployment's name would get),
 * then healthy ones, then those with room (a member is saturated when each of its healthy replicas
 * has `maxInFlightPerReplica` requests in flight in this process), in preference order (PRIORITY) or
 * by weight (WEIGHTED). When no compliant member has a replica up but one is scaled to zero by its
 * autoscaling policy, that one is woken: the request is held through its cold start like a call by
 * the deployment's own name (cold-start.ts). Failover and overflow only ever go to another
 * candidate; when none is left, the request is refused with every member's reason — never sent to a
 * region its policy refuses.
 *
 * The table is loaded with the rest of the gateway's state (full refresh) and reloaded per
 * organisation on NOTIFY `enclave_model_routes`. A name that is a deployment's never gets here:
 * resolution costs one more map lookup for names that are neither.
 */
import type pg from "pg";
import { classTooHighReason, MODEL_ROUTES_CHANNEL, type ModelRouteMode } from "../../lib/model-routes";
import { ERRORS, gatewayError, type GatewayErrorBody } from "./errors";
import { DATA_CLASSIFICATIONS } from "../../lib/limits";
import type { DataClass, GatewayState, KeyEntry, Route } from "./state";
import type { RequestTrace } from "./tracing";

export { MODEL_ROUTES_CHANNEL };

export interface ModelRouteEntry {
  id: string;
  orgId: string;
  name: string;
  mode: ModelRouteMode;
  dataClass: DataClass;
  maxInFlightPerReplica: number;
  createdAtSec: number;
  /** In preference order. */
  members: { deploymentId: string; weight: number }[];
}

type ModelRouteRow = Omit<ModelRouteEntry, "members"> & { members: ModelRouteEntry["members"] | null };

const SELECT = `SELECT mr.id, mr."orgId", mr.name, mr.mode::text AS mode, mr."dataClassification"::text AS "dataClass", mr."maxInFlightPerReplica",
  floor(extract(epoch from mr."createdAt"))::float8 AS "createdAtSec",
  (SELECT json_agg(json_build_object('deploymentId', m."deploymentId", 'weight', m.weight) ORDER BY m.position) FROM "ModelRouteMember" m WHERE m."modelRouteId" = mr.id) AS members
FROM "ModelRoute" mr`;

type Log = (level: "info" | "warn" | "error", message: string, fields?: Record<string, unknown>) => void;

/** orgId → (route name → route), each organisation replaced whole, never by an older load. */
export class ModelRouteTable {
  private readonly byOrg = new Map<string, { routes: Map<string, ModelRouteEntry>; seq: number }>();
  private seq = 0;
  private pending = new Set<string>();

  get(orgId: string, name: string): ModelRouteEntry | undefined {
    return this.byOrg.get(orgId)?.routes.get(name);
  }

  forOrg(orgId: string): Iterable<ModelRouteEntry> {
    return this.byOrg.get(orgId)?.routes.values() ?? [];
  }

  private group(rows: ModelRouteRow[]) {
    const byOrg = new Map<string, Map<string, ModelRouteEntry>>();
    for (const r of rows) {
      let routes = byOrg.get(r.orgId);
      if (!routes) byOrg.set(r.orgId, (routes = new Map()));
      routes.set(r.name, { ...r, members: r.members ?? [] });
    }
    return byOrg;
  }

  private set(orgId: string, routes: Map<string, ModelRouteEntry> | undefined, seq: number) {
    const existing = this.byOrg.get(orgId);
    if (existing && existing.seq > seq) return;
    // An empty entry rather than none, so that an older, slower load cannot bring removed routes back.
    this.byOrg.set(orgId, { routes: routes ?? new Map(), seq });
  }

  async loadAll(pool: pg.Pool) {
    const seq = ++this.seq;
    const { rows } = await pool.query<ModelRouteRow>(SELECT);
    const byOrg = this.group(rows);
    for (const [orgId, routes] of byOrg) this.set(orgId, routes, seq);
    for (const orgId of this.byOrg.keys()) if (!byOrg.has(orgId)) this.set(orgId, undefined, seq);
  }

  /** On NOTIFY: payloads of one tick reloaded in one query, retried with backoff (the full refresh is the safety net). */
  reloadSoon(pool: pg.Pool, orgId: string, log: Log, closed: () => boolean) {
    if (this.pending.size === 0) {
      setImmediate(() => {
        const orgIds = [...this.pending];
        this.pending.clear();
        void this.reload(pool, orgIds, log, closed);
      });
    }
    this.pending.add(orgId);
  }

  private async reload(pool: pg.Pool, orgIds: string[], log: Log, closed: () => boolean, attempt = 0): Promise<void> {
    const seq = ++this.seq;
    try {
      const { rows } = await pool.query<ModelRouteRow>(`${SELECT} WHERE mr."orgId" = ANY($1::text[])`, [orgIds]);
      const byOrg = this.group(rows);
      for (const orgId of orgIds) this.set(orgId, byOrg.get(orgId), seq);
    } catch (error) {
      log("warn", "gateway model route reload failed", { error: String(error), attempt });
      if (attempt < 5 && !closed()) setTimeout(() => void this.reload(pool, orgIds, log, closed, attempt + 1), 100 * 2 ** attempt).unref();
    }
  }
}

/** The member chosen for a request, the compliant members left for failover, and the route's facts for the trace. */
export interface ModelRoutePick {
  modelRoute: ModelRouteEntry;
  dataClass: DataClass;
  route: Route;
  /** Other compliant, healthy members, best first: where a failure before the first byte goes next. */
  fallbacks: Route[];
}

type Judged = {
  route: Route | undefined;
  deploymentId: string;
  weight: number;
  refused: string[];
  healthy: boolean;
  saturated: boolean;
  /** Compliant, no replica, and its autoscaling holds requests for a cold start: it can be woken. */
  asleep: boolean;
  label: string;
};

/** Whether a request held for `route` would wake it from zero (ColdStart.holds); none by default. */
export type Wakeable = (route: Route) => boolean;
const never: Wakeable = () => false;

const routable = (r: Route) => r.desiredState === "RUNNING" && r.replicas.length > 0;

/** One member against this request: may it take the data class, is it up, has it room; with the sentence the trace shows. */
function judge(state: GatewayState, entry: KeyEntry, mr: ModelRouteEntry, member: { deploymentId: string; weight: number }, dataClass: DataClass, now: number, wakeable: Wakeable = never): Judged {
  const route = state.routesById.get(member.deploymentId);
  if (!route || route.orgId !== mr.orgId) {
    return { route: undefined, deploymentId: member.deploymentId, weight: member.weight, refused: ["the deployment is deleted"], healthy: false, saturated: false, asleep: false, label: `${member.deploymentId}: skipped: the deployment is deleted` };
  }
  const refused: string[] = [];
  if (entry.allowed && !entry.allowed.has(route.id)) refused.push("this API key may not call the deployment");
  const tooHigh = classTooHighReason(dataClass, route.dataClass);
  if (tooHigh) refused.push(tooHigh);
  const verdict = state.verdict(route, dataClass);
  if (!verdict.allowed) refused.push(...verdict.reasons);
  const where = `${route.name} (${route.region.code})`;
  if (refused.length > 0) return { route, deploymentId: route.id, weight: member.weight, refused, healthy: false, saturated: false, asleep: false, label: `${where}: refused: ${refused.join("; ")}` };
  let healthyReplicas = 0;
  let full = 0;
  let inFlight = 0;
  if (routable(route)) {
    for (const r of route.replicas) {
      if (r.unhealthyUntil > now) continue;
      healthyReplicas++;
      inFlight += r.inFlight;
      if (r.inFlight >= mr.maxInFlightPerReplica) full++;
    }
  }
  if (healthyReplicas === 0) {
    if (route.replicas.length === 0 && wakeable(route)) {
      return { route, deploymentId: route.id, weight: member.weight, refused, healthy: false, saturated: false, asleep: true, label: `${where}: allowed, scaled to zero by its autoscaling` };
    }
    const why = !routable(route) ? `no replica ready (phase ${route.phase})` : "every replica failed recently";
    return { route, deploymentId: route.id, weight: member.weight, refused, healthy: false, saturated: false, asleep: false, label: `${where}: allowed, down: ${why}` };
  }
  const saturated = full === healthyReplicas;
  const load = `${inFlight} in flight on ${healthyReplicas} replica(s), limit ${mr.maxInFlightPerReplica} each`;
  return { route, deploymentId: route.id, weight: member.weight, refused, healthy: true, saturated, asleep: false, label: `${where}: allowed, ${saturated ? "saturated" : "has room"}: ${load}` };
}

const loadOf = (j: Judged) => {
  let sum = 0;
  for (const r of j.route!.replicas) sum += r.inFlight;
  return sum / j.route!.replicas.length;
};

/** The refusal when no member may take the request now: 403 when none may ever (policy), 503 when the compliant ones are down. */
function noMember(mr: ModelRouteEntry, dataClass: DataClass, judged: Judged[]): GatewayErrorBody {
  const why = judged.map((j) => j.label).join(" | ");
  if (judged.every((j) => j.refused.length > 0)) {
    return gatewayError(
      403,
      "permission_error",
      "residency_policy_violation",
      `No deployment of the route \`${mr.name}\` may take ${dataClass} data under your organisation's residency policy: ${why}.`,
      "X-Data-Classification",
    );
  }
  return gatewayError(503, "server_error", "no_compliant_deployment", `No deployment of the route \`${mr.name}\` that may take ${dataClass} data can serve now; it is not sent elsewhere: ${why}. Retry shortly.`, null, 2);
}

function traceSpan(t: RequestTrace, started: number, mr: ModelRouteEntry, dataClass: DataClass, judged: Judged[], chosen: Route | null, reason: string, error: GatewayErrorBody | null, attempt: number) {
  const attributes: Record<string, string | number | string[]> = {
    "enclave.model_route.id": mr.id,
    "enclave.model_route.name": mr.name,
    "enclave.model_route.mode": mr.mode,
    "enclave.data_class": dataClass,
    "enclave.model_route.candidates": judged.map((j) => j.label),
    "enclave.model_route.reason": reason,
    "enclave.route.attempt": attempt,
  };
  if (chosen) {
    attributes["enclave.deployment.id"] = chosen.id;
    attributes["enclave.deployment.name"] = chosen.name;
    attributes["enclave.region.code"] = chosen.region.code;
  }
  if (error) attributes["error.type"] = error.code ?? error.type;
  t.span("model_route", "internal", started, performance.now(), error ? "error" : "ok", attributes);
}

/** Weighted choice among members with room (WEIGHTED mode). */
function weighted(list: Judged[]): Judged {
  let total = 0;
  for (const j of list) total += j.weight;
  let x = Math.random() * total;
  for (const j of list) if ((x -= j.weight) < 0) return j;
  return list[list.length - 1];
}

/**
 * Resolves `name` for this request: null when the organisation has no route of that name, an error
 * to answer when no member may take it, else the member to call (one at zero replicas when only a
 * sleeping member is left: the caller holds the request for its cold start). Writes the
 * `model_route` span.
 */
export function pickModelRoute(
  state: GatewayState,
  t: RequestTrace,
  entry: KeyEntry,
  name: string,
  header: string | string[] | undefined,
  wakeable: Wakeable = never,
): ModelRoutePick | GatewayErrorBody | null {
  const mr = state.modelRoutes.get(entry.orgId, name);
  if (!mr) return null;
  let dataClass = mr.dataClass;
  if (header !== undefined) {
    const requested = (Array.isArray(header) ? header[0] : header).trim().toUpperCase();
    if (!(DATA_CLASSIFICATIONS as readonly string[]).includes(requested)) return ERRORS.badClassification;
    dataClass = requested as DataClass;
  }
  const started = performance.now();
  const judged = mr.members.map((m) => judge(state, entry, mr, m, dataClass, started, wakeable));
  const candidates = judged.filter((j) => j.healthy);
  const room = candidates.filter((j) => !j.saturated);
  let chosen: Judged;
  let reason: string;
  if (room.length > 0) {
    chosen = mr.mode === "WEIGHTED" ? weighted(room) : room[0];
    const passed = judged.slice(0, judged.indexOf(chosen)).filter((j) => j.refused.length === 0);
    reason =
      mr.mode === "WEIGHTED"
        ? `weighted choice among ${room.length} compliant member(s) with room`
        : passed.length === 0
          ? "first compliant member in preference order, with room"
          : `overflow: ${passed.map((j) => j.route!.name).join(", ")} ${passed.length === 1 ? "is" : "are"} saturated or down`;
  } else if (candidates.length > 0) {
    // Every compliant member is saturated: the request waits in the least loaded one's queue rather than going elsewhere.
    chosen = candidates.reduce((best, j) => (loadOf(j) < loadOf(best) ? j : best));
    reason = "every compliant member is saturated: queued on the least loaded";
  } else if (judged.some((j) => j.asleep)) {
    // Nothing compliant is up, but a member scaled to zero can be woken: held for its cold start.
    const asleep = judged.filter((j) => j.asleep);
    chosen = mr.mode === "WEIGHTED" ? weighted(asleep) : asleep[0];
    reason = `no compliant member has a replica up: waking ${chosen.route!.name} from zero (cold start)`;
  } else {
    const e = noMember(mr, dataClass, judged);
    t.dataClass = dataClass;
    traceSpan(t, started, mr, dataClass, judged, null, "no compliant member can take the request", e, 1);
    return e;
  }
  const fallbacks = [...room, ...candidates.filter((j) => j.saturated)].filter((j) => j !== chosen).map((j) => j.route!);
  traceSpan(t, started, mr, dataClass, judged, chosen.route!, reason, null, 1);
  return { modelRoute: mr, dataClass, route: chosen.route!, fallbacks };
}

/**
 * After `failed` failed before any byte reached the client: the next compliant member that is
 * still healthy, with its `model_route` span; or the refusal to answer when none is left.
 */
export function failoverModelRoute(state: GatewayState, t: RequestTrace, entry: KeyEntry, pick: ModelRoutePick, failed: Route, attempt: number): Route | GatewayErrorBody {
  const started = performance.now();
  const mr = pick.modelRoute;
  while (pick.fallbacks.length > 0) {
    const next = pick.fallbacks.shift()!;
    const j = judge(state, entry, mr, { deploymentId: next.id, weight: 1 }, pick.dataClass, started);
    if (!j.healthy) continue;
    traceSpan(t, started, mr, pick.dataClass, [j], next, `failover: ${failed.name} failed before answering`, null, attempt);
    pick.route = next;
    return next;
  }
  const judged = mr.members.map((m) => judge(state, entry, mr, m, pick.dataClass, started));
  const e = noMember(mr, pick.dataClass, judged);
  traceSpan(t, started, mr, pick.dataClass, judged, null, `failover: ${failed.name} failed and no other compliant member is healthy`, e, attempt);
  return e;
}

/** `GET /v1/models`: the organisation's routes with at least one member this key may call that is running. */
export function listedModelRoutes(state: GatewayState, entry: KeyEntry, only: string | null): ModelRouteEntry[] {
  const out: ModelRouteEntry[] = [];
  for (const mr of state.modelRoutes.forOrg(entry.orgId)) {
    if (only !== null && mr.name !== only) continue;
    const any = mr.members.some((m) => {
      const r = state.routesById.get(m.deploymentId);
      return r !== undefined && r.orgId === mr.orgId && r.desiredState === "RUNNING" && (!entry.allowed || entry.allowed.has(r.id));
    });
    if (any) out.push(mr);
  }
  return out;
}
