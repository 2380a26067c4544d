/**
 * `npm run gateway` (package.json, which cannot import the constant) starts the gateway with the
 * same Node.js flags as `npm start`, the e2e server, the tests and the benchmark
 * (server/gateway/node-flags.ts).
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { GATEWAY_NODE_FLAGS } from "@/server/gateway/node-flags";

describe("the gateway's Node.js flags", () => {
  it("are the ones `npm run gateway` passes", () => {
    const pkg = JSON.parse(readFileSync(path.resolve(import.meta.dirname, "..", "..", "package.json"), "utf8")) as { scripts: Record<string, string> };
    const words = pkg.scripts.gateway.split(/\s+/);
    expect(words[0]).toBe("tsx");
    expect(words.slice(1, -1)).toEqual([...GATEWAY_NODE_FLAGS]);
    expect(words.at(-1)).toBe("server/gateway/main.ts");
  });
});
