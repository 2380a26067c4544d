import { PrismaClient } from "./generated/prisma/client";
import { createPgAdapter } from "./db/pg-adapter";

export type Db = PrismaClient;
export type Tx = Parameters<Parameters<PrismaClient["$transaction"]>[0]>[0];

function databaseUrl(): string {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error("DATABASE_URL is not set. Start Enclave with `npm start`, which provides one.");
  return url;
}

export function createDb(url = databaseUrl()): PrismaClient {
  return new PrismaClient({ adapter: createPgAdapter(url) });
}

// One client per process; cached on globalThis so Next.js dev reloads do not open new pools.
const globalForDb = globalThis as unknown as { enclaveDb?: PrismaClient };

export const db: PrismaClient = new Proxy({} as PrismaClient, {
  get(_target, prop) {
    globalForDb.enclaveDb ??= createDb();
    const value = Reflect.get(globalForDb.enclaveDb, prop);
    return typeof value === "function" ? value.bind(globalForDb.enclaveDb) : value;
  },
});
