/**
 * The migration that adds guardrail verdicts to the usage records and their roll-ups, on an
 * installation that already has records: on a database of its own, every migration before it is
 * applied and rows are written in the layout of that time (no verdicts, their deltas not folded yet);
 * then it runs, with the migrations after it. No table is rewritten; the old rows count no verdict;
 * new rows of the same hours count theirs in the same roll-up rows, by the fold and by a rebuild;
 * every partition has the column, and partition upkeep still moves rows out of the default partition
 * with their codes.
 */
import { describe, expect, it } from "vitest";
import { migration, migrations, throwawayDatabase } from "../migration-fixtures";
import { ensureMonthlyPartitions, USAGE_RECORDS } from "@/server/db/partitions";
import { outcomeCode } from "@/server/guardrails/types";
import { rollUpUsage } from "@/server/services/usage-rollup";

const THIS = "20261203010000_guardrail_usage";
const db = throwawayDatabase("guardrail_usage_migration");
const HOUR = 3_600_000;
const utcText = (t: number) => new Date(t).toISOString().replace("T", " ").replace("Z", "");

/** Files on disk of the tables and partitions: a rewrite gives a table a new one. */
async function fileNodes(names: string[]) {
  const { rows } = await db.client.query<{ relname: string; relfilenode: number }>(`SELECT relname, relfilenode FROM pg_class WHERE relname = ANY($1)`, [names]);
  return Object.fromEntries(rows.map((r) => [r.relname, r.relfilenode]));
}

async function totals() {
  return (
    await db.client.query<{ requests: number; guardrails: Record<string, number> }>(
      `SELECT sum(requests)::int AS requests, usage_status_sum(guardrails) AS guardrails FROM "UsageHourlyTotal" WHERE "orgId" = 'org-g' AND "deploymentId" = '*' AND "apiKeyId" = '*'`,
    )
  ).rows[0];
}

describe(`migration ${THIS}`, () => {
  it("adds the verdict codes without rewriting a table; old rows count none, new rows of the same hours count theirs", async () => {
    const { client } = db;
    const all = migrations();
    expect(all).toContain(THIS);
    for (const name of all.filter((n) => n < THIS)) await client.query(migration(name));
    await client.query(`INSERT INTO "Organization" (id, name, slug, "updatedAt") VALUES ('org-g', 'Guarded', 'guarded', now())`);
    const hour = Math.floor(Date.now() / HOUR) * HOUR - 5 * HOUR;
    // 50 records of the layout before verdicts, in two hours; their deltas stay unfolded across the migration.
    await client.query(
      `INSERT INTO "UsageRecord" ("createdAt", "orgId", endpoint, "tokensIn", "tokensOut", "latencyMs", status, "costMicroEur")
       SELECT $1::timestamp + ((i % 2) || ' hours')::interval + (i || ' seconds')::interval, 'org-g', '/v1/chat/completions', i, i, 12.5, 200, i FROM generate_series(1, 50) i`,
      [utcText(hour)],
    );
    const month = new Date(hour);
    const partition = `UsageRecord_${month.getUTCFullYear()}_${String(month.getUTCMonth() + 1).padStart(2, "0")}`;
    const tables = [partition, "UsageRecord_default", "UsageHourly", "UsageDaily", "UsageHourlyTotal", "UsageDailyTotal", "UsageDelta"];
    const before = await fileNodes(tables);
    expect(Object.keys(before)).toHaveLength(tables.length);

    await client.query(migration(THIS));
    expect(await fileNodes(tables)).toEqual(before);
    for (const name of all.filter((n) => n > THIS)) await client.query(migration(name));

    // Every partition of the table has the column, the default one included.
    const { rows: columns } = await client.query<{ part: string; type: string }>(
      `SELECT c.relname AS part, format_type(a.atttypid, a.atttypmod) AS type
       FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
       LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'guardrails' AND NOT a.attisdropped
       WHERE p.relname = 'UsageRecord'`,
    );
    expect(columns.length).toBeGreaterThanOrEqual(3);
    for (const c of columns) expect(c.type, c.part).toBe("smallint[]");
    expect((await client.query(`SELECT count(*)::int AS n FROM "UsageRecord" WHERE guardrails IS NOT NULL`)).rows[0].n).toBe(0);

    // New records in the same hours, with verdicts: 20 × (pii.input pass, pii.output redacted) + 5 schema failures.
    const pass = outcomeCode("pii.input", "pass");
    const redacted = outcomeCode("pii.output", "redacted");
    const flagged = outcomeCode("schema.output", "flagged");
    await client.query(
      `INSERT INTO "UsageRecord" ("createdAt", "orgId", endpoint, "tokensIn", "tokensOut", "latencyMs", status, "costMicroEur", guardrails)
       SELECT $1::timestamp + ((i % 2) || ' hours')::interval + (i || ' seconds')::interval, 'org-g', '/v1/chat/completions', 1, 1, 8, 200, 1,
              CASE WHEN i <= 20 THEN ARRAY[$2, $3]::smallint[] ELSE ARRAY[$4]::smallint[] END
       FROM generate_series(1, 25) i`,
      [utcText(hour), pass, redacted, flagged],
    );
    await rollUpUsage({ client });
    const expected = { requests: 75, guardrails: { [pass]: 20, [redacted]: 20, [flagged]: 5 } };
    expect(await totals()).toEqual(expected);
    // An old row's roll-up row, and the same from the raw rows.
    await rollUpUsage({ client, rebuild: true, from: new Date(hour - 24 * HOUR) });
    expect(await totals()).toEqual(expected);
    const { rows: perHour } = await client.query<{ requests: number; guardrails: Record<string, number> }>(
      `SELECT requests, guardrails FROM "UsageHourly" WHERE "orgId" = 'org-g' ORDER BY hour`,
    );
    expect(perHour).toEqual([
      { requests: 25 + 12, guardrails: { [pass]: 10, [redacted]: 10, [flagged]: 2 } },
      { requests: 25 + 13, guardrails: { [pass]: 10, [redacted]: 10, [flagged]: 3 } },
    ]);

    // Partition upkeep: rows of a month without its partition land in the default one and are moved out with their codes.
    const future = Date.UTC(new Date().getUTCFullYear() + 3, 0, 10);
    await client.query(
      `INSERT INTO "UsageRecord" ("createdAt", "orgId", endpoint, "tokensIn", "tokensOut", "latencyMs", status, "costMicroEur", guardrails)
       VALUES ($1::timestamp, 'org-g', '/v1/chat/completions', 1, 1, 1, 400, 0, ARRAY[$2, $3]::smallint[])`,
      [utcText(future), outcomeCode("pii.input", "blocked"), outcomeCode("schema.output", "error")],
    );
    const created = await ensureMonthlyPartitions(client, USAGE_RECORDS, new Date(future), new Date(future));
    expect(created).toHaveLength(1);
    const moved = (await client.query(`SELECT tableoid::regclass::text AS part, guardrails FROM "UsageRecord" WHERE "createdAt" = $1::timestamp`, [utcText(future)])).rows;
    expect(moved).toEqual([{ part: `"${created[0]}"`, guardrails: [outcomeCode("pii.input", "blocked"), outcomeCode("schema.output", "error")] }]);
  });
});
