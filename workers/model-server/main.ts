/**
 * Model server process: the program every driver launches (see command.ts for the environment).
 * Env: MODEL_PATH, MODEL_NAME, PORT, HOST (default 127.0.0.1), MODEL_THREADS (default 1);
 * optional MODEL_PARALLEL (sequences, default 2) and MODEL_CONTEXT_SIZE (default 4096, capped by the model).
 * ENCLAVE_REPLICA_TOKEN (set by every driver): the bearer token every request but /health must carry.
 * `--expect-sha256=<hex>`: hash MODEL_PATH before loading it and exit with status 65 and the
 * reason when its sha256 is another (docs/evidence.md); the Slurm job script passes the catalog's.
 */
import { ARTIFACT_MISMATCH_EXIT, expectedDigest, mismatchReason, sha256File } from "../drivers/artifact";
import { REPLICA_TOKEN_ENV } from "./replica-auth";
import { startModelServer } from "./server";

function env(name: string, fallback?: string): string {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === "") {
    process.stderr.write(`model-server: ${name} is required\n`);
    process.exit(2);
  }
  return value;
}

function intEnv(name: string, fallback: number): number {
  const value = Number(env(name, String(fallback)));
  if (!Number.isInteger(value) || value < 0) {
    process.stderr.write(`model-server: ${name} must be a non-negative integer\n`);
    process.exit(2);
  }
  return value;
}

const options = {
  modelPath: env("MODEL_PATH"),
  modelName: env("MODEL_NAME"),
  host: env("HOST", "127.0.0.1"),
  port: intEnv("PORT", 8000),
  threads: Math.max(1, intEnv("MODEL_THREADS", 1)),
  parallel: Math.max(1, intEnv("MODEL_PARALLEL", 2)),
  contextSize: Math.max(16, intEnv("MODEL_CONTEXT_SIZE", 4096)),
  authToken: process.env[REPLICA_TOKEN_ENV] || undefined,
};

const log = (entry: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ ts: new Date().toISOString(), ...entry })}\n`);

const EXPECT_ARG = "--expect-sha256=";
const expectArg = process.argv.find((a) => a.startsWith(EXPECT_ARG));
if (expectArg !== undefined) {
  const expected = expectedDigest(expectArg.slice(EXPECT_ARG.length));
  if (expected === null) {
    process.stderr.write(`model-server: ${EXPECT_ARG} must be 64 hexadecimal characters\n`);
    process.exit(2);
  }
  const hashStarted = performance.now();
  let actual: string;
  try {
    actual = await sha256File(options.modelPath);
  } catch (error) {
    const reason = `artifact ${options.modelPath} could not be read to verify its sha256 (${(error as NodeJS.ErrnoException).code ?? "error"})`;
    log({ event: "artifact_refused", reason });
    process.stderr.write(`model-server: ${reason}\n`);
    process.exit(ARTIFACT_MISMATCH_EXIT);
  }
  if (actual !== expected) {
    // Before anything is loaded or listened on: a replica never serves a file that is not the catalog's.
    const reason = mismatchReason(expected, actual);
    log({ event: "artifact_refused", reason });
    process.stderr.write(`model-server: ${reason}\n`);
    process.exit(ARTIFACT_MISMATCH_EXIT);
  }
  log({ event: "artifact_verified", sha256: actual, hashMs: Math.round(performance.now() - hashStarted) });
}

const started = performance.now();
const server = await startModelServer(options);
// Never the token itself: only whether requests need one.
log({ event: "listening", url: server.url, model: options.modelName, pid: process.pid, auth: options.authToken ? "replica-token" : "none" });

let stopping = false;
async function stop(signal: string) {
  if (stopping) return;
  stopping = true;
  log({ event: "stopping", signal });
  // A stuck native call must not keep a SIGTERMed replica alive forever.
  setTimeout(() => process.exit(1), 10_000).unref();
  await server.close();
  process.exit(0);
}
process.on("SIGTERM", () => void stop("SIGTERM"));
process.on("SIGINT", () => void stop("SIGINT"));

try {
  await server.ready;
  log({ event: "ready", modelPath: options.modelPath, loadMs: Math.round(performance.now() - started) });
} catch (error) {
  log({ event: "load_failed", error: error instanceof Error ? error.message : String(error) });
  process.exit(1);
}
