import { describe, expect, it } from "vitest";
import { storableJson } from "@/server/gateway/tracing";

// PostgreSQL's JSON parser refuses lone surrogate escapes (and jsonb refuses \u0000): a client's
// malformed model name must not make its trace unstorable (found by the gateway fuzz test).
describe("storableJson", () => {
  it("replaces lone surrogates and NUL with U+FFFD, and keeps the rest", () => {
    const json = JSON.stringify({ model: "a\ud800b", tail: "x\udc00", nul: "n\u0000", pair: "😀", slash: "\\ud800" });
    const parsed = JSON.parse(storableJson(json)) as Record<string, string>;
    expect(parsed.model).toBe("a\ufffdb");
    expect(parsed.tail).toBe("x\ufffd");
    expect(parsed.nul).toBe("n\ufffd");
    expect(parsed.pair).toBe("😀");
    // An escaped backslash followed by the letters "ud800" is text, not an escape.
    expect(parsed.slash).toBe("\\ud800");
  });

  it("returns JSON without escapes unchanged", () => {
    const json = JSON.stringify({ a: "plain", b: [1, 2] });
    expect(storableJson(json)).toBe(json);
  });
});
