import { BIN, run } from "./processes";

/** Applies the committed migrations (Prisma's JS schema engine, see docs/prisma.md). */
export function migrate(databaseUrl: string) {
  return run(BIN("prisma"), ["migrate", "deploy"], { env: { ...process.env, DATABASE_URL: databaseUrl }, quiet: true });
}

export function seed(databaseUrl: string) {
  return run(BIN("tsx"), ["prisma/seed.ts"], { env: { ...process.env, DATABASE_URL: databaseUrl } });
}
