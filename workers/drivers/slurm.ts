/**
 * The `slurm` cluster driver: each replica is one Slurm batch job named `enclave-<replicaId>`,
 * submitted through slurmrestd's REST API, whose script runs the model server (see docs/slurm.md).
 *
 * The job is the only record the driver keeps: its name carries the replica id, its comment the
 * deployment, revision and port (JSON), so a restarted worker finds everything again with GET /jobs.
 */
import { createHmac } from "node:crypto";
import { readFile } from "node:fs/promises";
import { modelServerCommand } from "../model-server/command";
import { launchToken, REPLICA_TOKEN_ENV, replicaAuthorization, TOKEN_REFUSED } from "../model-server/replica-auth";
import { ARTIFACT_MISMATCH_EXIT, expectedDigest, UNVERIFIED_NOTE, type ArtifactCheck } from "./artifact";
import { DriverError, type ClusterDriver, type GpuCapacity, type ObservedReplica, type ReplicaPhase, type ReplicaSpec } from "./types";

/** What a replica's batch job runs: a script (bash by default) and its whole environment. */
export interface SlurmJobScript {
  script: string;
  env: Record<string, string>;
  /** The sha256 the script's model server checks the file against before loading it (`--expect-sha256`), if any. */
  verifiesSha256?: string;
}

export interface SlurmDriverOptions {
  /** slurmrestd base URL, e.g. `http://127.0.0.1:6820` (without `/slurm/<version>`). */
  restUrl: string;
  /** OpenAPI plugin version served by slurmrestd; only the versions in `DIALECTS` are known. */
  apiVersion?: string;
  /** Slurm user the token was issued to (`X-SLURM-USER-NAME`); jobs run as this user. */
  userName: string;
  /** A fixed JWT, or a provider called before each request (so tokens can be renewed). */
  token?: string;
  tokenProvider?: () => string | Promise<string>;
  partition?: string;
  /** Job working directory and log directory on the cluster; must be writable by `userName`. */
  workDir: string;
  /** GRES name of GPUs in the centre's gres.conf. */
  gresName?: string;
  /** Job time limit; unset means the partition's default (model servers are long-running). */
  jobTimeLimitMinutes?: number;
  cpusPerTask?: number;
  /** Memory per node in MB; unset means Slurm's DefMemPerCPU. */
  memoryMb?: number;
  /** Builds the job script for a replica listening on `port`. */
  modelServer: (spec: ReplicaSpec, port: number) => SlurmJobScript | Promise<SlurmJobScript>;
  /** Enclave GPU code → Slurm GRES type (null = no GPU); defaults to `slurmGresType`. */
  gpuTypes?: Record<string, string | null>;
  /** Ports handed to replicas, inclusive; chosen from the replica id, skipping live replicas'. */
  portRange?: { from: number; to: number };
  /** How the worker reaches a compute node (e.g. add a domain); defaults to Slurm's node name. */
  endpointHost?: (batchHost: string) => string;
  requestTimeoutMs?: number;
  healthTimeoutMs?: number;
}

/** Job names are how replicas are found again; anything else on the cluster is ignored. */
export const SLURM_JOB_PREFIX = "enclave-";

/**
 * Default mapping from an Enclave GPU code to a Slurm GRES type: the part before the first dash,
 * lower-cased (`H100-80GB` → `h100`, `MI250X-GCD` → `mi250x`); `CPU-…` codes request no GPU.
 */
export function slurmGresType(gpuCode: string): string | null {
  const head = gpuCode.split("-")[0]!.trim().toLowerCase();
  return head === "" || head === "cpu" ? null : head;
}

/** The GRES request for `count` GPUs of an Enclave GPU code, or undefined for no GPU. */
export function slurmGresRequest(gpu: { type: string; count: number }, options: { gresName?: string; gpuTypes?: Record<string, string | null> } = {}): string | undefined {
  const type = options.gpuTypes && gpu.type in options.gpuTypes ? options.gpuTypes[gpu.type] : slurmGresType(gpu.type);
  if (type === null || type === undefined || gpu.count <= 0) return undefined;
  return [options.gresName ?? "gpu", type, String(gpu.count)].filter((part) => part !== "").join(":");
}

/** An HS256 JWT that slurmctld (AuthAltTypes=auth/jwt) accepts for `userName`. */
export async function mintSlurmToken(options: { keyFile: string; userName: string; lifespanSeconds: number; now?: Date }): Promise<string> {
  const key = await readFile(options.keyFile);
  const iat = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const unsigned = `${encode({ alg: "HS256", typ: "JWT" })}.${encode({ iat, exp: iat + options.lifespanSeconds, sun: options.userName })}`;
  return `${unsigned}.${createHmac("sha256", key).update(unsigned).digest("base64url")}`;
}

/** A `tokenProvider` that mints a token and mints a new one once 80 % of its life has passed. */
export function renewingSlurmToken(options: { keyFile: string; userName: string; lifespanSeconds: number }): () => Promise<string> {
  let current: { token: string; renewAt: number } | null = null;
  return async () => {
    if (!current || Date.now() >= current.renewAt) {
      current = { token: await mintSlurmToken(options), renewAt: Date.now() + options.lifespanSeconds * 800 };
    }
    return current.token;
  };
}

/** A job script that runs Enclave's model server (workers/model-server/main.ts) with tsx. */
export function modelServerJobScript(options: { modelPath: string; servedModelName: string; port: number; host?: string; threads?: number; expectSha256?: string | null }): SlurmJobScript {
  // Compute nodes are reached over the cluster network, so listen on every interface by default.
  // The file is on the cluster, not here: the model server verifies its sha256 before loading it.
  const expectSha256 = expectedDigest(options.expectSha256) ?? undefined;
  const command = modelServerCommand({ ...options, host: options.host ?? "0.0.0.0", expectSha256 });
  return {
    script: ["#!/bin/bash", `cd ${shellQuote(command.cwd)}`, `exec ${[command.command, ...command.args].map(shellQuote).join(" ")}`, ""].join("\n"),
    env: command.env,
    ...(expectSha256 ? { verifiesSha256: expectSha256 } : {}),
  };
}

export function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}

// ─── The REST API's JSON, per version ─────────────────────────────────────────────────────────

/** A job as the driver needs it, whatever the API version. */
export interface SlurmJob {
  jobId: string;
  name: string;
  userName: string;
  /** Base state, upper case: PENDING, RUNNING, COMPLETED, CANCELLED, FAILED, TIMEOUT, … */
  state: string;
  reason: string;
  comment: string;
  batchHost: string;
  startTime?: Date;
  /** Raw wait status as Slurm reports it (`exit 3` → 768, SIGTERM → 15). */
  exitStatus?: number;
  timeLimitMinutes?: number;
}

export interface SlurmNode {
  name: string;
  state: string;
  flags: string[];
  partitions: string[];
  gres: string;
  gresUsed: string;
}

export interface SlurmApiError {
  code?: number;
  message: string;
}

export interface SlurmJobRequest {
  name: string;
  partition: string;
  workDir: string;
  environment: Record<string, string>;
  stdoutPath: string;
  stderrPath: string;
  comment: string;
  script: string;
  gres?: string;
  cpusPerTask: number;
  memoryMb?: number;
  timeLimitMinutes?: number;
}

/** Everything that depends on the API version's JSON shapes; add a version by adding a dialect. */
export interface SlurmRestDialect {
  submitBody(job: SlurmJobRequest): unknown;
  submittedJobId(body: unknown): string | undefined;
  jobs(body: unknown): SlurmJob[];
  nodes(body: unknown): SlurmNode[];
  errors(body: unknown): SlurmApiError[];
}

type Json = Record<string, unknown>;
const asObject = (value: unknown): Json => (value && typeof value === "object" && !Array.isArray(value) ? (value as Json) : {});
const asArray = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
const asString = (value: unknown): string => (typeof value === "string" ? value : typeof value === "number" ? String(value) : "");
const asNumber = (value: unknown): number | undefined => (typeof value === "number" && Number.isFinite(value) ? value : undefined);

const v0_0_38: SlurmRestDialect = {
  submitBody: (job) => ({
    job: {
      name: job.name,
      partition: job.partition,
      current_working_directory: job.workDir,
      // Mandatory in v0.0.38 (HTTP 400 without it), and jobs inherit nothing else.
      environment: job.environment,
      standard_output: job.stdoutPath,
      standard_error: job.stderrPath,
      comment: job.comment,
      tasks: 1,
      nodes: [1, 1],
      cpus_per_task: job.cpusPerTask,
      // A requeued service would come back silently on another node; let reconcile decide instead.
      requeue: false,
      ...(job.gres ? { gres: job.gres } : {}),
      ...(job.memoryMb ? { memory_per_node: job.memoryMb } : {}),
      ...(job.timeLimitMinutes ? { time_limit: job.timeLimitMinutes } : {}),
    },
    script: job.script,
  }),
  submittedJobId: (body) => asString(asObject(body).job_id) || undefined,
  jobs: (body) =>
    asArray(asObject(body).jobs).map((raw) => {
      const job = asObject(raw);
      const start = asNumber(job.start_time);
      return {
        jobId: asString(job.job_id),
        name: asString(job.name),
        userName: asString(job.user_name),
        state: asString(job.job_state).toUpperCase(),
        reason: asString(job.state_reason),
        comment: asString(job.comment),
        batchHost: asString(job.batch_host),
        startTime: start ? new Date(start * 1000) : undefined,
        exitStatus: asNumber(job.exit_code),
        timeLimitMinutes: asNumber(job.time_limit),
      };
    }),
  nodes: (body) =>
    asArray(asObject(body).nodes).map((raw) => {
      const node = asObject(raw);
      return {
        name: asString(node.name),
        state: asString(node.state).toLowerCase(),
        flags: asArray(node.state_flags).map(asString),
        partitions: asArray(node.partitions).map(asString),
        gres: asString(node.gres),
        gresUsed: asString(node.gres_used),
      };
    }),
  errors: (body) =>
    asArray(asObject(body).errors).map((raw) => {
      const error = asObject(raw);
      // Submit answers `error_code`, the other calls `error_number`; `description` adds detail.
      const code = asNumber(error.error_code) ?? asNumber(error.error_number);
      const text = asString(error.error);
      const description = asString(error.description);
      return { code, message: [text, description && description !== text ? description : ""].filter(Boolean).join(": ") || "unknown error" };
    }),
};

export const SLURM_REST_DIALECTS: Record<string, SlurmRestDialect> = { "v0.0.38": v0_0_38 };

// ─── Slurm facts used to classify jobs and errors ─────────────────────────────────────────────

const PENDING_STATES = new Set(["PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "POWER_UP_NODE", "SUSPENDED", "STOPPED", "RESIZING"]);
const RUNNING_STATES = new Set(["RUNNING", "SIGNALING", "STAGE_OUT"]);
const STOPPED_STATES = new Set(["CANCELLED", "COMPLETED"]);
/** A job in one of these states holds (or waits for) resources: the replica exists. */
const isLive = (job: SlurmJob) => PENDING_STATES.has(job.state) || RUNNING_STATES.has(job.state);

/** slurm_errno.h: ESLURM_INVALID_JOB_ID — the job is unknown or already purged. */
const INVALID_JOB_ID = 2017;
/** Refusals that no retry will change (bad partition, access, sizes, node configuration, …). */
const PERMANENT_ERRORS = new Set([2000, 2001, 2002, 2003, 2004, 2005, 2006, 2008, 2009, 2010, 2012, 2014, 2127, 9001]);

interface ReplicaComment {
  replicaId: string;
  deploymentId: string;
  revision: number;
  port: number;
  /** The digest the job's model server verifies the artifact against (not secret); absent: no check. */
  sha256?: string;
}

function parseComment(comment: string): Partial<ReplicaComment> {
  try {
    const value = asObject(JSON.parse(comment));
    return {
      replicaId: typeof value.replicaId === "string" ? value.replicaId : undefined,
      deploymentId: typeof value.deploymentId === "string" ? value.deploymentId : undefined,
      revision: asNumber(value.revision),
      port: asNumber(value.port),
      sha256: expectedDigest(typeof value.sha256 === "string" ? value.sha256 : null) ?? undefined,
    };
  } catch {
    return {};
  }
}

/** "exit code 3" or "killed by signal 15" from a raw wait status. */
export function describeExitStatus(status: number | undefined): string | undefined {
  if (status === undefined) return undefined;
  const signal = status & 0x7f;
  return signal ? `killed by signal ${signal}` : `exit code ${status >> 8}`;
}

/** Parses `gpu:h100:2(S:0-1),gpu:a100:1,mps:100` into counts of `gresName` per type. */
export function parseGres(gres: string, gresName = "gpu"): Map<string, number> {
  const counts = new Map<string, number>();
  // Commas also appear inside "(IDX:0,2)", so split only on commas outside parentheses.
  for (const item of gres.split(/,(?![^(]*\))/)) {
    const parts = item.replace(/\(.*\)$/, "").trim().split(":");
    if (parts[0] !== gresName || parts.length < 2) continue;
    const count = Number(parts[parts.length - 1]);
    if (!Number.isFinite(count)) continue;
    const type = parts.length >= 3 ? parts.slice(1, -1).join(":") : "";
    counts.set(type, (counts.get(type) ?? 0) + count);
  }
  return counts;
}

// ─── The driver ───────────────────────────────────────────────────────────────────────────────

export class SlurmDriver implements ClusterDriver {
  readonly kind = "slurm" as const;
  private readonly dialect: SlurmRestDialect;
  private readonly base: string;

  constructor(private readonly options: SlurmDriverOptions) {
    const version = options.apiVersion ?? "v0.0.38";
    const dialect = SLURM_REST_DIALECTS[version];
    if (!dialect) throw new Error(`Slurm REST API ${version} is not supported (known: ${Object.keys(SLURM_REST_DIALECTS).join(", ")})`);
    if (!options.token && !options.tokenProvider) throw new Error("SlurmDriver needs a token or a tokenProvider");
    this.dialect = dialect;
    this.base = `${options.restUrl.replace(/\/+$/, "")}/slurm/${version}`;
  }

  async apply(spec: ReplicaSpec): Promise<ObservedReplica> {
    const jobs = await this.enclaveJobs();
    const existing = this.currentJob(jobs, spec.replicaId);
    if (existing && isLive(existing)) return this.toObserved(existing);

    const port = this.choosePort(spec.replicaId, jobs);
    const token = launchToken(spec);
    const { script, env, verifiesSha256 } = await this.options.modelServer(spec, port);
    const name = `${SLURM_JOB_PREFIX}${spec.replicaId}`;
    const comment: ReplicaComment = { replicaId: spec.replicaId, deploymentId: spec.deploymentId, revision: spec.revision, port, ...(verifiesSha256 ? { sha256: verifiesSha256 } : {}) };
    const logPath = (stream: string) => `${this.options.workDir.replace(/\/+$/, "")}/${name}-%j.${stream}`;
    const body = await this.request("POST", "/job/submit", "submit the job", {
      body: this.dialect.submitBody({
        name,
        partition: this.options.partition ?? "debug",
        workDir: this.options.workDir,
        // Jobs inherit no environment through the REST API, so give them a usable minimum.
        // The replica's own token, whatever the script: its model server refuses calls without it.
        // Only in the environment (never the job's name, comment or script, which squeue shows).
        environment: { PATH: "/usr/local/bin:/usr/bin:/bin", HOME: this.options.workDir, LANG: "C.UTF-8", ...env, [REPLICA_TOKEN_ENV]: token },
        stdoutPath: logPath("out"),
        stderrPath: logPath("err"),
        comment: JSON.stringify(comment),
        script: script.startsWith("#!") ? script : `#!/bin/bash\n${script}`,
        gres: slurmGresRequest(spec.gpu, { gresName: this.options.gresName, gpuTypes: this.options.gpuTypes }),
        cpusPerTask: this.options.cpusPerTask ?? 1,
        memoryMb: this.options.memoryMb,
        timeLimitMinutes: this.options.jobTimeLimitMinutes,
      }),
    });
    const jobId = this.dialect.submittedJobId(body);
    if (!jobId) throw new DriverError("Slurm accepted the job but returned no job id", true);

    // Two workers applying the same replica at once would both submit: keep the oldest job only.
    const live = (await this.enclaveJobs()).filter((job) => this.replicaIdOf(job) === spec.replicaId && isLive(job));
    const keep = live.sort((a, b) => Number(a.jobId) - Number(b.jobId))[0];
    if (keep && keep.jobId !== jobId) {
      await this.cancel(jobId);
      return this.toObserved(keep);
    }
    return keep
      ? this.toObserved(keep)
      : { replicaId: spec.replicaId, deploymentId: spec.deploymentId, revision: spec.revision, clusterRef: jobId, phase: "pending", message: `Slurm job ${jobId} submitted` };
  }

  async observe(filter: { deploymentId?: string } = {}): Promise<ObservedReplica[]> {
    const jobs = await this.enclaveJobs();
    const replicaIds = [...new Set(jobs.map((job) => this.replicaIdOf(job)))];
    const current = replicaIds.map((replicaId) => this.currentJob(jobs, replicaId)!);
    const wanted = current.filter((job) => !filter.deploymentId || parseComment(job.comment).deploymentId === filter.deploymentId);
    return Promise.all(wanted.map((job) => this.toObserved(job)));
  }

  async delete(replicaId: string): Promise<void> {
    const jobs = (await this.enclaveJobs()).filter((job) => this.replicaIdOf(job) === replicaId && isLive(job));
    await Promise.all(jobs.map((job) => this.cancel(job.jobId)));
  }

  async capacity(): Promise<GpuCapacity[]> {
    const nodes = this.dialect.nodes(await this.request("GET", "/nodes", "list the nodes"));
    const partition = this.options.partition ?? "debug";
    const byType = new Map<string, GpuCapacity>();
    for (const node of nodes) {
      if (node.partitions.length > 0 && !node.partitions.includes(partition)) continue;
      const used = parseGres(node.gresUsed, this.options.gresName);
      // Drained, down or unresponsive nodes still own their GPUs but will not run anything.
      const usable = !["down", "future", "unknown", "error"].includes(node.state) && !node.flags.some((flag) => /DRAIN|FAIL|MAINT|NOT_RESPONDING|POWER/.test(flag));
      for (const [type, total] of parseGres(node.gres, this.options.gresName)) {
        const gpuType = this.enclaveGpuType(type);
        const entry = byType.get(gpuType) ?? { gpuType, total: 0, free: 0 };
        entry.total += total;
        if (usable) entry.free += Math.max(0, total - (used.get(type) ?? 0));
        byType.set(gpuType, entry);
      }
    }
    return [...byType.values()].sort((a, b) => a.gpuType.localeCompare(b.gpuType));
  }

  /** Slurm's GRES type back to the Enclave code configured for it in `gpuTypes`, if any. */
  private enclaveGpuType(gresType: string): string {
    const code = Object.entries(this.options.gpuTypes ?? {}).find(([, type]) => type === gresType)?.[0];
    return code ?? gresType;
  }

  /** This user's `enclave-` jobs: on a shared centre other users' jobs are none of our business. */
  private async enclaveJobs(): Promise<SlurmJob[]> {
    const jobs = this.dialect.jobs(await this.request("GET", "/jobs", "list the jobs"));
    return jobs.filter((job) => job.name.startsWith(SLURM_JOB_PREFIX) && job.userName === this.options.userName);
  }

  private replicaIdOf(job: SlurmJob): string {
    return job.name.slice(SLURM_JOB_PREFIX.length);
  }

  /** The job that stands for a replica: its newest live job, else its newest finished one. */
  private currentJob(jobs: SlurmJob[], replicaId: string): SlurmJob | undefined {
    const mine = jobs.filter((job) => this.replicaIdOf(job) === replicaId).sort((a, b) => Number(b.jobId) - Number(a.jobId));
    return mine.find(isLive) ?? mine[0];
  }

  /** A port from the range, starting at a hash of the replica id, not held by a live replica. */
  private choosePort(replicaId: string, jobs: SlurmJob[]): number {
    const { from, to } = this.options.portRange ?? { from: 20000, to: 29999 };
    const taken = new Set(jobs.filter(isLive).map((job) => parseComment(job.comment).port));
    const size = to - from + 1;
    let hash = 0;
    for (const char of replicaId) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
    for (let i = 0; i < size; i++) {
      const port = from + ((hash + i) % size);
      if (!taken.has(port)) return port;
    }
    throw new DriverError("No free port left for a new replica on the Slurm cluster", true);
  }

  private async cancel(jobId: string): Promise<void> {
    try {
      await this.request("DELETE", `/job/${encodeURIComponent(jobId)}`, `cancel job ${jobId}`);
    } catch (error) {
      // Slurm answers HTTP 500 "Invalid job id" for a job it has already forgotten: it is gone.
      if (error instanceof SlurmRequestError && error.slurmCodes.includes(INVALID_JOB_ID)) return;
      throw error;
    }
  }

  private async toObserved(job: SlurmJob): Promise<ObservedReplica> {
    const comment = parseComment(job.comment);
    const base = {
      replicaId: this.replicaIdOf(job),
      deploymentId: comment.deploymentId ?? "",
      revision: comment.revision ?? 0,
      clusterRef: job.jobId,
      // For a pending job Slurm's start_time is only an estimate.
      startedAt: job.startTime && !PENDING_STATES.has(job.state) ? job.startTime : undefined,
    };
    const reason = job.reason && job.reason !== "None" ? job.reason : undefined;
    const mismatch = job.exitStatus !== undefined && (job.exitStatus & 0x7f) === 0 && job.exitStatus >> 8 === ARTIFACT_MISMATCH_EXIT && comment.sha256 !== undefined;
    // The model server hashed the file before loading it: it serves only once the digest matched.
    const artifact = (phase: ReplicaPhase): ArtifactCheck | undefined => {
      const checkedAt = base.startedAt ?? new Date();
      if (mismatch) {
        return { status: "mismatch", sha256: null, expectedSha256: comment.sha256!, checkedAt, checkedBy: "model-server", note: `artifact sha256 mismatch: the catalog says ${comment.sha256}; the model server on the cluster read a file with another digest (in the job's log)` };
      }
      if (phase !== "ready") return undefined;
      if (!comment.sha256) return { status: "unverified", sha256: null, expectedSha256: null, checkedAt, checkedBy: "model-server", note: UNVERIFIED_NOTE };
      return { status: "verified", sha256: comment.sha256, expectedSha256: comment.sha256, checkedAt, checkedBy: "model-server", note: "the model server checked the file's sha256 against the catalog's before loading it" };
    };
    const observed = (phase: ReplicaPhase, message?: string, endpoint?: string): ObservedReplica => {
      const check = artifact(phase);
      return { ...base, phase, ...(message ? { message } : {}), ...(endpoint ? { endpoint } : {}), ...(check ? { artifact: check } : {}) };
    };

    if (PENDING_STATES.has(job.state)) return observed("pending", `Slurm job ${job.jobId} ${job.state.toLowerCase()}${reason ? `: ${reason}` : ""}`);
    if (RUNNING_STATES.has(job.state)) {
      if (!comment.port || !job.batchHost) return observed("starting", `Slurm job ${job.jobId} running, but its port or node is unknown`);
      const endpoint = `http://${(this.options.endpointHost ?? ((host) => host))(job.batchHost)}:${comment.port}`;
      const health = await this.health(endpoint, base.deploymentId, base.replicaId);
      if (health === "ok") return observed("ready", undefined, endpoint);
      if (health === "refused") return observed("failed", TOKEN_REFUSED);
      return observed("starting", `Slurm job ${job.jobId} running on ${job.batchHost}; model server not answering yet`);
    }
    // COMPLETING hides the final state (and exit code) until the job's processes are gone.
    if (job.state === "COMPLETING") return observed("stopped", `Slurm job ${job.jobId} completing (its processes are ending)`);
    const exit = describeExitStatus(job.exitStatus);
    const details = [exit, reason, job.state === "TIMEOUT" && job.timeLimitMinutes ? `time limit ${job.timeLimitMinutes} min` : undefined].filter(Boolean).join(", ");
    const message = mismatch
      ? `artifact sha256 mismatch: the catalog says ${comment.sha256}, the file on the cluster differs (the model server refused it before loading; Slurm job ${job.jobId}, ${exit}; the job's log has the file's digest)`
      : `Slurm job ${job.jobId} ${job.state}${details ? ` (${details})` : ""}`;
    // A clean exit or a cancel is a stop; an error exit, a time-out, node failure, OOM… a failure.
    const stopped = STOPPED_STATES.has(job.state) && !(job.state === "COMPLETED" && job.exitStatus);
    return observed(stopped ? "stopped" : "failed", message);
  }

  /** GET /health with the replica's token: "refused" when the server holds another token for it. */
  private async health(endpoint: string, deploymentId: string, replicaId: string): Promise<"ok" | "down" | "refused"> {
    try {
      const response = await fetch(`${endpoint}/health`, {
        headers: { authorization: replicaAuthorization(deploymentId, replicaId) },
        redirect: "manual",
        signal: AbortSignal.timeout(this.options.healthTimeoutMs ?? 2000),
      });
      await response.body?.cancel();
      return response.status === 200 ? "ok" : response.status === 401 ? "refused" : "down";
    } catch {
      return "down";
    }
  }

  private async token(): Promise<string> {
    return this.options.tokenProvider ? this.options.tokenProvider() : this.options.token!;
  }

  /** One REST call; every failure becomes a DriverError that names the action, never the token. */
  private async request(method: string, path: string, action: string, init: { body?: unknown } = {}): Promise<unknown> {
    let response: Response;
    try {
      response = await fetch(`${this.base}${path}`, {
        method,
        headers: {
          "X-SLURM-USER-NAME": this.options.userName,
          "X-SLURM-USER-TOKEN": await this.token(),
          ...(init.body !== undefined ? { "Content-Type": "application/json" } : {}),
        },
        body: init.body !== undefined ? JSON.stringify(init.body) : undefined,
        // A redirect would carry X-SLURM-USER-TOKEN to wherever it points: never follow one.
        redirect: "manual",
        signal: AbortSignal.timeout(this.options.requestTimeoutMs ?? 15_000),
      });
    } catch (error) {
      throw new DriverError(`Could not reach the Slurm REST API to ${action}: ${connectionProblem(error)}`, true);
    }
    if (response.status >= 300 && response.status < 400) {
      await response.body?.cancel();
      throw new DriverError(`The Slurm REST API answered ${method} ${path} with a redirect (HTTP ${response.status}); Enclave sends the cluster's credentials only to the configured URL and does not follow it.`, false);
    }
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      // slurmrestd answers plain text for some refusals ("Authentication failure", "Unable to parse query").
      if (response.ok) throw new DriverError(`The Slurm REST API answered ${method} ${path} with something that is not JSON`, true);
    }
    const errors = body === undefined ? [] : this.dialect.errors(body);
    if (response.ok) {
      // Some successes carry warnings in `errors` (a submitted job that may never start): keep the job.
      if (errors.length === 0 || this.dialect.submittedJobId(body) || method === "GET" || method === "DELETE") return body;
    }
    throw new SlurmRequestError(action, response.status, errors, body === undefined ? text.trim().slice(0, 200) : "");
  }
}

/** A refused REST call, with Slurm's error numbers kept for the callers that care (cancel). */
export class SlurmRequestError extends DriverError {
  readonly slurmCodes: number[];

  constructor(action: string, readonly status: number, errors: SlurmApiError[], plainText: string) {
    const what = errors.length ? errors.map((error) => `${error.message}${error.code !== undefined ? ` (Slurm error ${error.code})` : ""}`).join("; ") : plainText || `HTTP ${status}`;
    const codes = errors.map((error) => error.code).filter((code): code is number => code !== undefined);
    const permanent = status === 401 || status === 403 || (status >= 400 && status < 500 && status !== 408 && status !== 429) || codes.some((code) => PERMANENT_ERRORS.has(code));
    const hint = status === 401 ? " (missing credentials)" : codes.includes(-1) ? " (an expired or invalid token looks like this)" : "";
    super(`Slurm refused to ${action}: ${what}${hint}`, !permanent);
    this.name = "SlurmRequestError";
    this.slurmCodes = codes;
  }
}

function connectionProblem(error: unknown): string {
  if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) return "timed out";
  const cause = error instanceof Error ? (error.cause as { code?: string } | undefined) : undefined;
  // The cause's message names the address; its code (ECONNREFUSED, ENOTFOUND…) is enough for a tenant.
  return cause?.code ?? (error instanceof Error ? error.message : String(error));
}
