import { describe, expect, it } from "vitest";
import { z } from "@/lib/zod";

const first = (schema: z.ZodType, value: unknown) => schema.safeParse(value).error?.issues[0]?.message;

describe("zod's own messages, in human words (lib/zod-messages.ts)", () => {
  it("says what to do, with the limit written as people read numbers", () => {
    expect(first(z.string().max(254), "x".repeat(255))).toBe("Use at most 254 characters");
    expect(first(z.string().min(3), "x")).toBe("Use at least 3 characters");
    expect(first(z.string().min(1), "")).toBe("This field is required");
    expect(first(z.number().max(2000), 2001)).toBe("Enter at most 2,000");
    expect(first(z.array(z.string()).max(1), ["a", "b"])).toBe("Choose at most 1 item");
    expect(first(z.email(), "nope")).toBe("Enter a valid email address");
    expect(first(z.enum(["A", "B"]), "C")).toBe("Choose one of A, B");
    expect(first(z.object({ a: z.string() }), {})).toBe("This field is required");
    expect(first(z.number(), "x")).toBe("Enter a number");
  });

  it("leaves a schema's own message alone", () => {
    expect(first(z.string().max(2, "Two at most"), "xyz")).toBe("Two at most");
  });
});
