/**
 * The `local` cluster driver: each replica is a detached model-server process on this machine.
 *
 * Everything the driver knows is on disk in `stateDir`: `<replicaId>.json` (written before the
 * process is started, completed with its pid right after) and `<replicaId>.log` (its stdout and
 * stderr). Processes are started detached, so they outlive a worker that crashes or is SIGKILLed,
 * as pods outlive their controller; a new LocalDriver finds them again from the files. A pid is
 * only trusted when /proc/<pid>/cmdline carries `--enclave-replica=<replicaId>` (pid reuse).
 */
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { modelServerCommand } from "../model-server/command";
import { launchToken, REPLICA_TOKEN_ENV, replicaAuthorization, TOKEN_REFUSED } from "../model-server/replica-auth";
import { resolveConfinedArtifact } from "../model-server/tiny-model";
import { ArtifactDigestCache, verifyArtifactFile, type ArtifactCheck } from "./artifact";
import { DriverError, type ClusterDriver, type GpuCapacity, type ObservedReplica, type ReplicaPhase, type ReplicaSpec } from "./types";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
export const DEFAULT_LOCAL_STATE_DIR = path.join(ROOT, ".data", "local-cluster");
/** The argument that marks a process as a given replica's model server. */
export const REPLICA_MARKER = "--enclave-replica=";

export interface LocalDriverOptions {
  /** Where replica state and logs live; default `<repo>/.data/local-cluster`. */
  stateDir?: string;
  /** GPUs (or CPU slots) per GPU type this machine offers, e.g. `{ "CPU-SLOT": 4 }`. */
  totalGpus?: Record<string, number>;
  /** Ports handed to replicas, inclusive. */
  portRange?: { from: number; to: number };
  /** llama.cpp threads per replica (1: more threads are much slower on a small shared CPU). */
  threads?: number;
  healthTimeoutMs?: number;
  /** How long delete waits after SIGTERM before SIGKILL. */
  stopTimeoutMs?: number;
}

/** `<replicaId>.json`: the replica as recorded by the driver. */
export interface LocalReplicaState {
  replicaId: string;
  deploymentId: string;
  revision: number;
  /** null between recording the replica and starting its process. */
  pid: number | null;
  port: number;
  startedAt: string;
  servedModelName: string;
  modelPath: string;
  gpu: { type: string; count: number };
  /** The sha256 check of modelPath made before the process was started (absent in files written before it existed). */
  artifact?: Omit<ArtifactCheck, "checkedAt"> & { checkedAt: string };
}

/** A recorded replica whose process was never started this long ago is reported failed, not pending. */
const START_GRACE_MS = 15_000;
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function processCmdline(pid: number): string[] | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
  } catch {
    return null;
  }
}

/** True when `pid` is running and is this replica's model server (a zombie's cmdline is empty). */
export function isReplicaProcess(pid: number, replicaId: string): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    // EPERM: alive but another user's process, so not one we started.
    return false;
  }
  const cmdline = processCmdline(pid);
  if (cmdline === null) return process.platform !== "linux"; // no /proc: trust kill(0) alone
  return cmdline.includes(`${REPLICA_MARKER}${replicaId}`);
}

/** Finds a replica's process by its marker, for a state file recorded just before a crash. */
function findReplicaPid(replicaId: string): number | null {
  if (process.platform !== "linux") return null;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = processCmdline(Number(entry));
    if (cmdline?.includes(`${REPLICA_MARKER}${replicaId}`)) return Number(entry);
  }
  return null;
}

function portIsFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(false));
    probe.listen(port, host, () => probe.close(() => resolve(true)));
  });
}

function tail(file: string, lines = 8, maxBytes = 4096): string {
  try {
    const size = statSync(file).size;
    const fd = openSync(file, "r");
    try {
      const length = Math.min(size, maxBytes);
      const buffer = Buffer.alloc(length);
      readSync(fd, buffer, 0, length, size - length);
      return buffer.toString("utf8").split("\n").filter((l) => l.trim() !== "").slice(-lines).join("\n");
    } finally {
      closeSync(fd);
    }
  } catch {
    return "";
  }
}

export class LocalDriver implements ClusterDriver {
  readonly kind = "local" as const;
  readonly stateDir: string;
  private readonly totals: Record<string, number>;
  private readonly portRange: { from: number; to: number };
  private readonly threads: number;
  private readonly healthTimeoutMs: number;
  private readonly stopTimeoutMs: number;
  /** Serialises apply/delete in this process so two calls never pick one port or start one replica twice. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Digests of served files, so a multi-GB file is hashed once, not at every start (artifact.ts). */
  private readonly digests: ArtifactDigestCache;

  constructor(options: LocalDriverOptions = {}) {
    this.stateDir = options.stateDir ?? DEFAULT_LOCAL_STATE_DIR;
    this.totals = options.totalGpus ?? {};
    this.portRange = options.portRange ?? { from: 18100, to: 18999 };
    this.threads = options.threads ?? 1;
    this.healthTimeoutMs = options.healthTimeoutMs ?? 1500;
    this.stopTimeoutMs = options.stopTimeoutMs ?? 5000;
    if (this.portRange.from > this.portRange.to) throw new Error("LocalDriver: empty portRange");
    // A dot file: recorded() only reads `<replicaId>.json` files.
    this.digests = new ArtifactDigestCache(path.join(this.stateDir, ".artifact-digests"));
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }

  private file(replicaId: string, ext: "json" | "log") {
    if (!SAFE_ID.test(replicaId)) throw new DriverError(`Invalid replica id ${JSON.stringify(replicaId)}.`, false);
    return path.join(this.stateDir, `${replicaId}.${ext}`);
  }

  private readState(replicaId: string): LocalReplicaState | null {
    try {
      return JSON.parse(readFileSync(this.file(replicaId, "json"), "utf8")) as LocalReplicaState;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw error;
    }
  }

  /** tmp + rename: a reader (or a crash) never sees half a state file. */
  private writeState(state: LocalReplicaState) {
    const target = this.file(state.replicaId, "json");
    const tmp = `${target}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
    renameSync(tmp, target);
  }

  /** Every replica recorded in stateDir, live or not. */
  recorded(): LocalReplicaState[] {
    if (!existsSync(this.stateDir)) return [];
    const states: LocalReplicaState[] = [];
    for (const name of readdirSync(this.stateDir)) {
      if (!name.endsWith(".json")) continue;
      const id = name.slice(0, -".json".length);
      if (!SAFE_ID.test(id)) continue;
      try {
        const state = this.readState(id);
        if (state?.replicaId === id) states.push(state);
      } catch {
        // A foreign or corrupt file is not one of our replicas.
      }
    }
    return states;
  }

  /** The replica's live pid, adopting a process started just before a crash left pid unrecorded. */
  private livePid(state: LocalReplicaState): number | null {
    if (state.pid !== null) return isReplicaProcess(state.pid, state.replicaId) ? state.pid : null;
    const found = findReplicaPid(state.replicaId);
    if (found !== null) this.writeState({ ...state, pid: found });
    return found;
  }

  /** GET /health with the replica's token: "refused" when the server holds another token for it. */
  private async health(state: LocalReplicaState): Promise<"ok" | "down" | "refused"> {
    try {
      const response = await fetch(`http://127.0.0.1:${state.port}/health`, {
        headers: { authorization: replicaAuthorization(state.deploymentId, state.replicaId) },
        signal: AbortSignal.timeout(this.healthTimeoutMs),
      });
      await response.body?.cancel();
      return response.status === 200 ? "ok" : response.status === 401 ? "refused" : "down";
    } catch {
      return "down";
    }
  }

  private async observeState(state: LocalReplicaState): Promise<ObservedReplica> {
    const pid = this.livePid(state);
    const base = {
      replicaId: state.replicaId,
      deploymentId: state.deploymentId,
      revision: state.revision,
      startedAt: new Date(state.startedAt),
      ...(state.artifact ? { artifact: { ...state.artifact, checkedAt: new Date(state.artifact.checkedAt) } } : {}),
    };
    const observed = (phase: ReplicaPhase, extra: Partial<ObservedReplica> = {}): ObservedReplica => ({
      ...base,
      clusterRef: String(pid ?? state.pid ?? ""),
      phase,
      ...extra,
    });
    if (pid !== null) {
      const health = await this.health(state);
      if (health === "ok") return observed("ready", { endpoint: `http://127.0.0.1:${state.port}` });
      if (health === "refused") return observed("failed", { message: TOKEN_REFUSED });
      return observed("starting", { message: "Model server is loading the model." });
    }
    if (state.pid === null && Date.now() - Date.parse(state.startedAt) < START_GRACE_MS) {
      return observed("pending", { message: "Model server process is being started." });
    }
    const log = tail(this.file(state.replicaId, "log"));
    const what = state.pid === null ? "Model server process was never started" : `Model server process ${state.pid} is not running`;
    return observed("failed", { message: log ? `${what}. Last log lines:\n${log}` : `${what}.` });
  }

  async apply(spec: ReplicaSpec): Promise<ObservedReplica> {
    return this.exclusive(async () => {
      this.file(spec.replicaId, "json"); // validates the id before anything touches the disk
      const existing = this.readState(spec.replicaId);
      if (existing && this.livePid(existing) !== null) return this.observeState(this.readState(spec.replicaId) ?? existing);

      // All three refuse (a DriverError) before anything is written or started: an artifact
      // whose sha256 is not the catalog's is never served (ArtifactMismatchError).
      const modelPath = await resolveConfinedArtifact(spec.model.artifactUri);
      const artifact = await verifyArtifactFile(modelPath, spec.model.artifactSha256, this.digests);
      const token = launchToken(spec);
      mkdirSync(this.stateDir, { recursive: true });
      const port = await this.pickPort(existing?.port);
      const state: LocalReplicaState = {
        replicaId: spec.replicaId,
        deploymentId: spec.deploymentId,
        revision: spec.revision,
        pid: null,
        port,
        startedAt: new Date().toISOString(),
        servedModelName: spec.servedModelName,
        modelPath,
        gpu: { type: spec.gpu.type, count: spec.gpu.count },
        artifact: { ...artifact, checkedAt: artifact.checkedAt.toISOString() },
      };
      // Recorded before the process exists, so a crash in between leaves a trace observe can explain.
      this.writeState(state);
      state.pid = this.start(state, spec.model.contextLength, token);
      this.writeState(state);
      return this.observeState(state);
    });
  }

  private start(state: LocalReplicaState, contextLength: number, token: string): number {
    const command = modelServerCommand({ modelPath: state.modelPath, servedModelName: state.servedModelName, port: state.port, threads: this.threads });
    const logFd = openSync(this.file(state.replicaId, "log"), "a");
    try {
      // Only what the server needs: the worker's secrets (DATABASE_URL, …) stay out of model processes.
      const inherited = Object.fromEntries(
        ["PATH", "HOME", "LANG", "TZ", "TMPDIR"].filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]!]),
      );
      const child = spawn(command.command, [...command.args, `${REPLICA_MARKER}${state.replicaId}`], {
        cwd: command.cwd,
        // The catalog's context length sizes the KV cache (main.ts caps it at the model's own).
        env: { ...inherited, NODE_ENV: "production", ...command.env, MODEL_CONTEXT_SIZE: String(contextLength > 0 ? contextLength : 4096), ENCLAVE_REPLICA_ID: state.replicaId,
          // The replica's own token only (never the secret): requests without it are refused.
          [REPLICA_TOKEN_ENV]: token },
        detached: true, // own process group: survives the worker and its terminal's Ctrl-C
        stdio: ["ignore", logFd, logFd],
      });
      child.on("error", () => {}); // reported through observe (no live pid), not as an unhandled event
      child.unref();
      if (child.pid === undefined) throw new DriverError(`Could not start the model server process for replica ${state.replicaId}.`, true);
      return child.pid;
    } finally {
      closeSync(logFd);
    }
  }

  private async pickPort(preferred?: number): Promise<number> {
    const taken = new Set(this.recorded().map((s) => s.port));
    const { from, to } = this.portRange;
    const size = to - from + 1;
    if (preferred !== undefined && preferred >= from && preferred <= to && (await portIsFree(preferred, "127.0.0.1"))) return preferred;
    // Start at a random offset so drivers sharing a range rarely race for the same port.
    const offset = Math.floor(Math.random() * size);
    for (let i = 0; i < size; i++) {
      const port = from + ((offset + i) % size);
      if (!taken.has(port) && (await portIsFree(port, "127.0.0.1"))) return port;
    }
    throw new DriverError(`No free port in ${from}-${to} for a local model server.`, true);
  }

  async observe(filter?: { deploymentId?: string }): Promise<ObservedReplica[]> {
    const states = this.recorded().filter((s) => !filter?.deploymentId || s.deploymentId === filter.deploymentId);
    return Promise.all(states.map((s) => this.observeState(s)));
  }

  async delete(replicaId: string): Promise<void> {
    return this.exclusive(async () => {
      const state = this.readState(replicaId);
      const pid = state ? this.livePid(state) : findReplicaPid(replicaId);
      if (pid !== null) await this.stop(pid, replicaId);
      rmSync(this.file(replicaId, "json"), { force: true });
      rmSync(this.file(replicaId, "log"), { force: true });
    });
  }

  /** SIGTERM the replica's process group, then SIGKILL if it is still there after stopTimeoutMs. */
  private async stop(pid: number, replicaId: string) {
    const signal = (sig: NodeJS.Signals) => {
      try {
        process.kill(-pid, sig);
      } catch {
        try {
          process.kill(pid, sig);
        } catch {
          // already gone
        }
      }
    };
    signal("SIGTERM");
    for (const [sig, wait] of [["SIGKILL", this.stopTimeoutMs], [null, 2000]] as const) {
      const deadline = Date.now() + wait;
      while (Date.now() < deadline && isReplicaProcess(pid, replicaId)) await sleep(50);
      if (!isReplicaProcess(pid, replicaId)) return;
      if (sig) signal(sig);
    }
    throw new DriverError(`Model server process ${pid} of replica ${replicaId} did not stop.`, true);
  }

  async capacity(): Promise<GpuCapacity[]> {
    const used: Record<string, number> = {};
    for (const state of this.recorded()) {
      const live = this.livePid(state) !== null || (state.pid === null && Date.now() - Date.parse(state.startedAt) < START_GRACE_MS);
      if (live) used[state.gpu.type] = (used[state.gpu.type] ?? 0) + state.gpu.count;
    }
    return Object.entries(this.totals).map(([gpuType, total]) => ({ gpuType, total, free: Math.max(0, total - (used[gpuType] ?? 0)) }));
  }
}

/** Stops every replica recorded in `stateDir` (the start script's Ctrl-C); returns their ids. */
export async function stopAllLocalReplicas(stateDir?: string): Promise<string[]> {
  const driver = new LocalDriver({ stateDir });
  const ids = driver.recorded().map((s) => s.replicaId);
  for (const id of ids) await driver.delete(id);
  return ids;
}
