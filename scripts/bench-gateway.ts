/**
 * `npm run bench`: what the gateway costs, measured on this machine, written to the gateway section
 * of docs/benchmarks.md (between its markers; the rest of the file is left as it is).
 *
 * Every part is its own process: a throw-away embedded PostgreSQL (or BENCH_DATABASE_URL), a bare
 * node:http upstream answering a fixed chat completion, the gateway started as in production
 * (`node --import tsx server/gateway/main.ts`: auth, limits, budget, residency policy, per-token
 * prices, metering, traces and metrics on), and the load generators:
 *
 * 1. Memory: a closed loop until the gateway has served BENCH_TOTAL requests (default 1,000,000; 0
 *    skips it); the gateway's RSS every tenth of that (every 100,000 by default).
 * 2. Added latency: an open-loop generator (scripts/lib/open-loop.ts, a process of its own) at
 *    BENCH_RATE (500) req/s, BENCH_WARMUP_SECONDS (3) of warm-up then BENCH_SECONDS (15) measured,
 *    straight to the upstream then through the gateway, BENCH_REPS (3) repetitions interleaved
 *    (direct, gateway, direct, …). Latency from each request's *scheduled* send time to the last
 *    byte of its answer (no coordinated omission). Added = gateway − direct, per repetition; the
 *    report gives the median of the repetitions and their spread.
 * 3. Saturation: `wrk` (BENCH_WRK_THREADS 1, BENCH_WRK_CONNECTIONS 32, BENCH_WRK_SECONDS 15),
 *    BENCH_REPS repetitions interleaved direct/gateway.
 * 4. Guardrails (docs/guardrails.md): the same open loop at BENCH_GUARDRAIL_RATE (200) req/s, for
 *    (a) the JSON schema + personal-data checks on a 2 KB prompt and a 2 KB JSON answer, and (b)
 *    the built-in groundedness check over 10 KB of sources; each straight to its upstream, through
 *    the gateway with every rule off, and with the checks on, interleaved; the checks' cost is
 *    "checks on − rules off". Then the time to first token a stream's redaction costs (its
 *    lookahead), over BENCH_STREAM_CALLS (40) streamed calls at ~100 tokens/s.
 * Then: every answered request has its UsageRecord (and its Trace, when the table exists).
 * During every phase, the CPU used by the benchmark's own processes and by everything else on the
 * machine is measured (/proc), so the report says how busy the machine was.
 *
 * Diagnosis: BENCH_PROBE=1 preloads scripts/lib/gateway-probe.ts into the gateway (event-loop
 * delay, GC pauses, PostgreSQL queries, full reloads and spool batches, with their times) and lines
 * the slowest requests up with them; BENCH_PROBE_DISABLE=refresh|spool|poll|traces turns one
 * suspect off; BENCH_PROBE_TOGGLE=<same> flips it by SIGUSR2 for paired runs on one gateway; and
 * BENCH_B_ENV / BENCH_B_NODE_ARGS / BENCH_B_MAIN start a second gateway "B", run right after the
 * first in odd repetitions and right before it in even ones (use an even BENCH_REPS) (e.g. BENCH_B_ENV=BENCH_PROBE_DISABLE=traces, or GATEWAY_METRICS=off).
 * BENCH_NICE=-10 runs every process of the benchmark at that CPU priority (root; diagnosis on a
 * busy shared machine only). Other knobs: BENCH_ONLY=latency|saturation|guardrails, BENCH_DUMP=<dir> (per-request timings),
 * BENCH_GATEWAY_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"), BENCH_GATEWAY_ENV
 * (extra KEY=VALUE,… for the gateway), BENCH_OUTPUT (another file), BENCH_VERBOSE.
 * A run with any diagnosis knob set prints its figures and does not rewrite docs/benchmarks.md.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { readTimings, type Summary } from "./lib/open-loop";
import { runWrk, wrkAvailable, type WrkResult } from "./lib/wrk";
import { writeBenchmarkSection } from "./lib/benchmarks-doc";
import { GATEWAY_NODE_FLAGS } from "../server/gateway/node-flags";

const ROOT = path.resolve(import.meta.dirname, "..");
const MODEL = "bench-assistant";
const OPEN_LOOP = path.join(ROOT, "scripts", "lib", "open-loop.ts");
const PROBE = path.join(ROOT, "scripts", "lib", "gateway-probe.ts");
const SECTION_START = "<!-- gateway-bench:start (written by npm run bench) -->";
const SECTION_END = "<!-- gateway-bench:end -->";

// ---- the bare upstream (this file, run as a child with the argument "upstream") ----

/** `kind`: "fixed" (the short answer), "json" (GUARDED_ANSWER, ~2 KB of JSON), "grounded" (GROUNDED_ANSWER), "stream" (SSE at ~100 tokens/s). */
function runUpstream(kind = "fixed") {
  const content = kind === "json" ? GUARDED_ANSWER : kind === "grounded" ? GROUNDED_ANSWER : "Bonjour, comment puis-je vous aider ?";
  const body = Buffer.from(
    JSON.stringify({
      id: "chatcmpl-bench",
      object: "chat.completion",
      created: 1_700_000_000,
      model: MODEL,
      choices: [{ index: 0, message: { role: "assistant", content, refusal: null }, logprobs: null, finish_reason: "stop" }],
      usage: { prompt_tokens: 9, completion_tokens: 11, total_tokens: 20 },
    }),
  );
  const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    req.resume();
    req.on("end", () => {
      if (kind === "stream") return streamAnswer(res);
      res.writeHead(200, ["content-type", "application/json", "content-length", String(body.length)]);
      res.end(body);
    });
  });
  server.listen(0, "127.0.0.1", () => process.stdout.write(`${JSON.stringify({ port: (server.address() as net.AddressInfo).port })}\n`));
}

/** A streamed answer: STREAM_TEXT in deltas of 4 characters, one every 10 ms (a model at ~100 tokens/s). */
function streamAnswer(res: http.ServerResponse) {
  res.writeHead(200, ["content-type", "text/event-stream", "cache-control", "no-cache"]);
  const deltas = STREAM_TEXT.match(/[\s\S]{1,4}/g) ?? [];
  const event = (delta: object, finish: string | null) => `data: ${JSON.stringify({ id: "chatcmpl-bench", object: "chat.completion.chunk", created: 1_700_000_000, model: MODEL, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}\n\n`;
  let i = 0;
  const next = () => {
    if (res.destroyed) return;
    if (i < deltas.length) res.write(event({ content: deltas[i++] }, null));
    else return res.end(`${event({}, "stop")}data: [DONE]\n\n`);
    setTimeout(next, 10);
  };
  next();
}

// ---- guardrail scenarios (docs/guardrails.md) ----

const GUARDED_MODEL = "bench-guarded";
const GROUNDED_MODEL = "bench-grounded";
const STREAM_MODEL = "bench-stream";
const FILLER_FR =
  "Le comité de pilotage s'est réuni pour examiner l'avancement du projet de modernisation du système d'information hospitalier. Les équipes ont présenté les résultats des tests de charge et le calendrier de déploiement dans les services de cardiologie et de pédiatrie. ";
const FILLER_DE = "Die Projektgruppe hat die Ergebnisse der Lasttests vorgestellt und den Zeitplan für die Einführung in den Abteilungen besprochen. ";
const repeatTo = (text: string, bytes: number) => text.repeat(Math.ceil(bytes / Buffer.byteLength(text))).slice(0, bytes);
/** ~2 KB of prompt, with personal data for the detector to find (observe: nothing is changed). */
const GUARDED_PROMPT = `${repeatTo(FILLER_FR + FILLER_DE, 1900)} Contact : claire.dupont@example.fr, +33 6 12 34 56 78.`;
const GUARDED_SCHEMA = {
  type: "json_schema",
  json_schema: {
    name: "compte_rendu",
    strict: true,
    schema: {
      type: "object",
      properties: { titre: { type: "string" }, points: { type: "array", items: { type: "string" } }, participants: { type: "integer", minimum: 1 }, contact: { type: "string" } },
      required: ["titre", "points", "participants", "contact"],
      additionalProperties: false,
    },
  },
};
/** ~2 KB of JSON valid against GUARDED_SCHEMA. */
const GUARDED_ANSWER = JSON.stringify({
  titre: "Compte rendu du comité de pilotage",
  points: Array.from({ length: 7 }, (_, i) => `Point ${i + 1} : ${FILLER_FR.slice(0, 230)}`),
  participants: 12,
  contact: "secretariat@example.fr",
});
/** ~10 KB of sources with the facts (numbers, dates, amounts, names) the answer cites. */
const GROUNDING_SOURCES = Array.from({ length: 8 }, (_, i) => ({
  id: `doc${i + 1}`,
  title: `Rapport ${i + 1}`,
  text: repeatTo(
    `Le rapport ${i + 1} indique que le contrat signé le 12 mars 2024 avec la société Arvalis porte sur ${45 + i} 000 euros et couvre ${3 + i} sites, dont Lyon et Grenoble. ${FILLER_FR}`,
    1270,
  ),
}));
const GROUNDED_ANSWER =
  "Le contrat a été signé le 12 mars 2024 avec la société Arvalis [doc1]. Il porte sur 45 000 euros et couvre 3 sites, dont Lyon et Grenoble [doc1]. Le rapport 2 mentionne 46 000 euros pour 4 sites [doc2].";
const STREAM_TEXT = "Bonjour. Le rendez-vous de contrôle est confirmé pour jeudi matin au service de cardiologie, deuxième étage. Apportez vos résultats d'analyse. ";

// ---- requests ----

const CHAT_BODY = JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "Bonjour" }], max_tokens: 16 });
const GUARDED_BODY = JSON.stringify({ model: GUARDED_MODEL, messages: [{ role: "user", content: GUARDED_PROMPT }], max_tokens: 512, response_format: GUARDED_SCHEMA });
const GROUNDED_BODY = JSON.stringify({ model: GROUNDED_MODEL, messages: [{ role: "user", content: "Résume les rapports." }], max_tokens: 256, grounding: { sources: GROUNDING_SOURCES } });

function chatHeaders(key: string | null): Record<string, string> {
  return { "Content-Type": "application/json", ...(key ? { Authorization: `Bearer ${key}` } : {}) };
}

/** The request's bytes, with an `X-Request-Id` of 12 digits the open-loop generator numbers (ID_SLOT). */
const ID_SLOT = "000000000000";
function chatRequest(key: string | null, body = CHAT_BODY) {
  const headers = Object.entries({ Host: "127.0.0.1", ...chatHeaders(key), "X-Request-Id": ID_SLOT, "Content-Length": String(Buffer.byteLength(body)) })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("");
  return Buffer.from(`POST /v1/chat/completions HTTP/1.1\r\n${headers}\r\n${body}`);
}

/** Each of `concurrency` raw keep-alive connections sends its next request when the previous one is answered (memory phase). */
function closedLoop(port: number, request: Buffer, concurrency: number, until: (count: number) => boolean, onCount?: (count: number) => void) {
  return new Promise<{ count: number; ok: number; elapsedMs: number }>((resolve) => {
    let count = 0;
    let ok = 0;
    let active = concurrency;
    const start = performance.now();
    const sockets: net.Socket[] = [];
    const connect = () => {
      const socket = net.connect(port, "127.0.0.1");
      socket.setNoDelay(true);
      sockets.push(socket);
      let buffer: Buffer | null = null;
      const next = () => {
        if (until(count)) {
          if (--active === 0) {
            for (const s of sockets) s.destroy();
            resolve({ count, ok, elapsedMs: performance.now() - start });
          }
          return;
        }
        socket.write(request);
      };
      socket.on("data", (data: Buffer) => {
        let buf = buffer ? Buffer.concat([buffer, data]) : data;
        for (;;) {
          const headerEnd = buf.indexOf("\r\n\r\n");
          if (headerEnd === -1) break;
          const head = buf.toString("latin1", 0, headerEnd);
          const length = /content-length: *(\d+)/i.exec(head);
          const total = headerEnd + 4 + (length ? Number(length[1]) : 0);
          if (buf.length < total) break;
          count++;
          if (head.slice(9, 12) === "200") ok++;
          buf = buf.subarray(total);
          onCount?.(count);
          next();
        }
        buffer = buf.length ? buf : null;
      });
      socket.on("error", () => {});
      next();
    };
    for (let i = 0; i < concurrency; i++) connect();
  });
}

// ---- statistics ----

function quantile(sorted: Float64Array, p: number) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : Number.NaN;
}

interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

function percentiles(values: Float64Array): Percentiles {
  const s = Float64Array.from(values).sort();
  return { p50: quantile(s, 0.5), p90: quantile(s, 0.9), p99: quantile(s, 0.99), p999: quantile(s, 0.999), max: s[s.length - 1] };
}

function median(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const fmt = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : "∞");
const int = (n: number) => Math.round(n).toLocaleString("en");
const spread = (xs: number[], digits = 2) => `${fmt(Math.min(...xs), digits)}–${fmt(Math.max(...xs), digits)}`;

// ---- CPU accounting ----

const CLOCK_TICKS = 100;

/** utime + stime, plus cutime + cstime (children waited for: the generators, wrk, exited backends). */
function processTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  } catch {
    return 0;
  }
}

function childrenOf(parent: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === parent) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** A process and its children: a gateway with GATEWAY_WORKERS > 1 is a primary and its workers. */
function treeOf(pid: number): number[] {
  return [pid, ...childrenOf(pid)];
}

function machineTicks(): { busy: number; total: number } {
  const cpu = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = cpu[3] + (cpu[4] ?? 0);
  const total = cpu.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** Resident memory of a process and its children (a gateway's primary and workers), in MB. */
function rssMb(pid: number): number {
  let kb = 0;
  for (const p of treeOf(pid)) {
    try {
      kb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, "utf8"))![1]);
    } catch {
      // gone meanwhile
    }
  }
  return kb / 1024;
}

/** Cores used by this benchmark's processes and by everything else, over a phase. */
interface CpuUse {
  seconds: number;
  /** Cores (0–N) used by the benchmark: generator, upstream, gateway, PostgreSQL. */
  ours: number;
  /** Cores used by everything else on the machine. */
  others: number;
  /** CPU seconds the gateway's processes used (its workers too, with GATEWAY_WORKERS > 1). */
  gatewaySeconds: number;
  /** CPU seconds PostgreSQL (the embedded one) used. */
  postgresSeconds: number;
  /** CPU seconds the upstream used. */
  upstreamSeconds: number;
  load1: number;
}

function cpuMeter(ourPids: () => number[], gatewayPid: number, postgresPids: () => number[], upstreamPid: number) {
  const snap = () => ({
    upstream: processTicks(upstreamPid),
    machine: machineTicks(),
    ours: ourPids().reduce((n, pid) => n + processTicks(pid), 0),
    gateway: treeOf(gatewayPid).reduce((n, pid) => n + processTicks(pid), 0),
    postgres: postgresPids().reduce((n, pid) => n + processTicks(pid), 0),
    at: performance.now(),
  });
  return () => {
    const before = snap();
    return (): CpuUse => {
      const after = snap();
      const seconds = (after.at - before.at) / 1000;
      const busy = (after.machine.busy - before.machine.busy) / CLOCK_TICKS;
      const ours = (after.ours - before.ours) / CLOCK_TICKS;
      return { seconds, ours: ours / seconds, others: Math.max(0, busy - ours) / seconds, gatewaySeconds: (after.gateway - before.gateway) / CLOCK_TICKS, postgresSeconds: (after.postgres - before.postgres) / CLOCK_TICKS, upstreamSeconds: (after.upstream - before.upstream) / CLOCK_TICKS, load1: os.loadavg()[0] };
    };
  };
}

// ---- processes ----

function startChild(args: string[], env: NodeJS.ProcessEnv, ready: RegExp): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child did not start:\n${output}`)), 60_000);
    const onData = (d: Buffer) => {
      output += String(d);
      if (output.length > 1 << 20) output = output.slice(-(1 << 16));
      const match = ready.exec(output);
      if (match) {
        clearTimeout(timer);
        child.stdout!.off("data", onData);
        child.stdout!.resume();
        resolve({ child, match });
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", (d) => {
      if (process.env.BENCH_VERBOSE) process.stderr.write(d);
      else output += String(d);
    });
    child.once("exit", (code) => reject(new Error(`child exited with ${code}:\n${output}`)));
  });
}

/** Runs a child to its end; resolves with its stdout. */
function runChild(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += String(d)));
  child.stderr!.on("data", (d) => (stderr += String(d)));
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => (code === 0 ? resolve(stdout) : reject(new Error(`${args.join(" ")} exited with ${code}:\n${stderr}`))));
  });
}

function stopChild(c: ChildProcess): Promise<void> {
  return new Promise<void>((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) return resolve();
    const timer = setTimeout(() => c.kill("SIGKILL"), 20_000);
    c.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    c.kill("SIGTERM");
  });
}

// ---- the fixture ----

async function seed(databaseUrl: string) {
  const { createDb } = await import("../server/db");
  const { generateApiKey } = await import("../server/services/api-key-secrets");
  const db = createDb(databaseUrl);
  const tag = randomBytes(3).toString("hex");
  const user = await db.user.create({ data: { email: `bench-${tag}@example.test`, name: "bench" } });
  const org = await db.organization.create({ data: { name: "Bench", slug: `bench-${tag}` } });
  const gpu = await db.gpuType.create({ data: { code: `BENCH-${tag}`, name: "bench", vendor: "none", memoryGb: 1 } });
  const region = await db.region.create({
    data: {
      code: `bench-${tag}`,
      name: "Bench region",
      provider: "bench",
      country: "FR",
      city: "Paris",
      jurisdiction: "FR",
      certifications: ["SecNumCloud"],
      driverKind: "LOCAL",
      carbonIntensityGco2Kwh: 30,
      capacities: { create: { gpuTypeId: gpu.id, totalGpus: 8, priceCentsPerGpuHour: 100 } },
    },
  });
  const model = await db.catalogModel.create({
    data: { slug: `bench-${tag}`, family: "bench", name: "bench", version: "1", parameterCount: 1n, contextLength: 512, license: "MIT", openWeights: true, openData: true, origin: "bench", artifactUri: "local://bench", runtime: "LLAMA_CPP", gpuMemoryGb: 1 },
  });
  // The policy is evaluated on every request (and allows the region).
  await db.residencyPolicy.create({ data: { orgId: org.id, dataClassification: "INTERNAL", allowedJurisdictions: ["EU"], requiredCertifications: ["SecNumCloud"] } });
  const deployment = await db.deployment.create({
    data: { orgId: org.id, name: MODEL, catalogModelId: model.id, regionId: region.id, gpuTypeId: gpu.id, gpusPerReplica: 1, dataClassification: "INTERNAL", phase: "RUNNING", createdById: user.id },
  });
  const prices = await setPricesAndBudget(db, model.id, org.id);
  const secret = generateApiKey();
  // Limits far above the load, so they are exercised (leases, balances) without refusing.
  await db.apiKey.create({
    data: {
      orgId: org.id,
      name: "bench",
      prefix: secret.prefix,
      secretHash: secret.secretHash,
      scopes: ["inference"],
      rateLimitRpm: 1_000_000_000,
      rateLimitTpm: 1_000_000_000,
      monthlyBudgetCents: 100_000_000,
      createdById: user.id,
    },
  });
  // The guardrail scenarios: one deployment per upstream kind, and keys whose overrides turn rules
  // off (the baseline) or on. The main key has the defaults a new organisation gets (schema and
  // personal data, observe).
  const guarded: Record<string, string> = {};
  for (const name of [GUARDED_MODEL, GROUNDED_MODEL, STREAM_MODEL]) {
    const d = await db.deployment.create({
      data: { orgId: org.id, name, catalogModelId: model.id, regionId: region.id, gpuTypeId: gpu.id, gpusPerReplica: 1, dataClassification: "INTERNAL", phase: "RUNNING", createdById: user.id },
    });
    guarded[name] = d.id;
  }
  const off = { "schema.output": "off", "pii.input": "off", "pii.output": "off", "grounded.output": "off" };
  const guardKey = async (name: string, rules: Record<string, string>) => {
    const k = generateApiKey();
    const row = await db.apiKey.create({ data: { orgId: org.id, name, prefix: k.prefix, secretHash: k.secretHash, scopes: ["inference"], createdById: user.id } });
    await db.guardrailPolicy.create({ data: { orgId: org.id, apiKeyId: row.id, rules } });
    return k.key;
  };
  const guardrailKeys = {
    off: await guardKey("bench rules off", off),
    grounded: await guardKey("bench grounded", { ...off, "grounded.output": "observe" }),
    redact: await guardKey("bench stream redact", { ...off, "pii.output": "redact" }),
  };
  return {
    db,
    key: secret.key,
    deploymentId: deployment.id,
    orgId: org.id,
    prices,
    guardrailKeys,
    addReplica: (endpoint: string) => db.deploymentReplica.create({ data: { deploymentId: deployment.id, ordinal: 0, revision: 1, state: "ready", endpoint, readyAt: new Date() } }),
    addGuardedReplica: (name: string, endpoint: string) =>
      db.deploymentReplica.create({ data: { deploymentId: guarded[name], ordinal: 0, revision: 1, state: "ready", endpoint, readyAt: new Date() } }),
  };
}

/**
 * Per-token prices on the catalog model, and a hard monthly budget on the organisation, as
 * production will have them: every request then has a cost, debited from the key's budget and the
 * organisation's (both far above what the benchmark spends, so they are checked, never refused).
 * Set only when the schema has the columns (raw SQL: the benchmark also runs on older schemas).
 */
async function setPricesAndBudget(
  db: { $queryRawUnsafe<T>(q: string, ...v: unknown[]): Promise<T>; $executeRawUnsafe(q: string, ...v: unknown[]): Promise<number> },
  modelId: string,
  orgId: string,
): Promise<string> {
  const columns = new Set(
    (
      await db.$queryRawUnsafe<{ c: string }[]>(
        `SELECT table_name || '.' || column_name AS c FROM information_schema.columns WHERE table_schema = current_schema() AND table_name IN ('CatalogModel', 'Organization')`,
      )
    ).map((r) => r.c),
  );
  const said: string[] = [];
  if (columns.has("CatalogModel.inputMicroEurPerMillionTokens") && columns.has("CatalogModel.outputMicroEurPerMillionTokens")) {
    // €0.50 and €1.50 per million tokens in and out.
    await db.$executeRawUnsafe(`UPDATE "CatalogModel" SET "inputMicroEurPerMillionTokens" = 500000, "outputMicroEurPerMillionTokens" = 1500000 WHERE id = $1`, modelId);
    said.push("per-token prices €0.50 / €1.50 per million tokens in / out");
  } else said.push("no per-token prices (the catalog has no price columns)");
  if (columns.has("Organization.monthlyBudgetCents") && columns.has("Organization.budgetMode")) {
    await db.$executeRawUnsafe(`UPDATE "Organization" SET "monthlyBudgetCents" = 100000000, "budgetMode" = 'HARD' WHERE id = $1`, orgId);
    said.push("a hard organisation budget");
  }
  return said.join(", ");
}

// ---- diagnosis: the slowest requests against the gateway's timeline ----

interface ProbeData {
  disabled: string[];
  loop: [number, number, number][];
  gc: [number, number, number][];
  queries: [number, number, number, string][];
  spans: [string, number, number][];
  requests?: [number, number, number][];
}

interface TimedRun {
  label: string;
  /** Absolute (epoch ms) scheduled time and end of each request. */
  start: Float64Array;
  end: Float64Array;
  latency: Float64Array;
  lag: Float64Array;
  /** Absolute time each request was written. */
  sent: Float64Array;
  /** The x-request-id of the first measured request (then +1 each). */
  firstId: number;
}

function queryKind(head: string) {
  if (head.startsWith("WITH rows")) return "usage INSERT";
  if (/Trace/.test(head)) return "trace INSERT";
  if (/GatewayAllowance/.test(head)) return "limit lease";
  if (head.startsWith("SELECT concat_ws")) return "change poll";
  return "other query";
}

/** For each suspect: the share of the slowest 1 % of requests that overlap it, against the share of all requests. */
function attribute(runs: TimedRun[], probe: ProbeData) {
  const intervals = new Map<string, [number, number][]>();
  const add = (name: string, a: number, b: number) => {
    let list = intervals.get(name);
    if (!list) intervals.set(name, (list = []));
    list.push([a, b]);
  };
  const gcKind: Record<number, string> = { 1: "GC scavenge", 2: "GC minor mark-sweep", 4: "GC mark-compact", 8: "GC incremental", 16: "GC weak callbacks" };
  for (const [t, d, k] of probe.gc) add(gcKind[k] ?? `GC kind ${k}`, t, t + d);
  for (const [t0, sync, end, head] of probe.queries) {
    add(`${queryKind(head)} (in flight)`, t0, end || t0);
    if (sync > 0.2) add(`${queryKind(head)} (sync part > 0.2 ms)`, t0, t0 + sync);
  }
  for (const [name, a, b] of probe.spans) add(name, a, b);
  for (const [t, max] of probe.loop) if (max > 3) add("event loop delayed > 3 ms (100 ms window)", t - 100, t);
  for (const list of intervals.values()) list.sort((x, y) => x[0] - y[0]);

  const overlaps = (list: [number, number][], a: number, b: number) => {
    // Binary search for the first interval ending after a.
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid][0] <= b) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo - 1; i >= 0 && i >= lo - 64; i--) if (list[i][1] >= a && list[i][0] <= b) return true;
    return false;
  };
  const rows: { suspect: string; slow: number; all: number; count: number }[] = [];
  let slowTotal = 0;
  let allTotal = 0;
  const slowHits = new Map<string, number>();
  const allHits = new Map<string, number>();
  let slowLate = 0;
  let allLate = 0;
  for (const run of runs) {
    const threshold = quantile(Float64Array.from(run.latency).sort(), 0.99);
    for (let i = 0; i < run.latency.length; i++) {
      const slow = run.latency[i] >= threshold;
      if (slow) slowTotal++;
      allTotal++;
      const late = run.lag[i] > 1.5;
      if (late) {
        allLate++;
        if (slow) slowLate++;
      }
      for (const [name, list] of intervals) {
        if (!overlaps(list, run.start[i], run.end[i])) continue;
        allHits.set(name, (allHits.get(name) ?? 0) + 1);
        if (slow) slowHits.set(name, (slowHits.get(name) ?? 0) + 1);
      }
    }
  }
  for (const [name, list] of intervals) rows.push({ suspect: name, slow: (slowHits.get(name) ?? 0) / slowTotal, all: (allHits.get(name) ?? 0) / allTotal, count: list.length });
  rows.push({ suspect: "generator sent > 1.5 ms late", slow: slowLate / slowTotal, all: allLate / allTotal, count: allLate });
  rows.sort((a, b) => b.slow - a.slow);

  // Each request's legs, from the gateway's own timeline (x-request-id): generator → gateway's
  // onRequest ("in"), onRequest → answer handed to the kernel ("gateway", upstream call included),
  // → last byte at the generator ("out"). Then the first cause that explains a slow request.
  const byId = new Map<number, [number, number]>();
  for (const [id, arrival, finish] of probe.requests ?? []) byId.set(id, [arrival, finish]);
  const gcList = probe.gc.filter((g) => g[1] >= 1).map(([t, d]) => [t, t + d] as [number, number]).sort((x, y) => x[0] - y[0]);
  const syncList = (kind: (k: string) => boolean) =>
    probe.queries.filter((q) => kind(queryKind(q[3])) && q[1] >= 0.5).map(([t, d]) => [t, t + d] as [number, number]).sort((x, y) => x[0] - y[0]);
  const insertSyncList = syncList((k) => k.endsWith("INSERT"));
  const otherSyncList = syncList((k) => !k.endsWith("INSERT"));
  const refreshList = probe.spans.filter((x) => x[0] === "fullRefresh").map(([, a, b]) => [a, b] as [number, number]);
  const insertFlight = probe.queries.filter((q) => queryKind(q[3]).endsWith("INSERT")).map(([t, , e]) => [t, e || t] as [number, number]).sort((x, y) => x[0] - y[0]);
  const causeNames = ["generator late", "GC pause ≥ 1 ms", "INSERT serialisation ≥ 0.5 ms", "other query serialisation ≥ 0.5 ms", "full reload", "INSERT in flight (PostgreSQL busy)", "none of these: slow leg in", "none of these: slow leg gateway", "none of these: slow leg out", "not matched"];
  const causeSlow = new Map<string, number>();
  const causeAll = new Map<string, number>();
  const legSlow: number[][] = [[], [], []];
  const legAll: number[][] = [[], [], []];
  for (const run of runs) {
    const threshold = quantile(Float64Array.from(run.latency).sort(), 0.99);
    for (let i = 0; i < run.latency.length; i++) {
      const slow = run.latency[i] >= threshold;
      const times = byId.get(run.firstId + i);
      let cause: string;
      const a = run.start[i];
      const b = run.end[i];
      if (run.lag[i] > 1.5 && run.lag[i] >= 0.5 * (run.latency[i] - 0.3)) cause = causeNames[0];
      else if (overlaps(gcList, a, b)) cause = causeNames[1];
      else if (overlaps(insertSyncList, a, b)) cause = causeNames[2];
      else if (overlaps(otherSyncList, a, b)) cause = causeNames[3];
      else if (overlaps(refreshList, a, b)) cause = causeNames[4];
      else if (overlaps(insertFlight, a, b)) cause = causeNames[5];
      else if (!times || !times[1]) cause = causeNames[9];
      else {
        const legs = [times[0] - run.sent[i], times[1] - times[0], b - times[1]];
        cause = causeNames[6 + legs.indexOf(Math.max(...legs))];
      }
      causeAll.set(cause, (causeAll.get(cause) ?? 0) + 1);
      if (slow) causeSlow.set(cause, (causeSlow.get(cause) ?? 0) + 1);
      if (times && times[1]) {
        const legs = [times[0] - run.sent[i], times[1] - times[0], b - times[1]];
        for (let k = 0; k < 3; k++) (slow ? legSlow : legAll)[k].push(legs[k]);
      }
    }
  }
  const med = (xs: number[]) => (xs.length ? median(xs) : Number.NaN);
  const legLine = `legs (median, ms) in / gateway / out: slowest 1 % ${legSlow.map((l) => fmt(med(l), 3)).join(" / ")}, others ${legAll.map((l) => fmt(med(l), 3)).join(" / ")} (${legSlow[0].length + legAll[0].length} matched)`;
  const causes = causeNames.map((name) => ({ cause: name, slow: (causeSlow.get(name) ?? 0) / slowTotal, all: (causeAll.get(name) ?? 0) / allTotal }));
  const gcPauses = (k: number) => probe.gc.filter((g) => g[2] === k).map((g) => g[1]);
  const scav = Float64Array.from(gcPauses(1)).sort();
  const inserts = probe.queries.filter((q) => queryKind(q[3]) === "usage INSERT");
  const insertSync = Float64Array.from(inserts.map((q) => q[1])).sort();
  const insertWall = Float64Array.from(inserts.map((q) => (q[2] || q[0]) - q[0])).sort();
  const refresh = probe.spans.filter((s) => s[0] === "fullRefresh").map((s) => s[2] - s[1]);
  const loopMax = Float64Array.from(probe.loop.map((l) => l[1])).sort();
  return {
    rows,
    causes,
    slowTotal,
    summary: [
      legLine,
      `GC: ${probe.gc.length} pauses; scavenges ${scav.length}, p50 ${fmt(quantile(scav, 0.5))} ms, max ${fmt(scav[scav.length - 1] ?? 0)} ms; mark-compact ${gcPauses(4).length} (max ${fmt(Math.max(0, ...gcPauses(4)))} ms)`,
      `usage INSERTs: ${inserts.length}, synchronous part p50 ${fmt(quantile(insertSync, 0.5), 3)} max ${fmt(insertSync[insertSync.length - 1] ?? 0, 3)} ms; round trip p50 ${fmt(quantile(insertWall, 0.5))} max ${fmt(insertWall[insertWall.length - 1] ?? 0)} ms`,
      `full reloads: ${refresh.length}, ${refresh.map((r) => fmt(r)).join(", ")} ms`,
      `event-loop delay per 100 ms window: p50 of max ${fmt(quantile(loopMax, 0.5))} ms, p99 ${fmt(quantile(loopMax, 0.99))} ms, max ${fmt(loopMax[loopMax.length - 1] ?? 0)} ms`,
      `queries: ${[...new Set(probe.queries.map((q) => queryKind(q[3])))].map((k) => `${k} ${probe.queries.filter((q) => queryKind(q[3]) === k).length}`).join(", ")}`,
    ],
  };
}

// ---- the report ----

interface LatencyRun {
  summary: Summary;
  /** From the scheduled send time. */
  latency: Percentiles;
  /** From the actual write (service time). */
  service: Percentiles;
  cpu: CpuUse;
  timed: TimedRun;
}

interface Rep {
  direct: LatencyRun;
  gateway: LatencyRun;
  /** With BENCH_PROBE_TOGGLE: the same gateway with those suspects flipped (SIGUSR2). */
  toggled?: LatencyRun;
}


async function main() {
  const rate = Number(process.env.BENCH_RATE ?? 500);
  const seconds = Number(process.env.BENCH_SECONDS ?? 15);
  const warmupSeconds = Number(process.env.BENCH_WARMUP_SECONDS ?? 3);
  const reps = Number(process.env.BENCH_REPS ?? 3);
  const total = Number(process.env.BENCH_TOTAL ?? 1_000_000);
  const wrkThreads = Number(process.env.BENCH_WRK_THREADS ?? 1);
  const wrkConnections = Number(process.env.BENCH_WRK_CONNECTIONS ?? 32);
  const wrkSeconds = Number(process.env.BENCH_WRK_SECONDS ?? 15);
  const only = process.env.BENCH_ONLY ?? "";
  const toggle = process.env.BENCH_PROBE_TOGGLE ?? "";
  const probing = Boolean(process.env.BENCH_PROBE || process.env.BENCH_PROBE_DISABLE || toggle);
  const diagnosis = probing || Boolean(process.env.BENCH_NICE || only || process.env.BENCH_GATEWAY_NODE_ARGS || process.env.BENCH_GATEWAY_ENV || process.env.BENCH_B_ENV || process.env.BENCH_B_NODE_ARGS || process.env.BENCH_B_MAIN);
  const output = process.env.BENCH_OUTPUT ?? (diagnosis ? null : path.join(ROOT, "docs", "benchmarks.md"));
  const log = (line: string) => console.log(`[bench] ${line}`);
  const loadAtStart = os.loadavg();
  const startedAt = new Date();
  if (seconds < 15 || wrkSeconds < 15 || reps < 3) log(`note: below the documented method (15 s runs, 3 repetitions): ${seconds} s, wrk ${wrkSeconds} s, ${reps} repetitions`);

  // Diagnosis on a busy shared machine: a higher CPU priority for every process of the benchmark
  // (this one, so its children inherit it, and PostgreSQL's), so that what it measures is the
  // gateway more than the neighbours. Never for the published figures.
  const nice = process.env.BENCH_NICE ? Number(process.env.BENCH_NICE) : null;
  if (nice !== null) os.setPriority(process.pid, nice);
  const wrkVersion = only === "latency" || only === "guardrails" ? "not used" : await wrkAvailable();
  if (!wrkVersion) throw new Error("wrk is not installed (Debian: apt-get install wrk; .ci/run installs it)");

  let stopDatabase: (() => Promise<void>) | null = null;
  let databaseUrl = process.env.BENCH_DATABASE_URL;
  const dataDir = path.join(ROOT, ".data", `bench-pg-${process.pid}`);
  const spoolRoot = path.join(ROOT, ".data", `bench-spool-${process.pid}`);
  const tmp = mkdtempSync(path.join(os.tmpdir(), "bench-gateway-"));
  const probeOut = path.join(tmp, "probe-gw.json");
  const children: ChildProcess[] = [];
  const cleanup = async () => {
    // SIGTERM first: the gateway flushes (and writes its profile or probe).
    await Promise.all(children.map(stopChild));
    await stopDatabase?.();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(spoolRoot, { recursive: true, force: true });
    rmSync(tmp, { recursive: true, force: true });
  };
  process.on("SIGINT", () => void cleanup().then(() => process.exit(130)));

  try {
    if (!databaseUrl) {
      const { startEmbeddedPostgres } = await import("./lib/embedded-postgres");
      const database = await startEmbeddedPostgres({ dataDir, database: "enclave_bench", persistent: false });
      stopDatabase = () => database.stop();
      databaseUrl = database.url;
      log("embedded PostgreSQL started");
      if (nice !== null) {
        const postmaster = Number(readFileSync(path.join(dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
        for (const pid of [postmaster, ...childrenOf(postmaster)]) os.setPriority(pid, nice);
        log(`benchmark processes at nice ${nice}`);
      }
    }
    const { migrate } = await import("./lib/database");
    await migrate(databaseUrl);
    const fixture = await seed(databaseUrl);
    log(`fixture: ${fixture.prices}`);

    const upstream = await startChild(["--import", "tsx", import.meta.filename, "upstream"], process.env, /\{"port":(\d+)\}/);
    children.push(upstream.child);
    const upstreamPort = Number(upstream.match[1]);
    await fixture.addReplica(`http://127.0.0.1:${upstreamPort}`);
    const guardrailUpstreams: Record<string, { port: number; pid: number }> = {};
    for (const [name, kind] of [[GUARDED_MODEL, "json"], [GROUNDED_MODEL, "grounded"], [STREAM_MODEL, "stream"]] as const) {
      const u = await startChild(["--import", "tsx", import.meta.filename, "upstream", kind], process.env, /\{"port":(\d+)\}/);
      children.push(u.child);
      guardrailUpstreams[name] = { port: Number(u.match[1]), pid: u.child.pid! };
      await fixture.addGuardedReplica(name, `http://127.0.0.1:${u.match[1]}`);
    }

    mkdirSync(spoolRoot, { recursive: true });
    const envList = (text: string | undefined) =>
      Object.fromEntries(
        (text ?? "")
          .split(",")
          .filter(Boolean)
          .map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
      );
    const startGateway = async (name: string, nodeArgs: string | undefined, main: string, env: Record<string, string>) => {
      const started = await startChild(
        // As it ships (node-flags.ts); BENCH_GATEWAY_NODE_ARGS / BENCH_B_NODE_ARGS come after, so they can override a flag.
        [...GATEWAY_NODE_FLAGS, ...(nodeArgs?.split(" ").filter(Boolean) ?? []), "--import", "tsx", ...(probing || env.BENCH_PROBE_DISABLE ? ["--import", PROBE] : []), main],
        {
          ...process.env,
          DATABASE_URL: databaseUrl,
          GATEWAY_PORT: "0",
          GATEWAY_HOST: "127.0.0.1",
          GATEWAY_SPOOL_DIR: path.join(spoolRoot, name),
          BENCH_PROBE_OUT: path.join(tmp, `probe-${name}.json`),
          ...env,
        },
        /"message":"gateway listening".*?"url":"http:\/\/127\.0\.0\.1:(\d+)"/,
      );
      children.push(started.child);
      return { child: started.child, port: Number(started.match[1]), pid: started.child.pid! };
    };
    const gatewayMain = path.join(ROOT, "server", "gateway", "main.ts");
    const gw = await startGateway("gw", process.env.BENCH_GATEWAY_NODE_ARGS, gatewayMain, envList(process.env.BENCH_GATEWAY_ENV));
    const gatewayPort = gw.port;
    const gatewayPid = gw.pid;
    log(`upstream :${upstreamPort}, gateway :${gatewayPort} (pid ${gatewayPid})${probing ? `, probe on (disabled: ${process.env.BENCH_PROBE_DISABLE || "nothing"})` : ""}`);
    // Diagnosis: a second gateway "B" (another main, other node arguments or environment), run after
    // the first in every repetition, so that both are compared under the same noise.
    const bVariant = process.env.BENCH_B_ENV || process.env.BENCH_B_NODE_ARGS || process.env.BENCH_B_MAIN;
    const gwB = bVariant ? await startGateway("gwB", process.env.BENCH_B_NODE_ARGS, path.resolve(process.env.BENCH_B_MAIN ?? gatewayMain), envList(process.env.BENCH_B_ENV)) : null;
    if (gwB) log(`gateway B :${gwB.port} (pid ${gwB.pid}): ${bVariant}`);

    // The benchmark's own processes, for the CPU accounting (PostgreSQL's backends come and go).
    const postmaster = (() => {
      try {
        return Number(readFileSync(path.join(dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
      } catch {
        return 0;
      }
    })();
    const postgresPids = () => (postmaster ? [postmaster, ...childrenOf(postmaster)] : []);
    const ourPids = () => [process.pid, upstream.child.pid!, ...Object.values(guardrailUpstreams).map((u) => u.pid), ...treeOf(gatewayPid), ...(gwB ? treeOf(gwB.pid) : []), ...postgresPids()];
    const meter = cpuMeter(ourPids, gatewayPid, postgresPids, upstream.child.pid!);
    const meterB = gwB ? cpuMeter(ourPids, gwB.pid, postgresPids, upstream.child.pid!) : meter;

    // Prometheus would scrape the gateway: so does the benchmark, every 5 s, while it runs.
    const metricsUrl = `http://127.0.0.1:${gatewayPort}/metrics`;
    const metricsOn = await fetch(metricsUrl).then(
      (r) => r.status === 200,
      () => false,
    );
    let scrapes = 0;
    const scraper = metricsOn
      ? setInterval(() => {
          void fetch(metricsUrl)
            .then((r) => r.text())
            .then(() => scrapes++, () => {});
        }, 5000)
      : null;
    scraper?.unref();

    /**
     * Waits until a gateway's spool has sent everything to PostgreSQL (its /metrics gauge; without
     * metrics, until the database's row count stops moving), so that no run pays for the previous
     * run's backlog. Returns the backlog found and how long it took to drain.
     */
    const drain = async (port: number): Promise<{ pending: number; ms: number }> => {
      const t0 = performance.now();
      let first = -1;
      let last = -1;
      let stable = 0;
      while (performance.now() - t0 < 120_000) {
        let pending: number;
        const text = await fetch(`http://127.0.0.1:${port}/metrics`).then(
          (r) => (r.status === 200 ? r.text() : ""),
          () => "",
        );
        const m = /^enclave_gateway_spool_pending_records (\d+)/m.exec(text);
        if (m) pending = Number(m[1]);
        else {
          const rows = await fixture.db.$queryRawUnsafe<{ n: bigint }[]>(`SELECT count(*) AS n FROM "UsageRecord"`);
          const n = Number(rows[0].n);
          stable = n === last ? stable + 1 : 0;
          last = n;
          pending = stable >= 2 ? 0 : 1;
        }
        if (first < 0) first = pending;
        if (pending === 0) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      return { pending: Math.max(0, first), ms: performance.now() - t0 };
    };

    const direct = chatRequest(null);
    const viaGateway = chatRequest(fixture.key);
    /** 200s the clients got from the gateway, and how many more the gateway may have answered (wrk's connections cut at its end). */
    let answeredOk = 0;
    let inFlightAtCut = 0;
    let gatewayErrors = 0;

    // Warm-up: JIT, keep-alive pools, first lease.
    for (const port of [upstreamPort, gatewayPort]) {
      const r = await closedLoop(port, port === gatewayPort ? viaGateway : direct, 8, (n) => n >= 5000);
      if (port === gatewayPort) {
        answeredOk += r.ok;
        gatewayErrors += r.count - r.ok;
      }
    }

    // What the gateway costs doing nothing (polls, reloads, timers): spread over the requests of a run.
    const idleMeter = meter();
    await new Promise((r) => setTimeout(r, 5000));
    const idle = idleMeter();
    const idleCpuMsPerSecond = (idle.gatewaySeconds * 1000) / idle.seconds;
    log(`idle gateway: ${fmt(idleCpuMsPerSecond, 1)} ms of CPU per second, PostgreSQL ${fmt((idle.postgresSeconds * 1000) / idle.seconds, 1)} ms/s`);

    // 1. Memory first, so that every sample comes from the same steady closed loop: RSS every 100,000.
    const memoryConcurrency = 64;
    const sampleEvery = Math.max(10_000, Math.round(total / 10 / 10_000) * 10_000);
    const rssSamples: { at: number; mb: number }[] = [];
    let sustained = 0;
    if (total > 0 && !only) {
      const before = answeredOk + gatewayErrors;
      const t0 = performance.now();
      const m = await closedLoop(
        gatewayPort,
        viaGateway,
        memoryConcurrency,
        (n) => before + n >= total,
        (n) => {
          if ((before + n) % sampleEvery === 0) {
            rssSamples.push({ at: before + n, mb: rssMb(gatewayPid) });
            log(`${int(before + n)} requests through the gateway, RSS ${fmt(rssSamples.at(-1)!.mb, 1)} MB`);
          }
        },
      );
      answeredOk += m.ok;
      gatewayErrors += m.count - m.ok;
      sustained = (m.count * 1000) / (performance.now() - t0);
      rssSamples.push({ at: answeredOk + gatewayErrors, mb: rssMb(gatewayPid) });
    }

    // 2. Added latency at a fixed rate, open loop, interleaved.
    const repsOut: Rep[] = [];
    let runNumber = 0;
    const openLoop = async (port: number, request: Buffer, label: string, runRate = rate): Promise<LatencyRun> => {
      const out = path.join(tmp, `${label}.bin`);
      const done = (gwB && port === gwB.port ? meterB : meter)();
      const idBase = ++runNumber * 100_000_000;
      const stdout = await runChild(["--import", "tsx", OPEN_LOOP], {
        ...process.env,
        OPEN_LOOP: JSON.stringify({ port, request: request.toString("base64"), rate: runRate, seconds, warmupSeconds, connections: 32, out, idOffset: request.indexOf(ID_SLOT), idBase }),
      });
      // After the drain: the CPU its records cost the gateway and PostgreSQL belongs to this run.
      const backlog = port === gatewayPort || port === gwB?.port ? await drain(port) : null;
      const cpu = done();
      if (backlog && backlog.pending > 0) log(`${label}: spool ${int(backlog.pending)} records behind at the end, drained in ${fmt(backlog.ms / 1000, 1)} s`);
      const summary = JSON.parse(stdout.trim().split("\n").at(-1)!) as Summary;
      const t = readTimings(readFileSync(out), summary.count);
      if (process.env.BENCH_DUMP) {
        mkdirSync(process.env.BENCH_DUMP, { recursive: true });
        writeFileSync(path.join(process.env.BENCH_DUMP, `${label}.json`), JSON.stringify({ summary, scheduled: [...t.scheduled], sent: [...t.sent], done: [...t.done], status: [...t.status] }));
      }
      const n = summary.count;
      const latency = new Float64Array(n);
      const service = new Float64Array(n);
      const lag = new Float64Array(n);
      const start = new Float64Array(n);
      const end = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        latency[i] = t.done[i] - t.scheduled[i];
        service[i] = t.done[i] - t.sent[i];
        lag[i] = t.sent[i] - t.scheduled[i];
        start[i] = summary.epochMs + t.scheduled[i];
        end[i] = summary.epochMs + (Number.isFinite(t.done[i]) ? t.done[i] : t.scheduled[i] + 10_000);
      }
      rmSync(out, { force: true });
      const firstId = idBase + Math.round(runRate * warmupSeconds);
      return { summary, latency: percentiles(latency), service: percentiles(service), cpu, timed: { label, start, end, latency, lag, sent: Float64Array.from(t.sent, (x) => summary.epochMs + x), firstId } };
    };
    if (only === "" || only === "latency") {
      log(`open loop at ${rate} req/s: ${reps} × (${warmupSeconds} s warm-up + ${seconds} s), direct then gateway`);
      for (let rep = 1; rep <= reps; rep++) {
        const d = await openLoop(upstreamPort, direct, `direct-${rep}`);
        // Gateway B goes first in even repetitions: the second of two runs came out with about half
        // the first one's p99 whatever the gateways were (docs/gateway.md), so pairs alternate.
        const bFirst = gwB && rep % 2 === 0 ? await openLoop(gwB.port, viaGateway, `b-${rep}`) : undefined;
        const g = await openLoop(gatewayPort, viaGateway, `gateway-${rep}`);
        answeredOk += g.summary.okAll;
        gatewayErrors += g.summary.errors;
        // Requests the generator stopped waiting for may still have been answered (and metered).
        inFlightAtCut += g.summary.unanswered;
        let toggled: LatencyRun | undefined;
        if (gwB) {
          toggled = bFirst ?? (await openLoop(gwB.port, viaGateway, `b-${rep}`));
          answeredOk += toggled.summary.okAll;
          gatewayErrors += toggled.summary.errors;
          inFlightAtCut += toggled.summary.unanswered;
          log(`rep ${rep}: gateway B p50 ${fmt(toggled.latency.p50, 3)} p99 ${fmt(toggled.latency.p99, 3)} | added p50 ${fmt(toggled.latency.p50 - d.latency.p50, 3)} p99 ${fmt(toggled.latency.p99 - d.latency.p99, 3)} ms | CPU per request: gateway B ${int((toggled.cpu.gatewaySeconds * 1e6) / toggled.summary.okAll)} µs, PostgreSQL ${int((toggled.cpu.postgresSeconds * 1e6) / toggled.summary.okAll)} µs | other load ${fmt(toggled.cpu.others)} cores`);
        } else if (toggle) {
          gw.child.kill("SIGUSR2");
          await new Promise((r) => setTimeout(r, 500));
          toggled = await openLoop(gatewayPort, viaGateway, `toggled-${rep}`);
          answeredOk += toggled.summary.okAll;
          gatewayErrors += toggled.summary.errors;
          inFlightAtCut += toggled.summary.unanswered;
          gw.child.kill("SIGUSR2");
          // A spool held back flushes its backlog now: let it finish before the next run.
          await new Promise((r) => setTimeout(r, 3000));
          log(`rep ${rep}: ${toggle} flipped: gateway p50 ${fmt(toggled.latency.p50, 3)} p99 ${fmt(toggled.latency.p99, 3)} | added p50 ${fmt(toggled.latency.p50 - d.latency.p50, 3)} p99 ${fmt(toggled.latency.p99 - d.latency.p99, 3)} ms | other load ${fmt(toggled.cpu.others)} cores`);
        }
        repsOut.push({ direct: d, gateway: g, toggled });
        log(
          `rep ${rep}: upstream CPU per request ${int((d.cpu.upstreamSeconds * 1e6) / d.summary.okAll)} µs direct, ${int((g.cpu.upstreamSeconds * 1e6) / g.summary.okAll)} µs via the gateway | direct p50 ${fmt(d.latency.p50, 3)} p99 ${fmt(d.latency.p99, 3)} | gateway p50 ${fmt(g.latency.p50, 3)} p99 ${fmt(g.latency.p99, 3)} | added p50 ${fmt(g.latency.p50 - d.latency.p50, 3)} p99 ${fmt(g.latency.p99 - d.latency.p99, 3)} ms | generator lag p99 ${fmt(d.summary.lag.p99)}/${fmt(g.summary.lag.p99)} ms | CPU per request: gateway ${int((g.cpu.gatewaySeconds * 1e6) / g.summary.okAll)} µs, PostgreSQL ${int((g.cpu.postgresSeconds * 1e6) / g.summary.okAll)} µs | other load ${fmt(d.cpu.others)}/${fmt(g.cpu.others)} cores | errors ${d.summary.errors + d.summary.unanswered}/${g.summary.errors + g.summary.unanswered}`,
        );
      }
    }

    // 3. Saturation with wrk, interleaved.
    type WrkRun = WrkResult & { cpu: CpuUse; backlog: { pending: number; ms: number } | null };
    const saturation: { direct: WrkRun; gateway: WrkRun; b?: WrkRun }[] = [];
    if (only === "" || only === "saturation") {
      log(`wrk -t${wrkThreads} -c${wrkConnections} -d${wrkSeconds}s: ${reps} × direct then gateway`);
      const wrk = async (port: number, key: string | null) => {
        const done = (gwB && port === gwB.port ? meterB : meter)();
        const r = await runWrk({ url: `http://127.0.0.1:${port}/v1/chat/completions`, method: "POST", headers: chatHeaders(key), body: CHAT_BODY, threads: wrkThreads, connections: wrkConnections, seconds: wrkSeconds });
        const backlog = key ? await drain(port) : null;
        const cpu = done();
        if (backlog && backlog.pending > 0) log(`wrk on :${port}: spool ${int(backlog.pending)} records behind at the end, drained in ${fmt(backlog.ms / 1000, 1)} s`);
        return { ...r, cpu, backlog };
      };
      for (let rep = 1; rep <= reps; rep++) {
        const d = await wrk(upstreamPort, null);
        // As for latency: gateway B first in even repetitions.
        const bFirst = gwB && rep % 2 === 0 ? await wrk(gwB.port, fixture.key) : undefined;
        const g = await wrk(gatewayPort, fixture.key);
        answeredOk += g.requests - g.non2xx;
        gatewayErrors += g.non2xx + g.socketErrors;
        inFlightAtCut += wrkConnections;
        let b: WrkRun | undefined;
        if (gwB) {
          b = bFirst ?? (await wrk(gwB.port, fixture.key));
          answeredOk += b.requests - b.non2xx;
          gatewayErrors += b.non2xx + b.socketErrors;
          inFlightAtCut += wrkConnections;
          log(`rep ${rep}: gateway B ${int(b.requestsPerSecond)} req/s, CPU per request: gateway ${int((b.cpu.gatewaySeconds * 1e6) / b.requests)} µs, PostgreSQL ${int((b.cpu.postgresSeconds * 1e6) / b.requests)} µs`);
        }
        saturation.push({ direct: d, gateway: g, b });
        log(`rep ${rep}: direct ${int(d.requestsPerSecond)} req/s (upstream CPU ${int((d.cpu.upstreamSeconds * 1e6) / d.requests)} µs/request), gateway ${int(g.requestsPerSecond)} req/s, CPU per request: gateway ${int((g.cpu.gatewaySeconds * 1e6) / g.requests)} µs, PostgreSQL ${int((g.cpu.postgresSeconds * 1e6) / g.requests)} µs (gateway non-2xx ${g.non2xx}, socket errors ${g.socketErrors}; other load ${fmt(d.cpu.others)}/${fmt(g.cpu.others)} cores)`);
      }
    }
    // 4. Guardrails: what the checks add, beside the direct path and the same gateway with every rule off.
    const guardrailRate = Number(process.env.BENCH_GUARDRAIL_RATE ?? 200);
    const scenarios = [
      { name: "schema + personal data, 2 KB in / 2 KB out", target: 1, port: guardrailUpstreams[GUARDED_MODEL].port, body: GUARDED_BODY, checksKey: fixture.key },
      { name: "built-in groundedness, 10 KB of sources", target: 5, port: guardrailUpstreams[GROUNDED_MODEL].port, body: GROUNDED_BODY, checksKey: fixture.guardrailKeys.grounded },
    ];
    const guardrailReps: { scenario: string; direct: LatencyRun; off: LatencyRun; checks: LatencyRun }[] = [];
    let streamTtft: { direct: number[]; off: number[]; redact: number[] } | null = null;
    if (only === "" || only === "guardrails") {
      log(`guardrails: open loop at ${guardrailRate} req/s, ${reps} × (direct, rules off, checks on) per scenario`);
      for (let rep = 1; rep <= reps; rep++) {
        for (const sc of scenarios) {
          const d = await openLoop(sc.port, chatRequest(null, sc.body), `guardrails-direct-${rep}`, guardrailRate);
          const off = await openLoop(gatewayPort, chatRequest(fixture.guardrailKeys.off, sc.body), `guardrails-off-${rep}`, guardrailRate);
          const on = await openLoop(gatewayPort, chatRequest(sc.checksKey, sc.body), `guardrails-on-${rep}`, guardrailRate);
          for (const r of [off, on]) {
            gatewayErrors += r.summary.errors;
          }
          guardrailReps.push({ scenario: sc.name, direct: d, off, checks: on });
          log(
            `rep ${rep}, ${sc.name}: p50 direct ${fmt(d.latency.p50, 3)}, rules off ${fmt(off.latency.p50, 3)}, checks ${fmt(on.latency.p50, 3)} ms → the checks add p50 ${fmt(on.latency.p50 - off.latency.p50, 3)} p99 ${fmt(on.latency.p99 - off.latency.p99, 3)} ms | CPU per request: gateway ${int((off.cpu.gatewaySeconds * 1e6) / off.summary.okAll)} → ${int((on.cpu.gatewaySeconds * 1e6) / on.summary.okAll)} µs | errors ${off.summary.errors}/${on.summary.errors}`,
          );
        }
      }
      // A stream's redaction holds back up to its lookahead: the first token waits for that much text.
      const calls = Number(process.env.BENCH_STREAM_CALLS ?? 40);
      const ttft = async (port: number, key: string | null) => {
        const t0 = performance.now();
        const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, { method: "POST", headers: chatHeaders(key), body: JSON.stringify({ model: STREAM_MODEL, messages: [{ role: "user", content: "Bonjour" }], stream: true }) });
        const reader = res.body!.getReader();
        const decoder = new TextDecoder();
        let text = "";
        let first = Number.NaN;
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          text += decoder.decode(value, { stream: true });
          if (Number.isNaN(first) && /"content":"[^"]/.test(text)) first = performance.now() - t0;
        }
        return first;
      };
      streamTtft = { direct: [], off: [], redact: [] };
      for (let i = 0; i < calls; i++) {
        streamTtft.direct.push(await ttft(guardrailUpstreams[STREAM_MODEL].port, null));
        streamTtft.off.push(await ttft(gatewayPort, fixture.guardrailKeys.off));
        streamTtft.redact.push(await ttft(gatewayPort, fixture.guardrailKeys.redact));
      }
      log(`stream TTFT (median of ${calls}, a delta of 4 characters every 10 ms): direct ${fmt(median(streamTtft.direct), 1)} ms, rules off ${fmt(median(streamTtft.off), 1)} ms, output redaction ${fmt(median(streamTtft.redact), 1)} ms`);
    }
    if (scraper) clearInterval(scraper);
    const rssEnd = rssMb(gatewayPid);

    // Every answered request is metered (and traced): wait for the last batches, then count.
    const count = async (table: string) => {
      const exists = await fixture.db.$queryRawUnsafe<{ t: string | null }[]>(`SELECT to_regclass('"${table}"')::text AS t`);
      if (!exists[0]?.t) return null;
      const rows = await fixture.db.$queryRawUnsafe<{ n: bigint }[]>(`SELECT count(*) AS n FROM "${table}" WHERE "deploymentId" = $1 AND status = 200`, fixture.deploymentId);
      return Number(rows[0].n);
    };
    let records = 0;
    let traces: number | null = null;
    let settled = 0;
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const before = [records, traces];
      records = (await count("UsageRecord")) ?? 0;
      traces = await count("Trace").catch(() => null);
      if (records >= answeredOk && (traces === null || traces >= answeredOk)) break;
      // Nothing moves any more (e.g. a gateway that writes no traces): count what is there.
      settled = before[0] === records && before[1] === traces ? settled + 1 : 0;
      if (settled >= 6) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const meteringOk = records >= answeredOk && records <= answeredOk + inFlightAtCut;
    log(`usage records (status 200) ${int(records)} for ${int(answeredOk)} 200s received${inFlightAtCut ? ` (+ up to ${inFlightAtCut} answered after their client stopped waiting)` : ""}${traces === null ? "" : `; traces ${int(traces)}`}`);
    await fixture.db.$disconnect();

    // The probe is written when the gateway exits.
    let attribution: ReturnType<typeof attribute> | null = null;
    if (process.env.BENCH_PROBE === "1") {
      await stopChild(gw.child);
      const probe = JSON.parse(readFileSync(probeOut, "utf8")) as ProbeData;
      attribution = attribute(
        repsOut.map((r) => r.gateway.timed),
        probe,
      );
      log(`probe (disabled: ${probe.disabled.join(",") || "nothing"}):`);
      for (const line of attribution.summary) log(`  ${line}`);
      log(`  the slowest 1 % of gateway requests (${attribution.slowTotal}) overlapping each suspect, against all requests:`);
      for (const r of attribution.rows) log(`    ${r.suspect.padEnd(44)} slow ${fmt(r.slow * 100, 1).padStart(5)} %   all ${fmt(r.all * 100, 1).padStart(5)} %   (${r.count})`);
      log(`  first cause that explains each request (slowest 1 % against all):`);
      for (const r of attribution.causes) log(`    ${r.cause.padEnd(44)} slow ${fmt(r.slow * 100, 1).padStart(5)} %   all ${fmt(r.all * 100, 1).padStart(5)} %`);
      if (process.env.BENCH_DUMP) writeFileSync(path.join(process.env.BENCH_DUMP, "probe.json"), JSON.stringify(probe));
    }

    // ---- figures ----
    const added = (f: (r: Rep) => number) => repsOut.map(f);
    const addedP50 = added((r) => r.gateway.latency.p50 - r.direct.latency.p50);
    const addedP99 = added((r) => r.gateway.latency.p99 - r.direct.latency.p99);
    const addedServiceP50 = added((r) => r.gateway.service.p50 - r.direct.service.p50);
    const addedServiceP99 = added((r) => r.gateway.service.p99 - r.direct.service.p99);
    const gatewayRps = saturation.map((s) => s.gateway.requestsPerSecond);
    const directRps = saturation.map((s) => s.direct.requestsPerSecond);
    const allCpu = [...repsOut.flatMap((r) => [r.direct.cpu, r.gateway.cpu]), ...saturation.flatMap((s) => [s.direct.cpu, s.gateway.cpu])];
    const othersMax = allCpu.length ? Math.max(...allCpu.map((c) => c.others)) : 0;
    const othersMedian = allCpu.length ? median(allCpu.map((c) => c.others)) : 0;
    const cores = os.cpus().length;
    const busy = othersMedian > 0.25;

    const table: string[] = [];
    if (repsOut.length) {
      table.push(
        `added latency at ${rate} req/s (median of ${repsOut.length}, spread): p50 ${fmt(median(addedP50), 3)} ms (${spread(addedP50, 3)}), p99 ${fmt(median(addedP99), 3)} ms (${spread(addedP99, 3)})`,
      );
    }
    const flipped = repsOut.filter((r) => r.toggled);
    if (flipped.length) {
      const p50 = flipped.map((r) => r.toggled!.latency.p50 - r.direct.latency.p50);
      const p99 = flipped.map((r) => r.toggled!.latency.p99 - r.direct.latency.p99);
      table.push(`${gwB ? "gateway B" : `with ${toggle} flipped`} (paired runs): added p50 ${fmt(median(p50), 3)} ms (${spread(p50, 3)}), p99 ${fmt(median(p99), 3)} ms (${spread(p99, 3)})`);
    }
    if (gwB && saturation.length) {
      const bRps = saturation.map((x) => x.b!.requestsPerSecond);
      table.push(`saturation through gateway B: ${int(median(bRps))} req/s (${int(Math.min(...bRps))}–${int(Math.max(...bRps))})`);
    }
    if (saturation.length) table.push(`saturation through the gateway (median of ${saturation.length}): ${int(median(gatewayRps))} req/s (${int(Math.min(...gatewayRps))}–${int(Math.max(...gatewayRps))}); direct ${int(median(directRps))} req/s`);
    table.push(`other load on the machine: median ${fmt(othersMedian)} of ${cores} cores, max ${fmt(othersMax)}`);
    const guardrailRows = scenarios.map((sc) => {
      const runs = guardrailReps.filter((r) => r.scenario === sc.name);
      const addedP50 = runs.map((r) => r.checks.latency.p50 - r.off.latency.p50);
      const addedP99 = runs.map((r) => r.checks.latency.p99 - r.off.latency.p99);
      return { sc, runs, addedP50, addedP99 };
    });
    for (const g of guardrailRows) if (g.runs.length) table.push(`guardrails, ${g.sc.name} at ${guardrailRate} req/s: the checks add p50 ${fmt(median(g.addedP50), 3)} ms (${spread(g.addedP50, 3)}), p99 ${fmt(median(g.addedP99), 3)} ms`);
    for (const line of table) log(line);

    if (!output) return;
    const cpuModel = os.cpus()[0]?.model ?? "unknown CPU";
    const met = (ok: boolean) => (ok ? "met" : "**missed**");
    const first = rssSamples.find((x) => x.at >= sampleEvery) ?? rssSamples[0];
    const last = rssSamples.at(-1);
    const section = `## Gateway overhead (\`npm run bench\`)

Measured by \`npm run bench\` (\`scripts/bench-gateway.ts\`); this section is rewritten by each run.

- **Date**: ${startedAt.toISOString()} (${Math.round((Date.now() - startedAt.getTime()) / 60_000)} min)
- **Machine**: ${cpuModel}, ${cores} CPU cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, ${os.type()} ${os.release()}; Node ${process.version}; wrk ${wrkVersion}
- **Conditions**: ${busy ? `**the machine was busy**: other work used a median of ${fmt(othersMedian)} and up to ${fmt(othersMax)} of its ${cores} cores during the runs (load average at start ${loadAtStart.map((l) => l.toFixed(2)).join(", ")}); absolute figures are noisy, and the gateway path (two more processes per request) suffers more from it than the direct one` : `quiet: other work used a median of ${fmt(othersMedian)} (max ${fmt(othersMax)}) of its ${cores} cores during the runs (load average at start ${loadAtStart.map((l) => l.toFixed(2)).join(", ")})`}
- **Gateway**: \`server/gateway/main.ts\` in its own process; auth, requests/min + tokens/min + monthly budget limits, residency policy, ${fixture.prices}, metering (spool + batched INSERT)${traces === null ? "" : ", a trace per request"}, \`/metrics\` ${metricsOn ? `scraped every 5 s (${scrapes} scrapes)` : "not served by this gateway"}.

### Method

All on the same ${cores} cores: PostgreSQL, a bare \`node:http\` upstream answering a fixed chat completion (9 + 11 tokens),
the gateway, and the load generator, each its own process.

- **Added latency**: an open-loop generator (\`scripts/lib/open-loop.ts\`, its own process, raw keep-alive
  connections) sends ${rate} requests/s on a fixed schedule, whatever the answers do; ${warmupSeconds} s of warm-up then
  ${seconds} s measured (${int(rate * seconds)} requests), straight to the upstream then through the gateway, ${repsOut.length} repetitions
  interleaved. Latency runs from each request's *scheduled* send time to the last byte of its answer, so a stall
  counts for every request it delayed (no coordinated omission); the generator's timers have 1 ms granularity, so
  both paths include up to ~1 ms of send lag (its p99 is in the table). Added = gateway − direct, per repetition.
- **Saturation**: \`wrk -t${wrkThreads} -c${wrkConnections} -d${wrkSeconds}s\` (closed loop; one thread leaves the second core to the
  gateway, the upstream and PostgreSQL), ${saturation.length} repetitions interleaved direct/gateway.
- **Memory**: ${total > 0 ? `a closed loop of ${memoryConcurrency} connections until ${int(total)} requests have gone through the gateway, first; RSS of the gateway process.` : "skipped (BENCH_TOTAL=0)."}

### Results

| target | measured (median of ${repsOut.length || saturation.length}, spread) | |
| --- | --- | --- |
${repsOut.length ? `| added p50 ≤ 0.5 ms at ${rate} req/s | **${fmt(median(addedP50), 3)} ms** (${spread(addedP50, 3)}) | ${met(median(addedP50) <= 0.5)} |
| added p99 ≤ 2 ms at ${rate} req/s | **${fmt(median(addedP99), 3)} ms** (${spread(addedP99, 3)}) | ${met(median(addedP99) <= 2)} |\n` : ""}${saturation.length ? `| ≥ 5,000 req/s at saturation | **${int(median(gatewayRps))} req/s** (${int(Math.min(...gatewayRps))}–${int(Math.max(...gatewayRps))}) | ${met(median(gatewayRps) >= 5000)} |\n` : ""}
${
  repsOut.length
    ? `#### Latency at ${rate} req/s, per repetition (ms, from the scheduled send time)

| rep | direct p50 | direct p99 | gateway p50 | gateway p99 | gateway p99.9 | gateway max | added p50 | added p99 | generator lag p99 (direct / gateway) | CPU µs/request: gateway / PostgreSQL | other load (cores) |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
${repsOut
  .map(
    (r, i) =>
      `| ${i + 1} | ${fmt(r.direct.latency.p50, 3)} | ${fmt(r.direct.latency.p99, 3)} | ${fmt(r.gateway.latency.p50, 3)} | ${fmt(r.gateway.latency.p99, 3)} | ${fmt(r.gateway.latency.p999, 3)} | ${fmt(r.gateway.latency.max, 1)} | ${fmt(r.gateway.latency.p50 - r.direct.latency.p50, 3)} | ${fmt(r.gateway.latency.p99 - r.direct.latency.p99, 3)} | ${fmt(r.direct.summary.lag.p99)} / ${fmt(r.gateway.summary.lag.p99)} | ${int((r.gateway.cpu.gatewaySeconds * 1e6) / r.gateway.summary.okAll)} / ${int((r.gateway.cpu.postgresSeconds * 1e6) / r.gateway.summary.okAll)} | ${fmt(r.direct.cpu.others)} / ${fmt(r.gateway.cpu.others)} |`,
  )
  .join("\n")}

Measured from the actual write instead (service time): added p50 ${fmt(median(addedServiceP50), 3)} ms (${spread(addedServiceP50, 3)}), added p99 ${fmt(median(addedServiceP99), 3)} ms (${spread(addedServiceP99, 3)}).
Non-200 answers: ${repsOut.reduce((n, r) => n + r.direct.summary.errors, 0)} direct, ${repsOut.reduce((n, r) => n + r.gateway.summary.errors, 0)} through the gateway; unanswered 10 s after the schedule ended: ${repsOut.reduce((n, r) => n + r.direct.summary.unanswered, 0)} direct, ${repsOut.reduce((n, r) => n + r.gateway.summary.unanswered, 0)} through the gateway; connections the generator had to open beyond its pool of 32 (all busy, or closed by the gateway's keep-alive timeout): ${repsOut.reduce((n, r) => n + r.gateway.summary.extraConnections, 0)}.
`
    : ""
}
${
  saturation.length
    ? `#### Saturation (wrk, requests/s)

| rep | direct to the upstream | through the gateway | gateway latency p50 / p99 (ms, ${wrkConnections} connections) | CPU µs/request: gateway / PostgreSQL | other load (cores) |
| --- | --- | --- | --- | --- | --- |
${saturation.map((s, i) => `| ${i + 1} | ${int(s.direct.requestsPerSecond)} | ${int(s.gateway.requestsPerSecond)} | ${fmt(s.gateway.latency.p50)} / ${fmt(s.gateway.latency.p99)} | ${int((s.gateway.cpu.gatewaySeconds * 1e6) / s.gateway.requests)} / ${int((s.gateway.cpu.postgresSeconds * 1e6) / s.gateway.requests)} | ${fmt(s.direct.cpu.others)} / ${fmt(s.gateway.cpu.others)} |`).join("\n")}
`
    : ""
}
${
  guardrailReps.length
    ? `#### Guardrails (open loop at ${guardrailRate} req/s, ms from the scheduled send time)

Each scenario straight to its upstream, through the gateway with every rule off (a key whose override turns them off),
and with the checks on; the checks' cost is "checks on − rules off", per repetition.

| scenario | target (added p50) | checks add p50 (median, spread) | checks add p99 | direct p50 | rules off p50 | checks on p50 | gateway CPU µs/request off → on | |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
${guardrailRows
  .filter((g) => g.runs.length)
  .map(
    (g) =>
      `| ${g.sc.name} | ≤ ${g.sc.target} ms | **${fmt(median(g.addedP50), 3)}** (${spread(g.addedP50, 3)}) | ${fmt(median(g.addedP99), 3)} | ${fmt(median(g.runs.map((r) => r.direct.latency.p50)), 3)} | ${fmt(median(g.runs.map((r) => r.off.latency.p50)), 3)} | ${fmt(median(g.runs.map((r) => r.checks.latency.p50)), 3)} | ${int(median(g.runs.map((r) => (r.off.cpu.gatewaySeconds * 1e6) / r.off.summary.okAll)))} → ${int(median(g.runs.map((r) => (r.checks.cpu.gatewaySeconds * 1e6) / r.checks.summary.okAll)))} | ${met(median(g.addedP50) <= g.sc.target)} |`,
  )
  .join("\n")}
${
  streamTtft
    ? `
A stream's redaction of personal data holds back up to its lookahead (\`GUARDRAILS_STREAM_LOOKAHEAD\`, 64 characters) so that a number split across chunks is still caught:
the first token waits for that much text. Over ${streamTtft.direct.length} streamed calls (a delta of 4 characters every 10 ms, ~100 tokens/s), median time to the first content:
direct ${fmt(median(streamTtft.direct), 1)} ms, rules off ${fmt(median(streamTtft.off), 1)} ms, output redaction ${fmt(median(streamTtft.redact), 1)} ms.
`
    : ""
}`
    : ""
}
${
  first && last
    ? `#### Memory

Closed loop at ${memoryConcurrency} connections, ${int(sustained)} req/s sustained. RSS of the gateway:

| requests through the gateway | ${rssSamples.map((x) => int(x.at)).join(" | ")} | end of the run |
| --- | ${rssSamples.map(() => "---").join(" | ")} | --- |
| RSS (MB) | ${rssSamples.map((x) => fmt(x.mb, 1)).join(" | ")} | ${fmt(rssEnd, 1)} |

From ${int(first.at)} to ${int(last.at)} requests: ${fmt(first.mb, 1)} → ${fmt(last.mb, 1)} MB (${fmt(((last.mb - first.mb) / first.mb) * 100, 1)} %; target within 10 %: ${met(Math.abs(last.mb - first.mb) / first.mb <= 0.1)}).
`
    : ""
}
The gateway idle (polls, reloads, timers) uses ${fmt(idleCpuMsPerSecond, 1)} ms of CPU per second. CPU per request is measured from
/proc over each run (its spool drained), so it is less sensitive to the neighbours than latency, though
a busy machine still inflates it (cache and context switches).

#### Correctness under load

- Non-200 answers or socket errors through the gateway, all phases: ${gatewayErrors}.
- UsageRecord rows with status 200: ${int(records)} for ${int(answeredOk)} 200s received by the clients${inFlightAtCut ? ` (wrk cuts its ${wrkConnections} connections at the end of each run, and the open-loop generator stops waiting 10 s after its schedule: up to ${inFlightAtCut} more may have been answered and metered)` : ""}: ${met(meteringOk)}.${traces === null ? "" : `\n- Trace rows with status 200: ${int(traces)}: ${met(traces >= answeredOk && traces <= answeredOk + inFlightAtCut)}.`}

Re-run on a quiet machine: \`npm run bench\` (about ${Math.max(5, Math.round(((total > 0 ? total / 5000 : 0) + reps * 2 * (seconds + warmupSeconds + 2) + reps * 2 * (wrkSeconds + 1) + 60) / 60))} minutes).
`;
    writeBenchmarkSection(output, { start: SECTION_START, end: SECTION_END }, section);
    log(`written ${path.relative(ROOT, output)}`);
  } finally {
    await cleanup();
  }
}

if (process.argv[2] === "upstream") runUpstream(process.argv[3]);
else
  main().then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
