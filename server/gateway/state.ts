/**
 * What the gateway knows, in memory: API keys by prefix, organisations' status, and the route
 * table (organisation + deployment name → ready replicas, region facts, residency verdicts).
 *
 * Kept fresh by PostgreSQL LISTEN/NOTIFY (`enclave_api_keys`: reload that key; `enclave_routes`:
 * reload that deployment; `enclave_guardrails`: reload that organisation's guardrail policies;
 * `enclave_residency`: reload that organisation's residency policies and re-judge its routes), a
 * one-query poll every second for the rarer changes nobody notifies
 * (organisation status, residency policies, regions), and a full refresh as a safety net. Every
 * load takes a sequence number when it starts; a result never overwrites an entry loaded by a load
 * that started later, so a slow full refresh cannot resurrect a key revoked meanwhile.
 */
import pg from "pg";
import { DEFAULT_EFFECTIVE_GUARDRAILS, organizationGuardrails, storedRules, withOverrides, type GuardrailRuleOverrides } from "../guardrails/policy";
import type { EffectiveGuardrails } from "../guardrails/types";
import { GATEWAY_CHANNELS } from "../services/api-key-secrets";
import { evaluateResidency, type RegionFacts, type ResidencyPolicyRule, type ResidencyVerdict } from "../services/policy";
import { NO_TOKEN_CHARGE, tokenPriceOf, type TokenPrice } from "../services/pricing";
import type { Attributes } from "./trace";
import { sharedAttributes } from "./tracing";
import { MODEL_ROUTES_CHANNEL, ModelRouteTable } from "./model-routes";

export type DataClass = "PUBLIC" | "INTERNAL" | "CONFIDENTIAL" | "RESTRICTED";
export const DATA_CLASS_RANK: Record<DataClass, number> = { PUBLIC: 0, INTERNAL: 1, CONFIDENTIAL: 2, RESTRICTED: 3 };

export interface KeyEntry {
  id: string;
  orgId: string;
  name: string;
  prefix: string;
  previousPrefix: string | null;
  secretHash: Buffer;
  previousSecretHash: Buffer | null;
  /** Epoch ms; 0 when there is no previous secret. */
  previousSecretExpiresAt: number;
  inference: boolean;
  read: boolean;
  /** Deployment ids this key may call; null means all of the organisation's. */
  allowed: Set<string> | null;
  /** Epoch ms; Infinity when the key never expires. */
  expiresAt: number;
  revoked: boolean;
  rateLimitRpm: number | null;
  rateLimitTpm: number | null;
  monthlyBudgetCents: number | null;
  /** The organisation keeps prompts and completions in this key's traces. */
  captureContent: boolean;
  /** The `auth` span's attributes (id, name, prefix, scopes), built once per load. */
  traceAttributes: Attributes;
  loadSeq: number;
}

export interface Replica {
  id: string;
  endpoint: string;
  host: string;
  port: number;
  inFlight: number;
  /** performance.now() until which the replica is skipped after a failure. */
  unhealthyUntil: number;
  failures: number;
  /** The `route` span's attributes when this replica is chosen (attempt 1), rebuilt with its route. */
  traceAttributes: Attributes;
}

export interface Route {
  id: string;
  orgId: string;
  name: string;
  phase: string;
  desiredState: string;
  dataClass: DataClass;
  createdAtSec: number;
  region: RegionFacts;
  priceCentsPerGpuHour: number | null;
  tokenPrice: TokenPrice;
  /** The catalog model's context, in tokens: the most `max_tokens` a request may ask for. */
  contextLength: number;
  /** The catalog model's runtime (LLAMA_CPP, VLLM, TGI): what request options it serves. */
  runtime: string;
  replicas: Replica[];
  /** Residency verdict per data class, computed once per load with the organisation's policies. */
  verdicts: Partial<Record<DataClass, ResidencyVerdict>>;
  /** The `residency` span's attributes per data class, with the verdict. */
  residencyAttributes: Partial<Record<DataClass, Attributes>>;
  /** Round-robin cursor for replica selection. */
  cursor: number;
  loadSeq: number;
}

export interface OrgEntry {
  active: boolean;
  reason: string | null;
  name: string;
  /** The organisation's monthly budget in cents when it is hard (refused at 100 %, docs/budgets.md); null otherwise. */
  hardBudgetCents: number | null;
}

type Log = (level: "info" | "warn" | "error", message: string, fields?: Record<string, unknown>) => void;

/** One organisation's guardrail policies (docs/guardrails.md, "Policies"), with the effective result per (deployment, key) resolved once. */
interface OrgGuardrails {
  base: EffectiveGuardrails;
  deployments: Map<string, GuardrailRuleOverrides>;
  keys: Map<string, GuardrailRuleOverrides>;
  /** "<deploymentId>\n<apiKeyId>" (either "" when it has no override) → effective; dropped with the entry on reload. */
  resolved: Map<string, EffectiveGuardrails>;
  loadSeq: number;
}

interface GuardrailRow {
  orgId: string;
  deploymentId: string | null;
  apiKeyId: string | null;
  rules: unknown;
  piiTypes: string[] | null;
  judge: unknown;
  groundedThreshold: number | null;
}

const GUARDRAIL_SELECT = `SELECT "orgId", "deploymentId", "apiKeyId", rules, "piiTypes", judge, "groundedThreshold" FROM "GuardrailPolicy"`;
/** Resolved (deployment, key) pairs kept per organisation before the cache starts over. */
const GUARDRAIL_RESOLVED_MAX = 4096;

const KEY_COLUMNS = `k.id, k."orgId", k.name, k."captureContent", k.prefix, k."secretHash", k."previousSecretHash",
  floor(extract(epoch from k."previousSecretExpiresAt") * 1000)::float8 AS "previousSecretExpiresAt",
  COALESCE(k.scopes, '{}') AS scopes, COALESCE(k."allowedDeploymentIds", '{}') AS "allowedDeploymentIds", floor(extract(epoch from k."expiresAt") * 1000)::float8 AS "expiresAt",
  k."rateLimitRpm", k."rateLimitTpm", k."monthlyBudgetCents", (k."revokedAt" IS NOT NULL) AS revoked`;

const ROUTE_SELECT = `SELECT d.id, d."orgId", d.name, d.phase::text AS phase, d."desiredState"::text AS "desiredState",
  d."dataClassification"::text AS "dataClass", floor(extract(epoch from d."createdAt"))::float8 AS "createdAtSec",
  r.id AS "regionId", r.code AS "regionCode", r.jurisdiction, COALESCE(r.certifications, '{}') AS certifications, r."extraterritorialExposure",
  rc."priceCentsPerGpuHour", m."contextLength", m.runtime::text AS runtime,
  m."inputMicroEurPerMillionTokens", m."outputMicroEurPerMillionTokens",
  d.revision, m."artifactUri", m."artifactSha256", pm."artifactUri" AS "previousArtifactUri", pm."artifactSha256" AS "previousArtifactSha256"
FROM "Deployment" d
JOIN "Region" r ON r.id = d."regionId"
JOIN "CatalogModel" m ON m.id = d."catalogModelId"
LEFT JOIN "CatalogModel" pm ON pm.id = d."previousModelId"
LEFT JOIN "RegionCapacity" rc ON rc."regionId" = d."regionId" AND rc."gpuTypeId" = d."gpuTypeId"
WHERE d."deletedAt" IS NULL AND d.phase <> 'DELETED'`;

// Changes nobody notifies (organisation status, regions and their prices), residency policies (notified
// on `enclave_residency`: this is the safety net for a lost NOTIFY or a row written by hand; a removal
// changes the count), and the number of revoked keys: a revocation whose NOTIFY was lost still lands within a second.
const FINGERPRINT_SQL = `SELECT concat_ws('|',
  (SELECT max("updatedAt") || ':' || count(*) FROM "Organization"),
  (SELECT max("updatedAt") || ':' || count(*) FROM "ResidencyPolicy"),
  (SELECT max("updatedAt") || ':' || count(*) FROM "Region"),
  (SELECT max("updatedAt") || ':' || count(*) FROM "RegionCapacity"),
  (SELECT max("updatedAt") || ':' || count(*) FROM "CatalogModel")) AS f,
  (SELECT count(*) FROM "ApiKey" WHERE "revokedAt" IS NOT NULL)::text AS revoked,
  (SELECT concat_ws(':', max("updatedAt"), count(*)) FROM "GuardrailPolicy") AS guardrails`;

const POLICY_SELECT = `SELECT "orgId", "dataClassification"::text AS "dataClassification", COALESCE("allowedJurisdictions", '{}') AS "allowedJurisdictions",
  COALESCE("requiredCertifications", '{}') AS "requiredCertifications", COALESCE("allowedRegionIds", '{}') AS "allowedRegionIds", "allowExtraterritorial"
FROM "ResidencyPolicy"`;

function policiesByOrg(rows: (ResidencyPolicyRule & { orgId: string })[]): Map<string, Map<DataClass, ResidencyPolicyRule>> {
  const byOrg = new Map<string, Map<DataClass, ResidencyPolicyRule>>();
  for (const p of rows) {
    let forOrg = byOrg.get(p.orgId);
    if (!forOrg) byOrg.set(p.orgId, (forOrg = new Map()));
    forOrg.set(p.dataClassification as DataClass, p);
  }
  return byOrg;
}

interface KeyRow {
  id: string;
  orgId: string;
  name: string;
  captureContent: boolean;
  prefix: string;
  previousPrefix?: string | null;
  secretHash: string;
  previousSecretHash: string | null;
  previousSecretExpiresAt: number | null;
  scopes: string[];
  allowedDeploymentIds: string[];
  expiresAt: number | null;
  rateLimitRpm: number | null;
  rateLimitTpm: number | null;
  monthlyBudgetCents: number | null;
  revoked: boolean;
}

interface RouteRow {
  id: string;
  orgId: string;
  name: string;
  phase: string;
  desiredState: string;
  dataClass: DataClass;
  createdAtSec: number;
  regionId: string;
  regionCode: string;
  jurisdiction: string;
  certifications: string[];
  extraterritorialExposure: boolean;
  priceCentsPerGpuHour: number | null;
  contextLength: number;
  runtime: string;
  inputMicroEurPerMillionTokens: number;
  outputMicroEurPerMillionTokens: number;
  revision: number;
  artifactUri: string;
  artifactSha256: string | null;
  previousArtifactUri: string | null;
  previousArtifactSha256: string | null;
}

/** A ready replica as loaded: its revision and the cluster's handle on it (DeploymentReplica.clusterRef). */
interface ReplicaRow {
  id: string;
  deploymentId: string;
  endpoint: string;
  revision: number;
  clusterRef: string | null;
}

const REPLICA_COLUMNS = `id, "deploymentId", endpoint, revision, "clusterRef"`;

/**
 * The `route` span's attributes for a replica. A replica of the deployment's current revision runs
 * its catalog model; one of an earlier revision (a rolling update or rollback in progress) runs the
 * model of the revision before (Deployment.previousModelId).
 */
function routeAttributes(row: RouteRow, r: ReplicaRow): Attributes {
  const current = r.revision === row.revision || row.previousArtifactUri === null;
  const uri = current ? row.artifactUri : row.previousArtifactUri!;
  const sha256 = current ? row.artifactSha256 : row.previousArtifactSha256;
  const a: Attributes = {
    "enclave.region.id": row.regionId,
    "enclave.region.code": row.regionCode,
    "enclave.deployment.id": row.id,
    "enclave.deployment.name": row.name,
    "enclave.deployment.revision": r.revision,
    "enclave.replica.id": r.id,
  };
  if (r.clusterRef) a["enclave.cluster.ref"] = r.clusterRef;
  a["enclave.artifact.uri"] = uri;
  if (sha256) a["enclave.artifact.sha256"] = sha256;
  a["enclave.route.attempt"] = 1;
  return sharedAttributes(a);
}

const hexBuffer = (hex: string | null) => (hex && /^[0-9a-f]{64}$/i.test(hex) ? Buffer.from(hex, "hex") : hex ? Buffer.alloc(32, 0xff) : null);

/** The key's secret check, on the digests computed once per load: the one rule, in api-key-secrets.ts. */
export { secretAccepted } from "../services/api-key-secrets";


/** Collects ids queued during one tick of the event loop and hands them over together. */
function batchPerTick(flush: (ids: string[]) => void): (id: string) => void {
  const pending = new Set<string>();
  return (id) => {
    if (pending.size === 0) {
      setImmediate(() => {
        const ids = [...pending];
        pending.clear();
        flush(ids);
      });
    }
    pending.add(id);
  };
}

export class GatewayState {
  readonly keysByPrefix = new Map<string, KeyEntry>();
  readonly keysById = new Map<string, KeyEntry>();
  readonly orgs = new Map<string, OrgEntry>();
  /** orgId → (deployment name → route). */
  readonly routesByOrg = new Map<string, Map<string, Route>>();
  readonly routesById = new Map<string, Route>();
  /** The organisations' routes (`ModelRoute`, docs/routes.md): model names served by several deployments. */
  readonly modelRoutes = new ModelRouteTable();
  private readonly replicaState = new Map<string, Replica>();
  private policies = new Map<string, Map<DataClass, ResidencyPolicyRule>>();
  /** orgId → guardrail policies; an organisation absent here has none of its own (DEFAULT_EFFECTIVE_GUARDRAILS). */
  private readonly guardrails = new Map<string, OrgGuardrails>();
  private guardrailFingerprint = "";

  private seq = 0;
  private hasPreviousPrefix = false;
  private fingerprint = "";
  private revokedCount = "";
  private listener: pg.Client | null = null;
  private listenerRetry = 0;
  private timers: NodeJS.Timeout[] = [];
  private closed = false;
  // NOTIFY payloads arriving in the same tick are reloaded in one query.
  private readonly keyReloads = batchPerTick((ids) => void this.reloadKeys(ids));
  private readonly routeReloads = batchPerTick((ids) => void this.reloadRoutes(ids));
  private readonly guardrailReloads = batchPerTick((orgIds) => void this.reloadGuardrails(orgIds));
  private readonly residencyReloads = batchPerTick((orgIds) => void this.reloadResidencyPolicies(orgIds));
  /** The load sequence number of the last full policy load, and of the last per-organisation reload that applied. */
  private policiesLoadSeq = 0;
  private readonly orgPoliciesLoadSeq = new Map<string, number>();
  /** Prefixes looked up and not found, with when to forget them (protects the database from guessing). */
  private missing = new Map<string, number>();
  private missLookups = new Map<string, Promise<KeyEntry | undefined>>();
  /** Called with a key id whose configuration (limits, budget) was reloaded. */
  onKeyReloaded: (entry: KeyEntry) => void = () => {};
  /** Called when an organisation's hard budget changed, was removed or became soft (undefined: the organisation is gone). */
  onOrgBudgetChanged: (orgId: string, org: OrgEntry | undefined) => void = () => {};

  constructor(
    private readonly pool: pg.Pool,
    private readonly options: { databaseUrl: string; pollMs: number; fullRefreshMs: number; tokenPrice?: TokenPrice; log: Log },
  ) {}

  async start() {
    await this.fullRefresh();
    if (!this.listener) await this.connectListener();
    const poll = setInterval(() => void this.pollFingerprint(), this.options.pollMs);
    const full = setInterval(() => void this.fullRefresh().catch((error) => this.options.log("warn", "gateway full refresh failed", { error: String(error) })), this.options.fullRefreshMs);
    poll.unref();
    full.unref();
    this.timers.push(poll, full);
  }

  async close() {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    const listener = this.listener;
    this.listener = null;
    await listener?.end().catch(() => {});
  }

  // ---- keys ----

  /** The key row for a prefix not in memory: one indexed lookup, remembered when absent. */
  lookupPrefix(prefix: string): Promise<KeyEntry | undefined> | undefined {
    const forgetAt = this.missing.get(prefix);
    if (forgetAt !== undefined) {
      if (forgetAt > Date.now()) return undefined;
      this.missing.delete(prefix);
    }
    const inFlight = this.missLookups.get(prefix);
    if (inFlight) return inFlight;
    // Bounded: a flood of random prefixes costs at most a few concurrent queries.
    if (this.missLookups.size >= 8) return undefined;
    const seq = ++this.seq;
    const where = this.hasPreviousPrefix ? `k.prefix = $1 OR k."previousPrefix" = $1` : `k.prefix = $1`;
    const lookup = this.pool
      .query<KeyRow>(`SELECT ${this.keyColumns()} FROM "ApiKey" k WHERE ${where}`, [prefix])
      .then(
        (result) => {
          if (result.rows.length === 0) {
            if (this.missing.size > 100_000) this.missing.clear();
            this.missing.set(prefix, Date.now() + 2000);
            return undefined;
          }
          for (const row of result.rows) this.setKey(row, seq);
          return this.keysByPrefix.get(prefix);
        },
        (error) => {
          this.options.log("warn", "gateway key lookup failed", { error: String(error) });
          return undefined;
        },
      )
      .finally(() => this.missLookups.delete(prefix));
    this.missLookups.set(prefix, lookup);
    return lookup;
  }

  private keyColumns() {
    return this.hasPreviousPrefix ? `${KEY_COLUMNS}, k."previousPrefix"` : KEY_COLUMNS;
  }

  private setKey(row: KeyRow, seq: number) {
    const existing = this.keysById.get(row.id);
    if (existing && existing.loadSeq > seq) return;
    if (existing) this.dropKeyMappings(existing);
    const scopes = row.scopes ?? [];
    const entry: KeyEntry = {
      id: row.id,
      orgId: row.orgId,
      name: row.name,
      prefix: row.prefix,
      previousPrefix: row.previousPrefix ?? null,
      secretHash: hexBuffer(row.secretHash)!,
      previousSecretHash: hexBuffer(row.previousSecretHash),
      previousSecretExpiresAt: row.previousSecretExpiresAt ?? 0,
      inference: scopes.includes("inference"),
      read: scopes.includes("read"),
      allowed: row.allowedDeploymentIds && row.allowedDeploymentIds.length > 0 ? new Set(row.allowedDeploymentIds) : null,
      expiresAt: row.expiresAt ?? Infinity,
      revoked: row.revoked,
      rateLimitRpm: row.rateLimitRpm,
      rateLimitTpm: row.rateLimitTpm,
      monthlyBudgetCents: row.monthlyBudgetCents,
      captureContent: row.captureContent === true,
      traceAttributes: sharedAttributes({ "enclave.api_key.id": row.id, "enclave.api_key.name": row.name, "enclave.api_key.prefix": row.prefix, "enclave.api_key.scopes": scopes }),
      loadSeq: seq,
    };
    this.keysById.set(entry.id, entry);
    this.keysByPrefix.set(entry.prefix, entry);
    if (entry.previousPrefix) this.keysByPrefix.set(entry.previousPrefix, entry);
    this.missing.delete(entry.prefix);
    if (
      !existing ||
      existing.rateLimitRpm !== entry.rateLimitRpm ||
      existing.rateLimitTpm !== entry.rateLimitTpm ||
      existing.monthlyBudgetCents !== entry.monthlyBudgetCents ||
      existing.revoked !== entry.revoked
    ) {
      this.onKeyReloaded(entry);
    }
  }

  private dropKeyMappings(entry: KeyEntry) {
    if (this.keysByPrefix.get(entry.prefix) === entry) this.keysByPrefix.delete(entry.prefix);
    if (entry.previousPrefix && this.keysByPrefix.get(entry.previousPrefix) === entry) this.keysByPrefix.delete(entry.previousPrefix);
  }

  private deleteKey(id: string, seq: number) {
    const existing = this.keysById.get(id);
    if (!existing || existing.loadSeq > seq) return;
    this.dropKeyMappings(existing);
    this.keysById.delete(id);
  }

  async reloadKeys(ids: string[], attempt = 0): Promise<void> {
    const seq = ++this.seq;
    try {
      const { rows } = await this.pool.query<KeyRow>(`SELECT ${this.keyColumns()} FROM "ApiKey" k WHERE k.id = ANY($1::text[])`, [ids]);
      const found = new Set<string>();
      for (const row of rows) {
        found.add(row.id);
        this.setKey(row, seq);
      }
      for (const id of ids) if (!found.has(id)) this.deleteKey(id, seq);
    } catch (error) {
      // A revocation must not be lost to a transient error: retry, then the full refresh catches it.
      this.options.log("warn", "gateway key reload failed", { error: String(error), attempt });
      if (attempt < 5 && !this.closed) setTimeout(() => void this.reloadKeys(ids, attempt + 1), 100 * 2 ** attempt).unref();
    }
  }

  private async loadAllKeys() {
    const seq = ++this.seq;
    const { rows } = await this.pool.query<KeyRow>(`SELECT ${this.keyColumns()} FROM "ApiKey" k WHERE k."revokedAt" IS NULL`);
    const seen = new Set<string>();
    for (const row of rows) {
      seen.add(row.id);
      this.setKey(row, seq);
    }
    for (const [id, entry] of this.keysById) if (!seen.has(id) && entry.loadSeq < seq) this.deleteKey(id, seq);
  }

  // ---- organisations, policies, routes ----

  private async loadOrgsAndPolicies() {
    const seq = ++this.seq;
    const [orgs, policies] = await Promise.all([
      this.pool.query<{ id: string; status: string; statusReason: string | null; name: string; hardBudgetCents: number | null }>(
        `SELECT id, status::text AS status, "statusReason", name, CASE WHEN "budgetMode" = 'HARD' THEN "monthlyBudgetCents" END AS "hardBudgetCents" FROM "Organization"`,
      ),
      this.pool.query<ResidencyPolicyRule & { orgId: string }>(POLICY_SELECT),
    ]);
    const orgMap = new Map<string, OrgEntry>();
    for (const o of orgs.rows) orgMap.set(o.id, { active: o.status === "ACTIVE", reason: o.statusReason, name: o.name, hardBudgetCents: o.hardBudgetCents });
    const policyMap = policiesByOrg(policies.rows);
    // An organisation reloaded on NOTIFY by a load that started after this one keeps what that load found.
    for (const [orgId, orgSeq] of this.orgPoliciesLoadSeq) {
      if (orgSeq <= seq) continue;
      const newer = this.policies.get(orgId);
      if (newer) policyMap.set(orgId, newer);
      else policyMap.delete(orgId);
    }
    this.orgPoliciesLoadSeq.clear();
    this.policiesLoadSeq = seq;
    const budgetChanged = [...this.orgs].filter(([id, o]) => o.hardBudgetCents !== (orgMap.get(id)?.hardBudgetCents ?? null)).map(([id]) => id);
    // Replace in place: readers hold the maps, not copies.
    this.orgs.clear();
    for (const [id, o] of orgMap) this.orgs.set(id, o);
    for (const id of budgetChanged) this.onOrgBudgetChanged(id, orgMap.get(id));
    this.policies = policyMap;
    // Verdicts are cached per route and computed from these policies: forget them all, so that no
    // route keeps an old verdict — the rebuild that follows may keep a route a newer per-deployment
    // load wrote (its loadSeq), with the verdicts it had cached (a policy removal was not seen).
    for (const route of this.routesById.values()) route.verdicts = {};
  }

  /**
   * One organisation's residency policies, on NOTIFY `enclave_residency` (a policy saved or removed):
   * replaced, and the verdicts of its routes forgotten so the next request is judged by them.
   */
  async reloadResidencyPolicies(orgIds: string[], attempt = 0): Promise<void> {
    const seq = ++this.seq;
    try {
      const { rows } = await this.pool.query<ResidencyPolicyRule & { orgId: string }>(`${POLICY_SELECT} WHERE "orgId" = ANY($1::text[])`, [orgIds]);
      const byOrg = policiesByOrg(rows);
      if (this.policiesLoadSeq > seq) return;
      for (const orgId of orgIds) {
        if ((this.orgPoliciesLoadSeq.get(orgId) ?? 0) > seq) continue;
        const policies = byOrg.get(orgId);
        if (policies) this.policies.set(orgId, policies);
        else this.policies.delete(orgId);
        this.orgPoliciesLoadSeq.set(orgId, seq);
        for (const route of this.routesByOrg.get(orgId)?.values() ?? []) {
          route.verdicts = {};
          route.residencyAttributes = {};
        }
      }
    } catch (error) {
      this.options.log("warn", "gateway residency policy reload failed", { error: String(error), attempt });
      if (attempt < 5 && !this.closed) setTimeout(() => void this.reloadResidencyPolicies(orgIds, attempt + 1), 100 * 2 ** attempt).unref();
    }
  }

  private buildRoute(row: RouteRow, replicas: ReplicaRow[], seq: number): Route {
    const route: Route = {
      id: row.id,
      orgId: row.orgId,
      name: row.name,
      phase: row.phase,
      desiredState: row.desiredState,
      dataClass: row.dataClass,
      createdAtSec: row.createdAtSec,
      region: { id: row.regionId, code: row.regionCode, jurisdiction: row.jurisdiction, certifications: row.certifications, extraterritorialExposure: row.extraterritorialExposure },
      priceCentsPerGpuHour: row.priceCentsPerGpuHour,
      // The catalog model's price; the option overrides it (benchmarks, tests).
      tokenPrice: this.options.tokenPrice ?? (row.inputMicroEurPerMillionTokens || row.outputMicroEurPerMillionTokens ? tokenPriceOf(row) : NO_TOKEN_CHARGE),
      contextLength: row.contextLength,
      runtime: row.runtime,
      replicas: [],
      verdicts: {},
      residencyAttributes: {},
      cursor: this.routesById.get(row.id)?.cursor ?? 0,
      loadSeq: seq,
    };
    for (const r of replicas) {
      const replica = this.replica(r.id, r.endpoint);
      if (!replica) continue;
      replica.traceAttributes = routeAttributes(row, r);
      route.replicas.push(replica);
    }
    return route;
  }

  /** Replica objects outlive reloads, so in-flight counts and health marks carry over. */
  private replica(id: string, endpoint: string): Replica | null {
    let replica = this.replicaState.get(id);
    if (replica && replica.endpoint === endpoint) return replica;
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      this.options.log("warn", "gateway ignores a replica with an invalid endpoint", { replicaId: id });
      return null;
    }
    if (url.protocol !== "http:") {
      this.options.log("warn", "gateway only proxies to http:// replica endpoints", { replicaId: id });
      return null;
    }
    replica = { id, endpoint, host: url.hostname.replace(/^\[|\]$/g, ""), port: Number(url.port || 80), inFlight: replica?.inFlight ?? 0, unhealthyUntil: 0, failures: 0, traceAttributes: {} };
    this.replicaState.set(id, replica);
    return replica;
  }

  private setRoute(route: Route) {
    const existing = this.routesById.get(route.id);
    if (existing && existing.loadSeq > route.loadSeq) return;
    if (existing) this.dropRoute(existing);
    this.routesById.set(route.id, route);
    let byName = this.routesByOrg.get(route.orgId);
    if (!byName) this.routesByOrg.set(route.orgId, (byName = new Map()));
    byName.set(route.name, route);
  }

  private dropRoute(route: Route) {
    this.routesById.delete(route.id);
    const byName = this.routesByOrg.get(route.orgId);
    if (byName?.get(route.name) === route) byName.delete(route.name);
  }

  private async loadAllRoutes() {
    const seq = ++this.seq;
    const [deployments, replicas] = await Promise.all([
      this.pool.query<RouteRow>(ROUTE_SELECT),
      this.pool.query<ReplicaRow>(
        `SELECT ${REPLICA_COLUMNS} FROM "DeploymentReplica" WHERE state = 'ready' AND endpoint IS NOT NULL ORDER BY "deploymentId", ordinal, revision`,
      ),
    ]);
    const byDeployment = new Map<string, ReplicaRow[]>();
    for (const r of replicas.rows) {
      let list = byDeployment.get(r.deploymentId);
      if (!list) byDeployment.set(r.deploymentId, (list = []));
      list.push(r);
    }
    const seen = new Set<string>();
    for (const row of deployments.rows) {
      seen.add(row.id);
      this.setRoute(this.buildRoute(row, byDeployment.get(row.id) ?? [], seq));
    }
    for (const [id, route] of this.routesById) if (!seen.has(id) && route.loadSeq < seq) this.dropRoute(route);
    this.pruneReplicaState();
  }

  private pruneReplicaState() {
    const live = new Set<string>();
    for (const route of this.routesById.values()) for (const r of route.replicas) live.add(r.id);
    for (const id of this.replicaState.keys()) if (!live.has(id)) this.replicaState.delete(id);
  }

  async reloadRoutes(ids: string[], attempt = 0): Promise<void> {
    const seq = ++this.seq;
    try {
      const [deployments, replicas] = await Promise.all([
        this.pool.query<RouteRow>(`${ROUTE_SELECT} AND d.id = ANY($1::text[])`, [ids]),
        this.pool.query<ReplicaRow>(
          `SELECT ${REPLICA_COLUMNS} FROM "DeploymentReplica" WHERE "deploymentId" = ANY($1::text[]) AND state = 'ready' AND endpoint IS NOT NULL ORDER BY ordinal, revision`,
          [ids],
        ),
      ]);
      const found = new Set<string>();
      for (const row of deployments.rows) {
        found.add(row.id);
        this.setRoute(this.buildRoute(row, replicas.rows.filter((r) => r.deploymentId === row.id), seq));
      }
      for (const id of ids) {
        const route = this.routesById.get(id);
        if (!found.has(id) && route && route.loadSeq < seq) this.dropRoute(route);
      }
    } catch (error) {
      this.options.log("warn", "gateway route reload failed", { error: String(error), attempt });
      if (attempt < 5 && !this.closed) setTimeout(() => void this.reloadRoutes(ids, attempt + 1), 100 * 2 ** attempt).unref();
    }
  }

  private refreshing: Promise<void> | null = null;

  /** Everything, from scratch: at start, after the listener reconnects, and periodically. */
  fullRefresh(): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        const column = await this.pool.query(
          `SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'ApiKey' AND column_name = 'previousPrefix'`,
        );
        this.hasPreviousPrefix = (column.rowCount ?? 0) > 0;
        const fingerprint = await this.pool.query<{ f: string; revoked: string; guardrails: string }>(FINGERPRINT_SQL);
        await this.loadOrgsAndPolicies();
        await Promise.all([this.loadAllKeys(), this.loadAllRoutes(), this.loadAllGuardrails(), this.modelRoutes.loadAll(this.pool)]);
        this.fingerprint = fingerprint.rows[0].f;
        this.revokedCount = fingerprint.rows[0].revoked;
        this.guardrailFingerprint = fingerprint.rows[0].guardrails;
        if (this.missing.size > 10_000) this.missing.clear();
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  private polling = false;
  private pollFailures = 0;
  private async pollFingerprint() {
    if (this.polling || this.closed) return;
    this.polling = true;
    try {
      const { rows } = await this.pool.query<{ f: string; revoked: string; guardrails: string }>(FINGERPRINT_SQL);
      if (rows[0].revoked !== this.revokedCount) {
        await this.loadAllKeys();
        this.revokedCount = rows[0].revoked;
      }
      // A guardrail change whose NOTIFY was lost (or a row written by hand) still lands within a second.
      if (rows[0].guardrails !== this.guardrailFingerprint) {
        await this.loadAllGuardrails();
        this.guardrailFingerprint = rows[0].guardrails;
      }
      if (rows[0].f !== this.fingerprint) {
        await this.loadOrgsAndPolicies();
        // Policies and region facts change every route's verdicts: rebuild the route table.
        await this.loadAllRoutes();
        // Read before loading: a change made during the loads shows up as a new fingerprint next time.
        this.fingerprint = rows[0].f;
      }
      this.pollFailures = 0;
    } catch (error) {
      // Once per outage, then every 30 s: the poll runs every second.
      if (this.pollFailures++ % 30 === 0) this.options.log("warn", "gateway change poll failed", { error: String(error) });
    } finally {
      this.polling = false;
    }
  }

  // ---- guardrail policies ----

  private buildGuardrails(rows: GuardrailRow[], seq: number): Map<string, OrgGuardrails> {
    const byOrg = new Map<string, OrgGuardrails>();
    const entry = (orgId: string) => {
      let e = byOrg.get(orgId);
      if (!e) byOrg.set(orgId, (e = { base: DEFAULT_EFFECTIVE_GUARDRAILS, deployments: new Map(), keys: new Map(), resolved: new Map(), loadSeq: seq }));
      return e;
    };
    for (const row of rows) {
      const e = entry(row.orgId);
      if (row.apiKeyId) e.keys.set(row.apiKeyId, storedRules(row.rules));
      else if (row.deploymentId) e.deployments.set(row.deploymentId, storedRules(row.rules));
      else e.base = organizationGuardrails(row);
    }
    return byOrg;
  }

  /**
   * Replaces an organisation's entry unless a later load set it. `undefined` (no policy left) leaves
   * an empty entry rather than none, so that a slower, older load cannot bring the old policy back.
   */
  private setGuardrails(orgId: string, entry: OrgGuardrails | undefined, seq: number) {
    const existing = this.guardrails.get(orgId);
    if (existing && existing.loadSeq > seq) return;
    this.guardrails.set(orgId, entry ?? { base: DEFAULT_EFFECTIVE_GUARDRAILS, deployments: new Map(), keys: new Map(), resolved: new Map(), loadSeq: seq });
  }

  async reloadGuardrails(orgIds: string[], attempt = 0): Promise<void> {
    const seq = ++this.seq;
    try {
      const { rows } = await this.pool.query<GuardrailRow>(`${GUARDRAIL_SELECT} WHERE "orgId" = ANY($1::text[])`, [orgIds]);
      const byOrg = this.buildGuardrails(rows, seq);
      for (const orgId of orgIds) this.setGuardrails(orgId, byOrg.get(orgId), seq);
    } catch (error) {
      this.options.log("warn", "gateway guardrail reload failed", { error: String(error), attempt });
      if (attempt < 5 && !this.closed) setTimeout(() => void this.reloadGuardrails(orgIds, attempt + 1), 100 * 2 ** attempt).unref();
    }
  }

  private async loadAllGuardrails() {
    const seq = ++this.seq;
    const { rows } = await this.pool.query<GuardrailRow>(GUARDRAIL_SELECT);
    const byOrg = this.buildGuardrails(rows, seq);
    for (const [orgId, entry] of byOrg) this.setGuardrails(orgId, entry, seq);
    for (const [orgId, entry] of this.guardrails) if (!byOrg.has(orgId) && (entry.deployments.size > 0 || entry.keys.size > 0 || entry.base !== DEFAULT_EFFECTIVE_GUARDRAILS)) this.setGuardrails(orgId, undefined, seq);
  }

  // ---- LISTEN ----

  private async connectListener(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({
      connectionString: this.options.databaseUrl,
      keepAlive: true,
      keepAliveInitialDelayMillis: 5_000,
      query_timeout: 3_000,
      application_name: "enclave-gateway-listen",
    });
    client.on("notification", (n) => {
      if (!n.payload) return;
      if (n.channel === GATEWAY_CHANNELS.apiKeys) this.keyReloads(n.payload);
      else if (n.channel === GATEWAY_CHANNELS.routes) this.routeReloads(n.payload);
      else if (n.channel === GATEWAY_CHANNELS.guardrails) this.guardrailReloads(n.payload);
      else if (n.channel === GATEWAY_CHANNELS.residency) this.residencyReloads(n.payload);
      else if (n.channel === MODEL_ROUTES_CHANNEL) this.modelRoutes.reloadSoon(this.pool, n.payload, this.options.log, () => this.closed);
    });
    const lost = (error?: unknown) => {
      if (this.listener !== client) return;
      this.listener = null;
      client.end().catch(() => {});
      if (this.closed) return;
      this.options.log("warn", "gateway lost its LISTEN connection; reconnecting", { error: error ? String(error) : undefined });
      this.scheduleListenerReconnect();
    };
    client.on("error", lost);
    client.on("end", () => lost());
    try {
      await client.connect();
      await client.query(`LISTEN ${GATEWAY_CHANNELS.apiKeys}; LISTEN ${GATEWAY_CHANNELS.routes}; LISTEN ${GATEWAY_CHANNELS.guardrails}; LISTEN ${GATEWAY_CHANNELS.residency}; LISTEN ${MODEL_ROUTES_CHANNEL}`);
      this.listener = client;
      this.listenerRetry = 0;
      // A connection that died silently (no RST) would swallow notifications: ping it.
      const heartbeat = setInterval(() => {
        if (this.listener !== client) return clearInterval(heartbeat);
        client.query("SELECT 1").catch((error) => {
          clearInterval(heartbeat);
          lost(error);
        });
      }, 5_000);
      heartbeat.unref();
    } catch (error) {
      client.end().catch(() => {});
      throw error;
    }
  }

  private scheduleListenerReconnect() {
    const delay = Math.min(5000, 100 * 2 ** this.listenerRetry++);
    setTimeout(async () => {
      if (this.closed) return;
      try {
        await this.connectListener();
        // Notifications sent while we were away are lost: catch up from scratch.
        await this.fullRefresh();
        this.options.log("info", "gateway LISTEN connection restored");
      } catch (error) {
        if (!this.listener) this.scheduleListenerReconnect();
        else this.options.log("warn", "gateway refresh after reconnect failed", { error: String(error) });
      }
    }, delay).unref();
  }

  // ---- reads on the hot path ----

  route(orgId: string, name: string): Route | undefined {
    return this.routesByOrg.get(orgId)?.get(name);
  }

  verdict(route: Route, dataClass: DataClass): ResidencyVerdict {
    let v = route.verdicts[dataClass];
    if (!v) {
      const policy = this.policies.get(route.orgId)?.get(dataClass) ?? null;
      v = route.verdicts[dataClass] = evaluateResidency(dataClass, policy, route.region);
      route.residencyAttributes[dataClass] = sharedAttributes({
        "enclave.data_class": dataClass,
        "enclave.residency.verdict": v.allowed ? "allowed" : "refused",
        "enclave.residency.reasons": v.reasons,
        "enclave.residency.policy": policy ? "applied" : "none",
        "enclave.region.code": route.region.code,
        "enclave.region.jurisdiction": route.region.jurisdiction,
      });
    }
    return v;
  }

  /**
   * The guardrails to apply to one request (docs/guardrails.md, "Policies"): the organisation's
   * defaults (DEFAULT_GUARDRAIL_RULES when it has none), overridden by the deployment's, then by the
   * key's. Synchronous and O(1): one map lookup, or two and a cached merge when an override applies.
   * The object is frozen and shared: do not modify it. A change reaches every gateway process on
   * NOTIFY `enclave_guardrails` (the poll and the full refresh as safety nets).
   */
  guardrailsFor(orgId: string, deploymentId: string | null, apiKeyId: string | null): EffectiveGuardrails {
    const org = this.guardrails.get(orgId);
    if (!org) return DEFAULT_EFFECTIVE_GUARDRAILS;
    const deployment = deploymentId === null ? undefined : org.deployments.get(deploymentId);
    const key = apiKeyId === null ? undefined : org.keys.get(apiKeyId);
    if (!deployment && !key) return org.base;
    const cacheKey = `${deployment ? deploymentId : ""}\n${key ? apiKeyId : ""}`;
    let effective = org.resolved.get(cacheKey);
    if (!effective) {
      if (org.resolved.size >= GUARDRAIL_RESOLVED_MAX) org.resolved.clear();
      effective = withOverrides(org.base, deployment, key);
      org.resolved.set(cacheKey, effective);
    }
    return effective;
  }

  /** The `residency` span's attributes for a verdict given by verdict(). */
  residencyAttributes(route: Route, dataClass: DataClass): Attributes {
    return route.residencyAttributes[dataClass] ?? (this.verdict(route, dataClass), route.residencyAttributes[dataClass]!);
  }
}
