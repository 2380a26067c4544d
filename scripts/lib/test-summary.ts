/**
 * What failed in each suite of `npm test` (scripts/test.ts), read from the tools' own reports: tsc's
 * `file(line,col): error TS…` lines, Vitest's JSON reporter and Playwright's JSON reporter. Printed
 * again at the very end of the run, so that the last lines of a CI log name every failure.
 */
import { z } from "zod";

/** Characters of an error kept per failure: its first lines, enough to tell one failure from another. */
const ERROR_CHARS = 600;
const ERROR_LINES = 6;

/** The escape sequences of a coloured terminal. */
const ANSI = /\u001b\[[0-9;]*m/g;

/**
 * The first lines of an error message, without terminal colours, each indented; of its stack only
 * the first frame in the project's own code (where the failing line is).
 */
function excerpt(message: string): string {
  const lines = message.replace(ANSI, "").split("\n").map((l) => l.trimEnd()).filter((l) => l.trim() !== "");
  const frame = (l: string) => /^\s*at /.test(l);
  const ownFrame = lines.find((l) => frame(l) && !l.includes("node_modules") && !l.includes("(<anonymous>)") && !l.includes("node:"));
  let text = [...lines.filter((l) => !frame(l)).slice(0, ERROR_LINES), ...(ownFrame ? [ownFrame] : [])].join("\n");
  if (text.length > ERROR_CHARS) text = `${text.slice(0, ERROR_CHARS)}…`;
  return text
    .split("\n")
    .map((l) => `      ${l}`)
    .join("\n");
}

/** tsc with `--pretty false`: one line per error (and indented continuation lines). */
export function tscFailures(output: string): string[] {
  return output
    .replace(ANSI, "")
    .split("\n")
    .filter((line) => /^\S.*\(\d+,\d+\): error TS\d+:/.test(line))
    .map((line) => line.trim());
}

const vitestReport = z.object({
  testResults: z.array(
    z.object({
      name: z.string(),
      status: z.string(),
      message: z.string().optional().default(""),
      assertionResults: z.array(z.object({ fullName: z.string(), status: z.string(), failureMessages: z.array(z.string()).default([]) })).default([]),
    }),
  ),
});

/** Vitest's JSON report: each failed test (file › name) with its error, and each file that failed to load. */
export function vitestFailures(report: unknown, root = process.cwd()): string[] {
  const parsed = vitestReport.safeParse(report);
  if (!parsed.success) return [];
  const out: string[] = [];
  for (const file of parsed.data.testResults) {
    const name = relative(file.name, root);
    const failedTests = file.assertionResults.filter((a) => a.status === "failed");
    for (const test of failedTests) out.push(`${name} › ${test.fullName}\n${excerpt(test.failureMessages.join("\n"))}`);
    if (file.status === "failed" && failedTests.length === 0) out.push(`${name} (the file itself)\n${excerpt(file.message || "failed without a message")}`);
  }
  return out;
}

interface PlaywrightSuite {
  title: string;
  file?: string;
  specs?: { title: string; ok: boolean; line?: number; tests: { projectName?: string; results: { status: string; error?: { message?: string } }[] }[] }[];
  suites?: PlaywrightSuite[];
}
const playwrightSuite: z.ZodType<PlaywrightSuite> = z.lazy(() =>
  z.object({
    title: z.string(),
    file: z.string().optional(),
    specs: z
      .array(
        z.object({
          title: z.string(),
          ok: z.boolean(),
          line: z.number().optional(),
          tests: z.array(z.object({ projectName: z.string().optional(), results: z.array(z.object({ status: z.string(), error: z.object({ message: z.string().optional() }).optional() })) })),
        }),
      )
      .optional(),
    suites: z.array(playwrightSuite).optional(),
  }),
);
const playwrightReport = z.object({ suites: z.array(playwrightSuite), errors: z.array(z.object({ message: z.string().optional() })).default([]) });

/** Playwright's JSON report: each spec that did not pass (file:line › describe › title [project]) with its last error, and run-level errors (a web server that did not start). */
export function playwrightFailures(report: unknown): string[] {
  const parsed = playwrightReport.safeParse(report);
  if (!parsed.success) return [];
  const out: string[] = [];
  const walk = (suite: PlaywrightSuite, titles: string[], file: string | undefined) => {
    const here = suite.file ?? file;
    const path = file === undefined ? [] : [...titles, suite.title];
    for (const spec of suite.specs ?? []) {
      if (spec.ok) continue;
      for (const test of spec.tests) {
        const last = test.results.at(-1);
        if (!last || last.status === "passed" || last.status === "skipped") continue;
        const where = `${here ?? "?"}${spec.line ? `:${spec.line}` : ""}`;
        out.push(`${[where, ...path, spec.title].join(" › ")}${test.projectName ? ` [${test.projectName}]` : ""} (${last.status})\n${excerpt(last.error?.message ?? "no error message")}`);
      }
    }
    for (const child of suite.suites ?? []) walk(child, path, here);
  };
  for (const suite of parsed.data.suites) walk(suite, [], undefined);
  for (const error of parsed.data.errors) out.push(`(the run itself)\n${excerpt(error.message ?? "no error message")}`);
  return out;
}

/** The block printed at the end of a failed run. */
export function failureSummary(failed: { name: string; failures: string[] }[]): string {
  const lines = ["=== what failed ==="];
  for (const { name, failures } of failed) {
    lines.push(`${name}: ${failures.length ? `${failures.length} failure${failures.length === 1 ? "" : "s"}` : "failed, with nothing in its report (see its output above)"}`);
    for (const failure of failures) lines.push(`  ✗ ${failure}`);
  }
  return lines.join("\n");
}

function relative(file: string, root: string): string {
  return file.startsWith(`${root}/`) ? file.slice(root.length + 1) : file;
}
