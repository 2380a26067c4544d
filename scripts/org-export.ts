/**
 * `npm run org:export -- --org <slug> --out <file>`
 *
 * Writes the organisation's full export archive (docs/export-format.md) to a file: configuration,
 * usage as FOCUS CSV, traces as OTLP JSON, the audit log with its checkpoints and proofs, and a
 * manifest signed with the installation's key. Streams: flat memory whatever the organisation's
 * size. The database is DATABASE_URL, or the embedded one of a running `npm start`. The export is
 * audit-logged in the organisation's trail (actor: the command).
 */
import { createWriteStream, existsSync, readFileSync } from "node:fs";
import { rename, rm } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import { RUNNING_FILE, type RunningInfo } from "./lib/database";

const usage = "Usage: npm run org:export -- --org <slug or id> --out <file.tar.gz>";

function fail(message: string): never {
  console.error(`[org:export] ${message}`);
  process.exit(1);
}

const { values } = (() => {
  try {
    return parseArgs({ options: { org: { type: "string" }, out: { type: "string" }, help: { type: "boolean" } }, strict: true });
  } catch (error) {
    return fail(`${error instanceof Error ? error.message : String(error)}\n${usage}`);
  }
})();
if (values.help) {
  console.log(usage);
  process.exit(0);
}
if (!values.org) fail(`--org is required\n${usage}`);
if (!values.out) fail(`--out is required\n${usage}`);

const running: Partial<RunningInfo> = existsSync(RUNNING_FILE) ? JSON.parse(readFileSync(RUNNING_FILE, "utf8")) : {};
if (!process.env.DATABASE_URL) {
  if (!running.embeddedDatabaseUrl) fail("set DATABASE_URL, or start Enclave first (npm start) to use its embedded database");
  process.env.DATABASE_URL = running.embeddedDatabaseUrl;
}

const { db } = await import("../server/db");
const { writeExport } = await import("../server/services/exports");
const { recordAudit, systemActor } = await import("../server/services/audit");

const out = path.resolve(values.out);
const partial = `${out}.partial`;
let code = 0;
try {
  const org = await db.organization.findFirst({ where: { OR: [{ slug: values.org }, { id: values.org }] }, select: { id: true, slug: true, name: true } });
  if (!org) fail(`no organisation has the slug or id "${values.org}"`);
  const started = performance.now();
  let last = 0;
  const summary = await writeExport(org.id, createWriteStream(partial), {
    workDir: path.join(path.dirname(out), `.org-export-${process.pid}`),
    onProgress: (p) => {
      if (Date.now() - last < 2000 && p.rows) return;
      last = Date.now();
      console.error(`[org:export] ${p.stage}${p.rows ? `: ${p.rows.toLocaleString("en-US")} rows` : ""}`);
    },
  });
  await rename(partial, out);
  await db.$transaction((tx) =>
    recordAudit(tx, systemActor("org:export command"), { orgId: org.id, action: "organization.exported", targetType: "Organization", targetId: org.id, after: { sha256: summary.sha256, bytes: summary.bytes, files: summary.manifest.files.length, ...summary.counts } }),
  );
  console.log(
    JSON.stringify(
      { file: out, sha256: summary.sha256, bytes: summary.bytes, organization: summary.manifest.organization, counts: summary.counts, seconds: Number(((performance.now() - started) / 1000).toFixed(1)) },
      null,
      2,
    ),
  );
} catch (error) {
  await rm(partial, { force: true });
  console.error(`[org:export] ${error instanceof Error ? error.message : String(error)}`);
  code = 1;
} finally {
  await db.$disconnect();
}
process.exit(code);
