/**
 * Monthly range partitions for the tables that grow with traffic ("UsageRecord", "Trace"), so that
 * retention drops a month's partition instead of deleting rows one by one.
 *
 * Each such table is created `PARTITION BY RANGE (<time column>)` with a DEFAULT partition (its
 * migration does that), so an insert never fails for want of a partition. The workers keep
 * partitions ready from the oldest month retained up to two months ahead (`ensureMonthlyPartitions`);
 * a month that already has rows in the default partition (a bulk load of old data, an import) is
 * split out of it inside one transaction. `dropExpiredPartitions` removes whole months past the
 * retention and deletes the few expired rows left in the default partition.
 */

/** One connection (a pg.Client or a checked-out PoolClient): the functions below run transactions on it. */
export interface Queryable {
  query<R extends Record<string, unknown> = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: R[] }>;
}

export interface PartitionedTable {
  /** The table's name, as Prisma names it ("UsageRecord"). */
  table: string;
  /** Its partition key, a `timestamp(3)` column. */
  column: string;
}

export const USAGE_RECORDS: PartitionedTable = { table: "UsageRecord", column: "createdAt" };
export const TRACES: PartitionedTable = { table: "Trace", column: "startedAt" };

const NAME = /^[A-Za-z][A-Za-z0-9_]*$/;

function quoted(name: string) {
  if (!NAME.test(name)) throw new Error(`Not a table or column name: ${name}`);
  return `"${name}"`;
}

/** First instant (UTC) of the month containing `t`. */
export function monthStart(t: Date): Date {
  return new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), 1));
}

function addMonths(t: Date, months: number): Date {
  return new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth() + months, 1));
}

/** The partition of the month starting at `month`: "UsageRecord_2026_12". */
export function partitionName(table: string, month: Date): string {
  return `${table}_${month.getUTCFullYear()}_${String(month.getUTCMonth() + 1).padStart(2, "0")}`;
}

function sqlTimestamp(t: Date) {
  // The columns are `timestamp without time zone` holding UTC (Prisma's convention).
  return `'${t.toISOString().replace("T", " ").replace("Z", "")}'`;
}

/** The monthly partitions that exist, with their first instant. */
export async function listPartitions(q: Queryable, t: PartitionedTable): Promise<{ name: string; month: Date }[]> {
  const { rows } = await q.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
     WHERE p.relname = $1 AND p.relnamespace = current_schema()::regnamespace`,
    [t.table],
  );
  const pattern = new RegExp(`^${t.table}_(\\d{4})_(\\d{2})$`);
  return rows
    .map((r) => ({ name: r.name, m: pattern.exec(r.name) }))
    .filter((r): r is { name: string; m: RegExpExecArray } => r.m !== null)
    .map((r) => ({ name: r.name, month: new Date(Date.UTC(Number(r.m[1]), Number(r.m[2]) - 1, 1)) }))
    .sort((a, b) => a.month.getTime() - b.month.getTime());
}

/**
 * Makes sure every month from `from` to `to` (inclusive) has its partition. A month whose rows sit in
 * the default partition is moved out of it in the same transaction (PostgreSQL refuses to attach a
 * range the default partition holds rows of). Returns the partitions created.
 */
export async function ensureMonthlyPartitions(q: Queryable, t: PartitionedTable, from: Date, to: Date): Promise<string[]> {
  const existing = new Set((await listPartitions(q, t)).map((p) => p.name));
  const created: string[] = [];
  const table = quoted(t.table);
  const column = quoted(t.column);
  const defaultPartition = quoted(`${t.table}_default`);
  for (let month = monthStart(from); month <= to; month = addMonths(month, 1)) {
    const name = partitionName(t.table, month);
    if (existing.has(name)) continue;
    const lower = sqlTimestamp(month);
    const upper = sqlTimestamp(addMonths(month, 1));
    await q.query("BEGIN");
    try {
      // One creator at a time (two workers, or a worker and `npm run usage:rollup`).
      await q.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`partitions:${t.table}`]);
      const again = await q.query(`SELECT 1 FROM pg_class WHERE relname = $1 AND relnamespace = current_schema()::regnamespace`, [name]);
      if (again.rows.length === 0) {
        // Writers wait (readers do not) until the month is in place: a row inserted into the default
        // partition between the check and the attach would make the attach fail.
        await q.query(`LOCK TABLE ${table} IN EXCLUSIVE MODE`);
        const stray = await q.query(`SELECT 1 FROM ${defaultPartition} WHERE ${column} >= ${lower} AND ${column} < ${upper} LIMIT 1`);
        if (stray.rows.length === 0) {
          await q.query(`CREATE TABLE ${quoted(name)} PARTITION OF ${table} FOR VALUES FROM (${lower}) TO (${upper})`);
        } else {
          await q.query(`CREATE TABLE ${quoted(name)} (LIKE ${table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`);
          await q.query(`WITH moved AS (DELETE FROM ${defaultPartition} WHERE ${column} >= ${lower} AND ${column} < ${upper} RETURNING *)
                         INSERT INTO ${quoted(name)} SELECT * FROM moved`);
          await q.query(`ALTER TABLE ${table} ATTACH PARTITION ${quoted(name)} FOR VALUES FROM (${lower}) TO (${upper})`);
        }
        created.push(name);
      }
      await q.query("COMMIT");
    } catch (error) {
      await q.query("ROLLBACK");
      throw error;
    }
  }
  return created;
}

/**
 * Drops the monthly partitions that end before `before` and deletes the rows older than `before`
 * left in the default partition. Returns the partitions dropped.
 */
export async function dropExpiredPartitions(q: Queryable, t: PartitionedTable, before: Date): Promise<string[]> {
  const dropped: string[] = [];
  for (const p of await listPartitions(q, t)) {
    if (addMonths(p.month, 1) > before) continue;
    await q.query(`DROP TABLE IF EXISTS ${quoted(p.name)}`);
    dropped.push(p.name);
  }
  await q.query(`DELETE FROM ${quoted(`${t.table}_default`)} WHERE ${quoted(t.column)} < ${sqlTimestamp(before)}`);
  return dropped;
}
