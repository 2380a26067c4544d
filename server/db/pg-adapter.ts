import { randomUUID } from "node:crypto";
import pg from "pg";
import { parse as parseConnectionString } from "pg-connection-string";
import { PrismaPg } from "@prisma/adapter-pg";

// PostgreSQL catalog types that @prisma/adapter-pg 6.19 does not map (see docs/prisma.md).
const PG_CHAR_OID = 18;
const PG_NAME_OID = 19;
const PG_TEXT_OID = 25;

type QueryResultLike = { fields?: { dataTypeID: number }[] } | undefined;

function mapCatalogTypesToText<T extends QueryResultLike>(result: T): T {
  for (const field of result?.fields ?? []) {
    if (field.dataTypeID === PG_NAME_OID || field.dataTypeID === PG_CHAR_OID) field.dataTypeID = PG_TEXT_OID;
  }
  return result;
}

/** A pg client whose results report `name`/`"char"` columns as `text`, which is what they are on the wire. */
export class CatalogTypesAsTextClient extends pg.Client {
  // pg's query() has callback, promise and submittable forms; the pool uses the callback one.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  override query(...args: any[]): any {
    const last = args[args.length - 1];
    if (typeof last === "function") {
      args[args.length - 1] = (err: Error | null, res: QueryResultLike) => last(err, err ? res : mapCatalogTypesToText(res));
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      return (super.query as any)(...args);
    }
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const ret = (super.query as any)(...args);
    return ret && typeof ret.then === "function" ? ret.then(mapCatalogTypesToText) : ret;
  }
}

/**
 * Discrete connection fields instead of a connection string: adapter-pg creates its shadow
 * database connection as `{ ...config, database }`, and pg lets `connectionString` win over
 * `database`, so with a string the "shadow" connection would be the main database.
 */
export function pgConfigFromUrl(url: string): pg.PoolConfig {
  const parsed = parseConnectionString(url);
  return {
    host: parsed.host ?? undefined,
    port: parsed.port ? Number(parsed.port) : undefined,
    user: parsed.user ?? undefined,
    password: parsed.password ?? undefined,
    database: parsed.database ?? undefined,
    ssl: parsed.ssl ? (parsed.ssl as pg.PoolConfig["ssl"]) : undefined,
    application_name: parsed.application_name ?? undefined,
  };
}

/**
 * adapter-pg's own shadow database drops the database while its pool is still connected (so the
 * DROP fails) and never releases the main connection; this one closes the shadow pool first.
 */
class EnclavePrismaPg extends PrismaPg {
  constructor(private readonly poolConfig: pg.PoolConfig) {
    super(poolConfig);
  }

  /**
   * adapter-pg runs a migration script by splitting it on every ";", also inside comments and
   * function bodies (a PL/pgSQL trigger cannot be written then). The whole script goes as one
   * simple-protocol query instead, which PostgreSQL parses itself and runs as one transaction.
   */
  override async connect() {
    const adapter = await super.connect();
    const inner = adapter as unknown as { client: pg.Pool; onError(error: unknown): never };
    adapter.executeScript = async (script: string) => {
      try {
        await inner.client.query(script);
      } catch (error) {
        inner.onError(error);
      }
    };
    return adapter;
  }

  override async connectToShadowDb() {
    const main = await this.connect();
    const database = `prisma_migrate_shadow_db_${randomUUID()}`;
    await main.executeScript(`CREATE DATABASE "${database}"`);
    const shadow = await new PrismaPg({ ...this.poolConfig, database, max: 1 }).connect();
    const disposeShadow = shadow.dispose.bind(shadow);
    shadow.dispose = async () => {
      await disposeShadow();
      await main.executeScript(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
      await main.dispose();
    };
    return shadow;
  }
}

export function createPgAdapter(url: string, options: { max?: number } = {}) {
  return new EnclavePrismaPg({ ...pgConfigFromUrl(url), max: options.max ?? 10, Client: CatalogTypesAsTextClient } as pg.PoolConfig);
}
