import { describe, expect, it, vi } from "vitest";
import { createContext } from "@/server/api/context";
import { createCallerFactory, protectedProcedure, publicProcedure, router } from "@/server/api/trpc";
import { DomainError } from "@/server/errors";
import { callerFor, createTenant } from "../helpers";

describe("errors", () => {
  it("a bad input gets a 400 naming the field and the rule", async () => {
    const t = await createTenant("errors");
    await expect(callerFor(t.ownerId).organization.invite({ orgId: t.org.id, email: "not an email", role: "MEMBER" })).rejects.toMatchObject({
      code: "BAD_REQUEST",
    });
    await expect(callerFor(t.ownerId).organization.invite({ orgId: t.org.id, email: "a@example.test", role: "KING" as never })).rejects.toMatchObject({
      code: "BAD_REQUEST",
    });
  });

  it("an unexpected error is logged with the request id and shown as a generic message that leaks nothing", async () => {
    const testRouter = router({
      explode: publicProcedure.query(() => {
        throw new Error('relation "secret_table" does not exist at 10.0.0.5');
      }),
      refuse: publicProcedure.query(() => {
        throw new DomainError("CONFLICT", "Precise reason for the user");
      }),
      needsUser: protectedProcedure.query(() => "never"),
    });
    const stderr = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    const caller = createCallerFactory(testRouter)(createContext({ userId: null, requestId: "req-123" }));
    const error = await caller.explode().catch((e: Error & { code: string }) => e);
    expect(error).toMatchObject({ code: "INTERNAL_SERVER_ERROR", message: "Something went wrong on our side. Reference: req-123" });
    expect(error.message).not.toContain("secret_table");
    const logged = stderr.mock.calls.map((c) => String(c[0])).join("");
    stderr.mockRestore();
    expect(logged).toContain("req-123");
    expect(logged).toContain("secret_table");
    await expect(caller.refuse()).rejects.toMatchObject({ code: "CONFLICT", message: "Precise reason for the user" });
    await expect(caller.needsUser()).rejects.toMatchObject({ code: "UNAUTHORIZED" });
  });
});
