/**
 * A migration test's own database: created beside the shared test database before the file's
 * tests, dropped after them, so a test can apply the migrations one by one and write rows in the
 * layout of any earlier schema. `migrations` lists the folders in order; `migration(name)` reads one.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll } from "vitest";

const MIGRATIONS = path.resolve(import.meta.dirname, "../prisma/migrations");

export const migrations = () => readdirSync(MIGRATIONS).filter((n) => /^\d{14}_/.test(n)).sort();
export const migration = (name: string) => readFileSync(path.join(MIGRATIONS, name, "migration.sql"), "utf8");

/** Registers the hooks; the returned object's `client` is connected (TimeZone UTC) once the tests run. */
export function throwawayDatabase(prefix: string): { readonly client: pg.Client } {
  const database = `${prefix}_${process.pid}`;
  let admin: pg.Client | undefined;
  let client: pg.Client | undefined;
  beforeAll(async () => {
    admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE "${database}"`);
    const url = new URL(process.env.DATABASE_URL!);
    url.pathname = `/${database}`;
    client = new pg.Client({ connectionString: url.toString(), options: "-c TimeZone=UTC" });
    await client.connect();
  });
  afterAll(async () => {
    await client?.end();
    await admin?.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    await admin?.end();
  });
  return {
    get client() {
      if (!client) throw new Error("the throw-away database is connected in beforeAll");
      return client;
    },
  };
}
