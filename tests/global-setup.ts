import { rmSync } from "node:fs";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { migrate } from "../scripts/lib/database";
import { startEmbeddedPostgres, type EmbeddedDatabase } from "../scripts/lib/embedded-postgres";

declare module "vitest" {
  export interface ProvidedContext {
    databaseUrl: string;
  }
}

let database: EmbeddedDatabase | null = null;
let dataDir: string | null = null;

/**
 * Tests run against a real PostgreSQL: ENCLAVE_TEST_DATABASE_URL if given (an empty, migrated or
 * migratable database), otherwise a throw-away embedded server. Never the development database.
 */
export async function setup(project: TestProject) {
  let url = process.env.ENCLAVE_TEST_DATABASE_URL;
  if (!url) {
    // One directory per run, so two test runs on one machine never share a cluster.
    dataDir = path.resolve(`.data/vitest-pg-${process.pid}`);
    rmSync(dataDir, { recursive: true, force: true });
    database = await startEmbeddedPostgres({ dataDir, database: "enclave_test", persistent: false });
    url = database.url;
  }
  await migrate(url);
  project.provide("databaseUrl", url);
}

export async function teardown() {
  await database?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}
