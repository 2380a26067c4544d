/**
 * `npm run org:import -- <file> [--slug <new-slug>] [--key <vkey>] [--actor <admin email>] [--json]`
 *
 * Imports an export archive (docs/export-format.md, "Import") into this installation: verifies
 * every hash, the manifest's signature and the audit log first (a tampered archive is refused with
 * the reason, nothing written), then recreates the organisation through the same rules as the
 * console. Prints the invitation links and the re-issued API keys once (they are stored nowhere
 * else), and what could not be mapped. `--key` is the source installation's verifier key; without
 * it the archive's own key is used, which proves integrity, not origin. `--actor` names the
 * platform administrator accountable (default: the first one).
 */
import { existsSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { RUNNING_FILE, type RunningInfo } from "./lib/database";

const usage = "Usage: npm run org:import -- <archive.tar.gz> [--slug <new-slug>] [--key <verifier key>] [--actor <admin email>] [--json]";

function fail(message: string, code = 1): never {
  console.error(`[org:import] ${message}`);
  process.exit(code);
}

const { values, positionals } = (() => {
  try {
    return parseArgs({ options: { slug: { type: "string" }, key: { type: "string" }, actor: { type: "string" }, json: { type: "boolean" }, help: { type: "boolean" } }, allowPositionals: true, strict: true });
  } catch (error) {
    return fail(`${error instanceof Error ? error.message : String(error)}\n${usage}`);
  }
})();
if (values.help) {
  console.log(usage);
  process.exit(0);
}
if (positionals.length !== 1) fail(`give one archive\n${usage}`);
if (!existsSync(positionals[0])) fail(`${positionals[0]} does not exist`);

const running: Partial<RunningInfo> = existsSync(RUNNING_FILE) ? JSON.parse(readFileSync(RUNNING_FILE, "utf8")) : {};
if (!process.env.DATABASE_URL) {
  if (!running.embeddedDatabaseUrl) fail("set DATABASE_URL, or start Enclave first (npm start) to use its embedded database");
  process.env.DATABASE_URL = running.embeddedDatabaseUrl;
}

const { db } = await import("../server/db");
const { importOrganization, ImportRefused } = await import("../server/exports/import");

let code = 0;
try {
  const admin = await db.user.findFirst({
    where: values.actor ? { email: values.actor.trim().toLowerCase(), platformAdmin: true } : { platformAdmin: true },
    orderBy: { createdAt: "asc" },
    select: { id: true, email: true },
  });
  if (!admin) fail(values.actor ? `${values.actor} is not a platform administrator here` : "this installation has no platform administrator yet: create one with npm run admin:create");
  const actor = { type: "USER" as const, id: admin.id, label: `${admin.email} (org:import)` };
  const result = await importOrganization(positionals[0], actor, {
    slug: values.slug,
    trustedKey: values.key ?? null,
    onProgress: (p) => {
      if (!values.json && (!p.rows || p.rows % 100_000 === 0)) console.error(`[org:import] ${p.stage}${p.rows ? `: ${p.rows.toLocaleString("en-US")} rows` : ""}`);
    },
  });
  if (values.json) console.log(JSON.stringify(result, null, 2));
  else {
    if (result.source.keyFromArchive) console.warn("[org:import] warning: the signature was checked against the key inside the archive — this proves integrity, not origin. Pass --key <vkey> to check who signed it.");
    console.log(`Imported ${result.source.organization.slug} from ${result.source.installation} as ${result.organization.slug} (${result.organization.id}).`);
    console.log(`Usage records: ${result.counts.usageRecords}, traces: ${result.counts.traces}, audit events kept read-only: ${result.counts.auditEvents}.`);
    console.log("\nInvitations (send each link to its person; shown once):");
    for (const i of result.invitations) console.log(`  ${i.email} (${i.role}): ${i.acceptPath}`);
    console.log("\nAPI keys re-issued (new secrets, shown once):");
    for (const k of result.apiKeys) console.log(`  ${k.name}: ${k.oldPrefix} → ${k.newPrefix}  ${k.key}`);
    console.log("\nDeployments (created STOPPED; start them once a quota allows):");
    for (const d of result.deployments) console.log(`  ${d.name}${d.residency.length ? ` — ${d.residency.join("; ")}` : ""}`);
    if (result.routes.length) console.log(`\nRoutes (over those deployments, in preference order): ${result.routes.map((r) => `${r.name} (${r.members.join(" → ")})`).join(", ")}`);
    if (result.quotaRequests.length) console.log(`\nQuota requests for a platform admin: ${result.quotaRequests.map((q) => `${q.gpus} ${q.gpuType} in ${q.region}`).join(", ")}`);
    if (result.unmapped.length) {
      console.log("\nCould not be mapped:");
      for (const u of result.unmapped) console.log(`  [${u.kind}] ${u.reason}`);
    }
  }
} catch (error) {
  if (error instanceof ImportRefused) {
    console.error(`[org:import] ${error.message}`);
    code = 2;
  } else {
    console.error(`[org:import] ${error instanceof Error ? error.message : String(error)}`);
    code = 1;
  }
} finally {
  await db.$disconnect();
}
process.exit(code);
