/**
 * The failure summary that ends a failed `npm test` (scripts/lib/test-summary.ts), read from what
 * the real tools write: tsc, Vitest and Playwright are run here on small files that fail on
 * purpose (written to a scratch folder inside the checkout, so that they resolve the project's own
 * packages, and removed afterwards).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failureSummary, playwrightFailures, tscFailures, vitestFailures } from "@/scripts/lib/test-summary";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const BIN = (name: string) => path.join(ROOT, "node_modules", ".bin", name);
let dir: string;

beforeAll(() => {
  mkdirSync(path.join(ROOT, ".data"), { recursive: true });
  dir = mkdtempSync(path.join(ROOT, ".data", "test-summary-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (command: string, args: string[], env: Record<string, string> = {}) =>
  spawnSync(command, args, { cwd: ROOT, env: { ...process.env, ...env, FORCE_COLOR: "1" }, encoding: "utf8", timeout: 120_000 });

describe("the failure summary of npm test", () => {
  it("lists tsc's errors, one line each", () => {
    const file = path.join(dir, "bad.ts");
    writeFileSync(file, 'const n: number = "one";\nconst s: string = 2;\nexport { n, s };\n');
    const result = run(BIN("tsc"), ["--noEmit", "--pretty", "false", "--strict", file]);
    expect(result.status).not.toBe(0);
    const failures = tscFailures(result.stdout + result.stderr);
    expect(failures).toHaveLength(2);
    expect(failures[0]).toMatch(/bad\.ts\(1,7\): error TS2322: Type 'string' is not assignable to type 'number'\.$/);
    expect(failures[1]).toMatch(/bad\.ts\(2,7\): error TS2322:/);
  });

  it("names each failed Vitest test with its assertion, and a file that fails to load", () => {
    const vitestDir = path.join(dir, "vitest");
    mkdirSync(vitestDir);
    writeFileSync(path.join(vitestDir, "sums.test.ts"), 'import { describe, expect, it } from "vitest";\ndescribe("sums", () => {\n  it("adds", () => expect(1 + 1).toBe(3));\n  it("passes", () => expect(2).toBe(2));\n});\n');
    writeFileSync(path.join(vitestDir, "broken.test.ts"), 'throw new Error("this file cannot load");\n');
    // Its own configuration: without one, Vitest would take the project's (and its include pattern).
    writeFileSync(path.join(vitestDir, "vitest.config.mjs"), 'export default { test: { include: ["*.test.ts"] } };\n');
    const report = path.join(dir, "vitest.json");
    const result = run(BIN("vitest"), ["run", "--root", vitestDir, "--config", path.join(vitestDir, "vitest.config.mjs"), "--reporter=json", `--outputFile.json=${report}`]);
    expect(result.status).toBe(1);
    const failures = vitestFailures(JSON.parse(readFileSync(report, "utf8")), vitestDir);
    expect(failures).toHaveLength(2);
    const sums = failures.find((f) => f.startsWith("sums.test.ts › sums adds\n"));
    expect(sums).toContain("expected 2 to be 3");
    // The failing line, not the test runner's frames.
    expect(sums).toMatch(/at .*sums\.test\.ts:3:/);
    expect(sums).not.toContain("node_modules");
    expect(failures.find((f) => f.startsWith("broken.test.ts (the file itself)\n"))).toContain("this file cannot load");
    expect(failures.join("\n")).not.toContain("passes");
  });

  it("names each failed Playwright test with its place, its describe block and its error, without terminal colours", () => {
    const pwDir = path.join(dir, "playwright");
    mkdirSync(pwDir);
    writeFileSync(path.join(pwDir, "playwright.config.ts"), 'import { defineConfig } from "@playwright/test";\nexport default defineConfig({ testDir: ".", projects: [{ name: "desktop" }] });\n');
    writeFileSync(
      path.join(pwDir, "journey.spec.ts"),
      'import { expect, test } from "@playwright/test";\ntest.describe("a journey", () => {\n  test("breaks", () => expect("red").toBe("green"));\n  test("holds", () => expect(1).toBe(1));\n});\n',
    );
    const report = path.join(dir, "playwright.json");
    const result = run(BIN("playwright"), ["test", "--config", path.join(pwDir, "playwright.config.ts"), "--reporter=json"], { PLAYWRIGHT_JSON_OUTPUT_FILE: report });
    expect(result.status).toBe(1);
    const failures = playwrightFailures(JSON.parse(readFileSync(report, "utf8")));
    expect(failures).toHaveLength(1);
    const [title, ...error] = failures[0].split("\n");
    expect(title).toBe("journey.spec.ts:3 › a journey › breaks [desktop] (failed)");
    expect(error.join("\n")).toContain('Expected: "green"');
    expect(failures[0]).not.toMatch(/\u001b\[/);
  });

  it("says so when a suite failed with nothing in its report, and counts the others' failures", () => {
    const text = failureSummary([
      { name: "typecheck (tsc)", failures: [] },
      { name: "unit and integration (Vitest)", failures: ["a.test.ts › one\n      Error: x", "b.test.ts › two\n      Error: y"] },
    ]);
    expect(text.split("\n")).toEqual([
      "=== what failed ===",
      "typecheck (tsc): failed, with nothing in its report (see its output above)",
      "unit and integration (Vitest): 2 failures",
      "  ✗ a.test.ts › one",
      "      Error: x",
      "  ✗ b.test.ts › two",
      "      Error: y",
    ]);
    // A report that is not one (a run that died before writing it) gives no failures rather than a crash.
    expect(vitestFailures(null)).toEqual([]);
    expect(playwrightFailures({ nothing: true })).toEqual([]);
  });
});
