import pg from "pg";
import path from "node:path";
import { BIN, ROOT, run } from "./processes";

/**
 * What `npm start` writes for `npm run admin:create` in another terminal: the console's URL (for
 * the link) and, when it is the embedded one, the database's URL (its port may not be the default).
 */
export const RUNNING_FILE = path.join(ROOT, ".data", "running.json");
export interface RunningInfo {
  consoleUrl: string;
  embeddedDatabaseUrl?: string;
}

/** Applies the committed migrations (Prisma's JS schema engine, see docs/prisma.md). */
export function migrate(databaseUrl: string) {
  return run(BIN("prisma"), ["migrate", "deploy"], { env: { ...process.env, DATABASE_URL: databaseUrl }, quiet: true });
}

/** Demo data, for a demo installation only (scripts/lib/demo.ts); otherwise the seed does nothing. */
export function seed(databaseUrl: string, options: { demo: boolean }) {
  return run(BIN("tsx"), ["prisma/seed.ts"], { env: { ...process.env, DATABASE_URL: databaseUrl, ENCLAVE_DEMO: options.demo ? "1" : "0" } });
}

/**
 * For a non-demo start: whether a platform admin exists yet (start says how to create the first
 * one), and which of `demoEmails` (accounts with published passwords) the database holds.
 */
export async function accountCheck(databaseUrl: string, demoEmails: string[]): Promise<{ hasPlatformAdmin: boolean; demoAccounts: string[] }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const admins = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM "User" WHERE "platformAdmin"`);
    const demo = await client.query<{ email: string }>(`SELECT email FROM "User" WHERE email = ANY($1) AND "passwordHash" IS NOT NULL ORDER BY email`, [demoEmails]);
    return { hasPlatformAdmin: (admins.rows[0]?.n ?? 0) > 0, demoAccounts: demo.rows.map((r) => r.email) };
  } finally {
    await client.end();
  }
}
