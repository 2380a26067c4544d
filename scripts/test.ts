/**
 * `npm test`: a type check of the whole project (tests and the generated API client included), unit and integration tests (Vitest, against a real embedded PostgreSQL), then the
 * end-to-end journeys (Playwright in Debian's Chromium against a production build). Exits non-zero
 * if anything fails.
 *
 * The run ends with what failed, suite by suite (the type errors, the failing tests and the first
 * lines of their errors): a CI log that keeps only its last lines still says what broke, although
 * the end-to-end suite prints thousands of lines after the unit tests.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { BIN, ROOT } from "./lib/processes";
import { failureSummary, playwrightFailures, tscFailures, vitestFailures } from "./lib/test-summary";

const reports = mkdtempSync(path.join(os.tmpdir(), "enclave-test-"));
const vitestJson = path.join(reports, "vitest.json");
const playwrightJson = path.join(reports, "playwright.json");
const readJson = (file: string): unknown => {
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch {
    return null;
  }
};

interface Suite {
  name: string;
  command: string;
  args: string[];
  env?: Record<string, string>;
  /** What failed, from the suite's output or its report; [] when nothing could be read. */
  failures: (output: string) => string[];
}

const suites: Suite[] = [
  { name: "typecheck (tsc)", command: BIN("tsc"), args: ["--noEmit", "--pretty", "false"], failures: tscFailures },
  {
    name: "unit and integration (Vitest)",
    command: BIN("vitest"),
    args: ["run", "--reporter=default", "--reporter=json", `--outputFile.json=${vitestJson}`],
    failures: () => vitestFailures(readJson(vitestJson)),
  },
  {
    name: "end-to-end (Playwright)",
    command: BIN("playwright"),
    args: ["test", "--reporter=list,json"],
    env: { PLAYWRIGHT_JSON_OUTPUT_FILE: playwrightJson },
    failures: () => playwrightFailures(readJson(playwrightJson)),
  },
];

/** Runs a suite with its output shown as it comes, and kept; resolves with its exit code. */
function runSuite(suite: Suite): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(suite.command, suite.args, { cwd: ROOT, env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1", ...suite.env }, stdio: ["inherit", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => {
      process.stdout.write(d);
      output += d;
    });
    child.stderr.on("data", (d: Buffer) => {
      process.stderr.write(d);
      output += d;
    });
    child.on("error", (error) => resolve({ code: 1, output: `${output}\n${String(error)}` }));
    child.on("close", (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), output }));
  });
}

const failed: { name: string; failures: string[] }[] = [];
for (const suite of suites) {
  console.log(`\n=== ${suite.name} ===`);
  const { code, output } = await runSuite(suite);
  if (code !== 0) {
    failed.push({ name: suite.name, failures: suite.failures(output) });
    console.error(`=== ${suite.name}: FAILED ===`);
  }
}
rmSync(reports, { recursive: true, force: true });
if (failed.length) console.error(`\n${failureSummary(failed)}`);
console.log(failed.length ? `\n${failed.length} of ${suites.length} suites failed` : `\nall ${suites.length} suites passed`);
process.exit(failed.length ? 1 : 0);
