import { describe, expect, it } from "vitest";
import { db } from "@/server/db";
import { authenticateWithPassword, LOGIN_LIMITS } from "@/server/services/accounts";
import { callerFor, unique } from "../helpers";

const password = "a long enough password";

describe("sign-up and sign-in", () => {
  it("sign-up creates the user, an organisation they own, and audit events; the password is stored as an argon2id hash", async () => {
    const email = `${unique("signup")}@example.test`;
    const result = await callerFor(null).account.signUp({ name: "Ada", email, password, organizationName: "Régie des Données" });
    expect(result.org.slug).toMatch(/^regie-des-donnees/);
    const user = await db.user.findUniqueOrThrow({ where: { email } });
    expect(user.passwordHash).toMatch(/^\$argon2id\$/);
    expect(user.passwordHash).not.toContain(password);
    expect((await db.membership.findFirstOrThrow({ where: { userId: user.id } })).role).toBe("OWNER");
    const actions = (await db.auditEvent.findMany({ where: { chain: result.org.id }, orderBy: { seq: "asc" } })).map((e) => e.action);
    // Test files run side by side on one database: one that sets a starter quota meanwhile adds its grant (tests/integration/onboarding.test.ts asserts those).
    expect(actions.filter((a) => a !== "quota.starter_granted")).toEqual(["organization.created", "user.signed_up"]);
  });

  it("refuses a duplicate email (case-insensitively) with a precise message", async () => {
    const email = `${unique("dup")}@example.test`;
    await callerFor(null).account.signUp({ name: "A", email, password, organizationName: "First" });
    await expect(callerFor(null).account.signUp({ name: "B", email: email.toUpperCase(), password, organizationName: "Second" })).rejects.toMatchObject({
      code: "CONFLICT",
      message: "An account with this email already exists; sign in instead",
    });
  });

  it("rejects bad input field by field", async () => {
    await expect(callerFor(null).account.signUp({ name: "", email: "x@example.test", password, organizationName: "Org" })).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(callerFor(null).account.signUp({ name: "A", email: "not-an-email", password, organizationName: "Org" })).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(callerFor(null).account.signUp({ name: "A", email: "a@example.test", password: "short", organizationName: "Org" })).rejects.toMatchObject({ code: "BAD_REQUEST" });
  });

  it("signs in with the right password only", async () => {
    const email = `${unique("signin")}@example.test`;
    await callerFor(null).account.signUp({ name: "A", email, password, organizationName: "Org" });
    await expect(authenticateWithPassword({ email, password: "wrong password!", ip: "198.51.100.1" })).rejects.toMatchObject({ code: "UNAUTHORIZED", message: "Wrong email or password" });
    await expect(authenticateWithPassword({ email: "nobody@example.test", password, ip: "198.51.100.1" })).rejects.toMatchObject({ message: "Wrong email or password" });
    await expect(authenticateWithPassword({ email: email.toUpperCase(), password, ip: "198.51.100.1" })).resolves.toMatchObject({ email });
  });

  it(`locks an account at one address for ${LOGIN_LIMITS.windowMinutes} minutes after ${LOGIN_LIMITS.failuresPerAccountAndIp} failures there, even for the right password`, async () => {
    const email = `${unique("brute")}@example.test`;
    await callerFor(null).account.signUp({ name: "A", email, password, organizationName: "Org" });
    for (let i = 0; i < LOGIN_LIMITS.failuresPerAccountAndIp; i++) {
      await expect(authenticateWithPassword({ email, password: `guess number ${i}`, ip: "192.0.2.1" })).rejects.toMatchObject({ code: "UNAUTHORIZED" });
    }
    await expect(authenticateWithPassword({ email, password, ip: "192.0.2.1" })).rejects.toMatchObject({ code: "TOO_MANY_REQUESTS", message: expect.stringContaining("Too many failed sign-in attempts") });
    // (tests/integration/accounts-hardening.test.ts: the owner, elsewhere, still signs in.)
  });

  it("throttles one address trying many accounts", async () => {
    const ip = `198.18.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`;
    for (let i = 0; i < LOGIN_LIMITS.failuresPerIp; i++) {
      await authenticateWithPassword({ email: `${unique("spray")}@example.test`, password: "wrong", ip }).catch(() => undefined);
    }
    const email = `${unique("victim")}@example.test`;
    await callerFor(null).account.signUp({ name: "V", email, password, organizationName: "Org" });
    await expect(authenticateWithPassword({ email, password, ip })).rejects.toMatchObject({ code: "TOO_MANY_REQUESTS" });
  });
});
