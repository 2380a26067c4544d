/**
 * The migration to slim, partitioned usage rows keeps an installation's records: on a database of
 * its own, every migration before it is applied, old-layout rows are written, then the migration
 * runs. Each row is still there, with the id a replay of its spool line would get, in its month's
 * partition, and the roll-up of the copy equals the rows.
 */
import { describe, expect, it } from "vitest";
import { migration, migrations, throwawayDatabase } from "../migration-fixtures";
import { INSERT_SQL, insertParams, usageRecordId } from "@/server/gateway/usage-sql";
import { rollUpUsage } from "@/server/services/usage-rollup";

const THIS = "20261202010000_usage_rollups";
const db = throwawayDatabase("usage_migration");

describe(`migration ${THIS}`, () => {
  it("moves every existing usage record into the partitioned table, replay-proof, and rolls them up", async () => {
    const { client } = db;
    const all = migrations();
    for (const name of all.filter((n) => n < THIS)) await client.query(migration(name));
    await client.query(`INSERT INTO "Organization" (id, name, slug, "updatedAt") VALUES ('org-m', 'Migrated', 'migrated', now())`);
    // 120 records over four months, in the old layout (cuid id, unique request id).
    await client.query(`
      INSERT INTO "UsageRecord" (id, "requestId", "orgId", endpoint, "tokensIn", "tokensOut", "latencyMs", "ttftMs", status, "costMicroEur", "createdAt")
      SELECT 'c' || i, 'req_old_' || i, 'org-m', '/v1/chat/completions', i, 2 * i, 10.5 + i, CASE WHEN i % 3 = 0 THEN NULL ELSE 3.25 END,
             CASE WHEN i % 10 = 0 THEN 502 ELSE 200 END, 7 * i, (now() AT TIME ZONE 'UTC') - (i || ' days')::interval
      FROM generate_series(1, 120) i`);
    const before = (await client.query(`SELECT count(*)::int AS n, sum("tokensIn")::int AS tin, sum("costMicroEur")::int AS cost, count(*) FILTER (WHERE status >= 400)::int AS errors FROM "UsageRecord"`)).rows[0];

    await client.query(migration(THIS));

    const after = (await client.query(`SELECT count(*)::int AS n, sum("tokensIn")::int AS tin, sum("costMicroEur")::int AS cost, count(*) FILTER (WHERE status >= 400)::int AS errors FROM "UsageRecord"`)).rows[0];
    expect(after).toEqual(before);
    const { rows: parts } = await client.query<{ part: string }>(`SELECT DISTINCT tableoid::regclass::text AS part FROM "UsageRecord"`);
    expect(parts.map((p) => p.part)).not.toContain(`"UsageRecord_default"`);
    expect(parts.length).toBeGreaterThanOrEqual(4);
    // Today's schema: the later migrations (the gateway's INSERT below writes their columns).
    for (const name of all.filter((n) => n > THIS)) await client.query(migration(name));
    // A spool line of such a record replayed after the upgrade is recognised.
    const one = (await client.query(`SELECT id::text, (extract(epoch FROM "createdAt") * 1000)::float8 AS at FROM "UsageRecord" WHERE "tokensIn" = 5`)).rows[0];
    expect(one.id).toBe(usageRecordId("req_old_5"));
    const replay = insertParams([
      { requestId: "req_old_5", orgId: "org-m", apiKeyId: null, deploymentId: null, endpoint: "/v1/chat/completions", tokensIn: 5, tokensOut: 10, latencyMs: 15.5, ttftMs: 3.25, status: 200, costMicroEur: 35, at: one.at },
    ]);
    expect((await client.query(INSERT_SQL, replay)).rows[0].inserted).toBe(0);

    // The copy's deltas roll the history up.
    await rollUpUsage({ client });
    const total = (await client.query(`SELECT sum(requests)::int AS n, sum(errors)::int AS errors, sum("costMicroEur")::int AS cost FROM "UsageDailyTotal" WHERE "deploymentId" = '*' AND "apiKeyId" = '*'`)).rows[0];
    expect(total).toEqual({ n: before.n, errors: before.errors, cost: before.cost });
    expect((await client.query(`SELECT to_regclass('"UsageRecord_before_partitioning"') AS t`)).rows[0].t).toBeNull();
  });
});
