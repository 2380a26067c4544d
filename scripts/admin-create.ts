/**
 * `npm run admin:create -- --email ada@example.org [--name "Ada Lovelace"] [--ttl-minutes 60]`
 *
 * Bootstraps (or recovers) a platform admin without any known password: makes the account a
 * platform admin, creating it if needed, and prints a one-time sign-in link (single use, expiring,
 * stored hashed) with which that person sets their password. The database is DATABASE_URL, or the
 * embedded one of a running `npm start`. The link is printed on this terminal only, never logged.
 */
import { existsSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { z } from "zod";
import { RUNNING_FILE, type RunningInfo } from "./lib/database";

const usage = "Usage: npm run admin:create -- --email you@example.org [--name \"Your Name\"] [--ttl-minutes 60]";

function fail(message: string): never {
  console.error(`[admin:create] ${message}`);
  process.exit(1);
}

const { values } = (() => {
  try {
    return parseArgs({ options: { email: { type: "string" }, name: { type: "string" }, "ttl-minutes": { type: "string" }, help: { type: "boolean" } }, strict: true });
  } catch (error) {
    return fail(`${error instanceof Error ? error.message : String(error)}\n${usage}`);
  }
})();
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const email = z.string().trim().email().safeParse(values.email ?? "");
if (!email.success) fail(`--email must be an email address\n${usage}`);
const ttlMinutes = values["ttl-minutes"] === undefined ? undefined : Number(values["ttl-minutes"]);
if (ttlMinutes !== undefined && !(Number.isInteger(ttlMinutes) && ttlMinutes >= 5 && ttlMinutes <= 24 * 60)) fail("--ttl-minutes must be a whole number from 5 to 1440");

const running: Partial<RunningInfo> = existsSync(RUNNING_FILE) ? JSON.parse(readFileSync(RUNNING_FILE, "utf8")) : {};
if (!process.env.DATABASE_URL) {
  if (!running.embeddedDatabaseUrl) fail("set DATABASE_URL, or start Enclave first (npm start) to use its embedded database");
  process.env.DATABASE_URL = running.embeddedDatabaseUrl;
}

// Imported once DATABASE_URL is known (the database client reads it).
const { createPlatformAdminSignInLink } = await import("../server/services/accounts");
const { db } = await import("../server/db");

try {
  const link = await createPlatformAdminSignInLink({ email: email.data, name: values.name, ttlMinutes });
  const base = (process.env.NEXTAUTH_URL ?? running.consoleUrl ?? `http://localhost:${process.env.PORT ?? 3000}`).replace(/\/+$/, "");
  console.log(
    [
      `[admin:create] ${link.user.email} is a platform admin${link.created ? " (account created)" : ""}.`,
      `One-time sign-in link, valid until ${link.expiresAt.toISOString()}, works once (earlier links of this account no longer work):`,
      "",
      `  ${base}/signin/link#token=${link.token}`,
      "",
      "Open it in a browser to set a password and sign in. Until then anyone holding it can sign in as this account: do not paste it into tickets or chats.",
    ].join("\n"),
  );
} catch (error) {
  const code = (error as { code?: string }).code;
  fail(code === "ECONNREFUSED" ? "cannot reach the database: is Enclave running (npm start), or DATABASE_URL right?" : `failed: ${error instanceof Error ? error.message : String(error)}`);
} finally {
  await db.$disconnect();
}
