import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";

export const ROOT = path.resolve(import.meta.dirname, "..", "..");
export const BIN = (name: string) => path.join(ROOT, "node_modules", ".bin", name);

/** Runs a command to completion, streaming its output; rejects with its exit code. */
export function run(command: string, args: string[], options: SpawnOptions & { quiet?: boolean } = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: options.quiet ? ["ignore", "pipe", "pipe"] : "inherit", ...options });
    let output = "";
    child.stdout?.on("data", (d) => (output += d));
    child.stderr?.on("data", (d) => (output += d));
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      if (code === 0) resolve();
      else reject(Object.assign(new Error(`${path.basename(command)} ${args.join(" ")} failed (${signal ?? `exit ${code}`})${output ? `\n${output}` : ""}`), { exitCode: code ?? 1 }));
    });
  });
}

/** A long-running child whose output lines are prefixed with its name. */
export function startService(name: string, command: string, args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"], detached: false });
  const prefix = (stream: NodeJS.WritableStream) => (chunk: Buffer) => {
    for (const line of chunk.toString().split("\n")) if (line.trim()) stream.write(`[${name}] ${line}\n`);
  };
  child.stdout?.on("data", prefix(process.stdout));
  child.stderr?.on("data", prefix(process.stderr));
  return child;
}

export function stopService(child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

export async function waitForHttp(url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url, { redirect: "manual" });
      if (res.status < 500) return;
      lastError = new Error(`HTTP ${res.status}`);
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url} did not answer within ${timeoutMs / 1000}s: ${String(lastError)}`);
}

const BUILD_INPUTS = ["app", "components", "server", "prisma/schema.prisma", "next.config.ts", "postcss.config.mjs", "tsconfig.json", "package-lock.json"];

function hashTree(hash: ReturnType<typeof createHash>, entry: string) {
  const full = path.join(ROOT, entry);
  if (!existsSync(full)) return;
  if (statSync(full).isDirectory()) {
    for (const child of readdirSync(full).sort()) hashTree(hash, path.join(entry, child));
  } else {
    hash.update(entry).update(readFileSync(full));
  }
}

/** Builds the console unless `.next` already holds a build of exactly these sources. */
export async function buildConsoleIfNeeded(env: NodeJS.ProcessEnv, log: (line: string) => void) {
  const hash = createHash("sha256");
  for (const input of BUILD_INPUTS) hashTree(hash, input);
  const digest = hash.digest("hex");
  const marker = path.join(ROOT, ".next", "enclave-source-hash");
  if (existsSync(path.join(ROOT, ".next", "BUILD_ID")) && existsSync(marker) && readFileSync(marker, "utf8") === digest) {
    log("console build is up to date");
    return;
  }
  log("building the console (next build), about two minutes on two cores…");
  await run(BIN("next"), ["build"], { env: { ...env, NEXT_TELEMETRY_DISABLED: "1" } });
  writeFileSync(marker, digest);
}
