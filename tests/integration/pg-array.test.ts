/**
 * The spool's array literals (server/gateway/pg-array.ts) read back by PostgreSQL as the values they
 * were built from: the characters array input treats specially (quotes, backslashes, commas, braces,
 * spaces, the word NULL), empty strings, non-ASCII text, nulls, and numbers through each cast the
 * batch statements use.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { arrayLiteral } from "@/server/gateway/pg-array";

let client: pg.Client;

beforeAll(async () => {
  client = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await client.connect();
});

afterAll(async () => {
  await client.end();
});

const readBack = async (values: unknown[], type: string) => (await client.query<{ a: unknown[] }>(`SELECT $1::${type} AS a`, [arrayLiteral(values)])).rows[0].a;

describe("arrayLiteral", () => {
  it("keeps every text value as it was, however it is spelt", async () => {
    const values = ['say "hi"', "back\\slash", "a,b", "{braces}", " spaced ", "NULL", "null", "", "zürich — 東京", "tab\there", "line\nbreak", "\\\"", null, "x"];
    expect(await readBack(values, "text[]")).toEqual(values);
  });

  it("gives PostgreSQL's own reading of numbers, booleans and timestamps", async () => {
    expect(await readBack([0, -7, 2147483647, null], "int[]")).toEqual([0, -7, 2147483647, null]);
    expect(await readBack([1.5, 1e-7, -0.25, 12345.678, null], "float8[]")).toEqual([1.5, 1e-7, -0.25, 12345.678, null]);
    expect(await readBack([Number.NaN, Number.POSITIVE_INFINITY], "float8[]")).toEqual([Number.NaN, Number.POSITIVE_INFINITY]);
    expect(await readBack([true, false, null], "bool[]")).toEqual([true, false, null]);
    const at = "2026-12-03T10:11:12.345Z";
    const { rows } = await client.query<{ t: string }>(`SELECT (($1::timestamp[])[1])::text AS t`, [arrayLiteral([at])]);
    expect(rows[0].t).toBe("2026-12-03 10:11:12.345");
  });

  it("is the empty array for no values, and an int outside its range is refused as bad input", async () => {
    expect(await readBack([], "text[]")).toEqual([]);
    await expect(readBack([1.5], "int[]")).rejects.toMatchObject({ code: "22P02" });
  });

  it("builds the same literal pg builds, so a batch means what it meant", async () => {
    const values = ['q"uote', "b\\s", null, "plain"];
    const viaPg = (await client.query<{ a: string[] }>(`SELECT $1::text[] AS a`, [values])).rows[0].a;
    expect(await readBack(values, "text[]")).toEqual(viaPg);
  });
});
