/**
 * Issue 9, hardening 1 and the newcomer items, against the real database: outside the demo no
 * account with a known password exists (no demo data; the first platform admin comes from
 * `npm run admin:create`'s one-time link), demo passwords meet the policy, the embedded
 * PostgreSQL can run from a folder only root may enter, GATEWAY_PUBLIC_URL is normalised.
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { password as passwordSchema } from "@/lib/schemas";
import { authOptions } from "@/server/auth";
import { db } from "@/server/db";
import { normaliseGatewayPublicUrl } from "@/server/env";
import { hashToken, passwordProblem } from "@/server/passwords";
import { authenticateWithPassword, createPlatformAdminSignInLink, signInWithLink } from "@/server/services/accounts";
import { PLATFORM_CHAIN, verifyAuditChain } from "@/server/services/audit";
import { DEMO_LOGINS } from "@/prisma/seed-data";
import { demoMode } from "@/scripts/lib/demo";
import { letPostgresTraverse } from "@/scripts/lib/embedded-postgres";
import { outcome, unique } from "../helpers";

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, "..", "..");
const TSX = path.join(ROOT, "node_modules", ".bin", "tsx");

/** Runs a script of the repository against the test database, with `env` on top of a clean environment. */
function script(file: string, args: string[], env: Record<string, string> = {}) {
  const base = { PATH: process.env.PATH!, HOME: process.env.HOME ?? "/tmp", DATABASE_URL: process.env.DATABASE_URL! };
  return run(TSX, [file, ...args], { cwd: ROOT, env: { ...base, ...env } as unknown as NodeJS.ProcessEnv, timeout: 60_000 });
}

async function tableText(table: string): Promise<string> {
  const [row] = await db.$queryRawUnsafe<{ text: string | null }[]>(`SELECT string_agg(t::text, '|') AS text FROM "${table}" t`);
  return row?.text ?? "";
}

describe("no known admin password outside the demo", () => {
  it("the demo is exactly: ENCLAVE_DEMO=1, or no DATABASE_URL and no ENCLAVE_DEMO=0", () => {
    expect(demoMode({})).toBe(true);
    expect(demoMode({ ENCLAVE_DEMO: "0" })).toBe(false);
    expect(demoMode({ DATABASE_URL: "postgresql://db/enclave" })).toBe(false);
    expect(demoMode({ DATABASE_URL: "postgresql://db/enclave", ENCLAVE_DEMO: "1" })).toBe(true);
    expect(() => demoMode({ ENCLAVE_DEMO: "maybe" })).toThrow("ENCLAVE_DEMO must be 1 or 0");
  });

  it("with DATABASE_URL set, the seed creates no demo data and no account", async () => {
    const before = { users: await db.user.count(), regions: await db.region.count(), models: await db.catalogModel.count() };
    const { stdout } = await script("prisma/seed.ts", []);
    expect(stdout).toContain("no demo data seeded");
    expect(await db.user.findUnique({ where: { email: DEMO_LOGINS.admin.email } })).toBeNull();
    expect({ users: await db.user.count(), regions: await db.region.count(), models: await db.catalogModel.count() }).toEqual(before);
  });

  it("every demo password meets the password policy", () => {
    for (const login of [DEMO_LOGINS.admin, ...DEMO_LOGINS.tenants]) {
      expect(passwordProblem(login.password), login.email).toBeNull();
      expect(passwordSchema.safeParse(login.password).success, login.email).toBe(true);
    }
  });

  it("admin:create makes a platform admin and prints a one-time link; only the token's hash is stored; the link sets the password and signs in once", async () => {
    const email = `${unique("first-admin")}@example.test`;
    const { stdout, stderr } = await script("scripts/admin-create.ts", ["--email", email.toUpperCase(), "--name", "First Admin"], { NEXTAUTH_URL: "https://console.example.test/" });
    expect(stderr).toBe("");
    const token = stdout.match(/https:\/\/console\.example\.test\/signin\/link#token=(sil_[A-Za-z0-9_-]{43})\n/)?.[1];
    expect(token, stdout).toBeDefined();
    const user = await db.user.findUniqueOrThrow({ where: { email } });
    expect(user).toMatchObject({ platformAdmin: true, name: "First Admin", passwordHash: null });
    const rows = await db.signInToken.findMany({ where: { userId: user.id } });
    expect(rows.map((r) => r.tokenHash)).toEqual([hashToken(token!)]);
    for (const table of ["SignInToken", "AuditEvent", "User"]) expect(await tableText(table)).not.toContain(token!.slice(4));

    const newPassword = "first admin's own passphrase";
    await expect(signInWithLink({ token: token!, newPassword: "short" }, { ip: null })).rejects.toMatchObject({ code: "BAD_REQUEST" });
    // Through next-auth's provider, as the /signin/link page calls it.
    type Credentials = { options?: { id?: string; authorize: (c: unknown, r: unknown) => Promise<{ id: string }> } };
    const provider = (authOptions().providers as unknown as Credentials[]).find((p) => p.options?.id === "sign-in-link")!;
    await expect(provider.options!.authorize({ token, password: newPassword }, { headers: {} })).resolves.toMatchObject({ id: user.id });
    await expect(authenticateWithPassword({ email, password: newPassword, ip: "192.0.2.50" })).resolves.toMatchObject({ id: user.id });
    // Single use: the same link no longer works, and its error says nothing of the token.
    const again = await signInWithLink({ token: token!, newPassword: "another passphrase!" }, { ip: null }).catch((e: Error) => e);
    expect(again).toMatchObject({ code: "UNAUTHORIZED" });
    expect(String((again as Error).message)).not.toContain(token!.slice(4));

    const actions = (await db.auditEvent.findMany({ where: { chain: PLATFORM_CHAIN, targetId: user.id }, orderBy: { seq: "asc" } })).map((e) => e.action);
    expect(actions).toEqual(["user.created", "user.sign_in_link_created", "user.signed_in_with_link"]);
    expect(await verifyAuditChain(db, PLATFORM_CHAIN)).toMatchObject({ ok: true });
  });

  it("a link stops working when it expires or when a newer one is made; raced, one use wins", async () => {
    const email = `${unique("admin")}@example.test`;
    const first = await createPlatformAdminSignInLink({ email });
    const second = await createPlatformAdminSignInLink({ email });
    expect(first.created).toBe(true);
    expect(second.created).toBe(false);
    expect(await outcome(() => signInWithLink({ token: first.token }, { ip: null }))).toBe("UNAUTHORIZED");
    const results = await Promise.all(Array.from({ length: 10 }, () => outcome(() => signInWithLink({ token: second.token }, { ip: null }))));
    expect(results.filter((r) => r === "OK")).toHaveLength(1);

    const third = await createPlatformAdminSignInLink({ email });
    await db.signInToken.updateMany({ where: { tokenHash: hashToken(third.token) }, data: { expiresAt: new Date(Date.now() - 1000) } });
    expect(await outcome(() => signInWithLink({ token: third.token }, { ip: null }))).toBe("UNAUTHORIZED");
    expect(await outcome(() => signInWithLink({ token: "sil_not-a-token" }, { ip: null }))).toBe("UNAUTHORIZED");
  });

  it("admin:create refuses a missing or invalid email, and says so", async () => {
    const failed = await script("scripts/admin-create.ts", ["--email", "not-an-email"]).catch((e: { code: number; stderr: string }) => e);
    expect(failed).toMatchObject({ code: 1, stderr: expect.stringContaining("--email must be an email address") });
  });
});

describe("the embedded PostgreSQL from a folder only root may enter", () => {
  it.skipIf(process.getuid?.() !== 0)("gives the postgres user traverse-only access to exactly the folders it could not enter, and says so", () => {
    const closed = mkdtempSync(path.join(tmpdir(), "enclave-closed-")); // mode 700, like `mktemp -d`
    try {
      const target = path.join(closed, "checkout", ".data");
      mkdirSync(target, { recursive: true });
      const lines: string[] = [];
      expect(letPostgresTraverse([target], (l) => lines.push(l))).toEqual([closed]);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(closed);
      expect(lines[0]).toMatch(/setfacl -m u:postgres:x|chmod o\+x/);
      // Traverse only: not readable or listable by others, and nothing else changed.
      const mode = statSync(closed).mode & 0o777;
      expect(mode === 0o701 || mode === 0o700).toBe(true); // 700 + ACL where setfacl exists
      expect(letPostgresTraverse([target], (l) => lines.push(l))).toEqual([]);
    } finally {
      rmSync(closed, { recursive: true, force: true });
    }
  });
});

describe("GATEWAY_PUBLIC_URL", () => {
  it("is normalised to end in /v1, whatever the trailing slashes; a path prefix is kept", () => {
    expect(normaliseGatewayPublicUrl("https://api.example.org")).toBe("https://api.example.org/v1");
    expect(normaliseGatewayPublicUrl("https://api.example.org/")).toBe("https://api.example.org/v1");
    expect(normaliseGatewayPublicUrl("https://api.example.org/v1/")).toBe("https://api.example.org/v1");
    expect(normaliseGatewayPublicUrl("http://localhost:8080/v1")).toBe("http://localhost:8080/v1");
    expect(normaliseGatewayPublicUrl("https://example.org/enclave//")).toBe("https://example.org/enclave/v1");
  });
});
