/**
 * The gateway's node flags (server/gateway/node-flags.ts) reach every way it is launched, and they
 * do what they are there for: node started with them has a 32 MiB young generation from the start,
 * and this node knows every one of them (it refuses to start on a misspelt or retired V8 flag).
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { GATEWAY_NODE_FLAGS, startedWithGatewayFlags } from "@/server/gateway/node-flags";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const NEW_SPACE = `const s = require("node:v8").getHeapSpaceStatistics().find((x) => x.space_name === "new_space"); process.stdout.write(String(s.space_size));`;

describe("the gateway's node flags", () => {
  it("are in npm run gateway, and npm start and the e2e server pass them", () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> };
    expect(pkg.scripts.gateway).toBe(`tsx ${GATEWAY_NODE_FLAGS.join(" ")} server/gateway/main.ts`);
    for (const script of ["scripts/start.ts", "scripts/e2e-server.ts"]) {
      expect(readFileSync(path.join(ROOT, script), "utf8")).toContain('[...GATEWAY_NODE_FLAGS, "server/gateway/main.ts"]');
    }
  });

  it("give node a 32 MiB young generation from the start (without them it starts at a few MiB)", () => {
    const withFlags = Number(execFileSync(process.execPath, [...GATEWAY_NODE_FLAGS, "-e", NEW_SPACE], { encoding: "utf8" }));
    const without = Number(execFileSync(process.execPath, ["-e", NEW_SPACE], { encoding: "utf8" }));
    expect(withFlags).toBeGreaterThanOrEqual(32 * 2 ** 20);
    expect(without).toBeLessThan(withFlags / 4);
  });

  it("are each known to this node: it starts with every one of them, and refuses a flag it does not know", () => {
    for (const flag of GATEWAY_NODE_FLAGS) {
      expect(execFileSync(process.execPath, [flag, "-e", "process.stdout.write(process.execArgv[0])"], { encoding: "utf8" })).toBe(flag);
    }
    // The check above can fail: node exits with "bad option" on a flag it does not know.
    expect(() => execFileSync(process.execPath, ["--single-threded-gc", "-e", "0"], { stdio: "pipe" })).toThrow(/bad option/);
  });

  it("are recognised in a process's arguments, all of them or it does not count", () => {
    expect(startedWithGatewayFlags([...GATEWAY_NODE_FLAGS, "--import", "tsx"])).toBe(true);
    expect(startedWithGatewayFlags([GATEWAY_NODE_FLAGS[0]])).toBe(false);
    expect(startedWithGatewayFlags([])).toBe(false);
  });
});
