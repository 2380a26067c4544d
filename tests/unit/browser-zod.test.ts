import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return /\.(ts|tsx)$/.test(entry.name) ? [path] : [];
  });
}

describe("code that runs in the browser", () => {
  // A schema built before zod's jitless switch makes zod probe `new Function`, which the console's
  // Content-Security-Policy reports as a violation (e2e/console-hardening catches it, minutes later).
  it("gets zod only through lib/zod.ts, which turns eval off before any schema is built", () => {
    const direct = [...sources("lib"), ...sources("components"), ...sources("app")]
      .filter((file) => relative(root, join(root, file)) !== join("lib", "zod.ts"))
      .filter((file) => /from\s+["']zod(\/[^"']*)?["']/.test(readFileSync(join(root, file), "utf8")));
    expect(direct).toEqual([]);
  });
});
