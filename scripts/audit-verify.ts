/**
 * `npm run audit:verify -- <export archive> [--key <vkey>]... [--json]`
 *
 * The offline verifier (docs/export-format.md, docs/audit-log.md): needs no database and no trust
 * in the operator. Reads the archive, checks every file against the manifest's SHA-256 and the
 * manifest's signature, then the audit log (server/audit/verify.ts: every event hash, sequence
 * without gaps, every inclusion proof, the consistency of successive checkpoints, their signatures)
 * and each audit log the organisation brought from another installation (audit/imported/<n>/).
 * Exits 0 when everything verifies, 1 on any problem, 2 on bad usage.
 *
 * Trusted key: `--key` (the installation's published verifier key); without it, the key named in
 * the archive, with a warning: that proves the archive is intact, not who wrote it.
 */
import { parseArgs } from "node:util";
import { existsSync } from "node:fs";
import { verifyArchive } from "../server/exports/archive";
import { readAuditBundleFiles, verifyAuditBundle } from "../server/audit/verify";

const usage = "Usage: npm run audit:verify -- <archive.tar.gz> [--key <verifier key>]... [--json]";

const { values, positionals } = (() => {
  try {
    return parseArgs({ options: { key: { type: "string", multiple: true }, json: { type: "boolean" }, help: { type: "boolean" } }, allowPositionals: true, strict: true });
  } catch (error) {
    console.error(`[audit:verify] ${error instanceof Error ? error.message : String(error)}\n${usage}`);
    process.exit(2);
  }
})();
if (values.help) {
  console.log(usage);
  process.exit(0);
}
if (positionals.length !== 1 || !existsSync(positionals[0])) {
  console.error(`[audit:verify] give one archive that exists\n${usage}`);
  process.exit(2);
}

const keys = values.key ?? [];
const report: { archive: string; ok: boolean; warnings: string[]; problems: string[]; manifest: unknown; audit: unknown[] } = { archive: positionals[0], ok: false, warnings: [], problems: [], manifest: null, audit: [] };
const archive = await verifyArchive(positionals[0], { trustedKey: keys[0] ?? null, keep: (p) => p.startsWith("audit/") });
report.problems.push(...archive.problems.map((p) => `archive: ${p.message}`));
if (archive.manifest) {
  report.manifest = { organization: archive.manifest.organization, source: archive.manifest.source, exportedAt: archive.manifest.exportedAt, files: archive.manifest.files.length, archiveSha256: archive.archive.sha256 };
  const trusted = keys.length ? keys : [archive.manifest.source.verifierKey];
  if (!keys.length) report.warnings.push(`no --key given: checked against the key inside the archive (${archive.manifest.source.verifierKey}); this proves integrity, not origin`);
  const groups = new Map<string, { files: Map<string, string>; trusted: string[] }>();
  groups.set("audit", { files: new Map(), trusted });
  for (const [p, content] of archive.kept) {
    const m = /^audit\/imported\/(\d+)\/(.+)$/.exec(p);
    if (!m) {
      groups.get("audit")!.files.set(p, content);
      continue;
    }
    const name = `audit/imported/${m[1]}`;
    const g = groups.get(name) ?? { files: new Map<string, string>(), trusted: [] as string[] };
    if (m[2] === "source.json") {
      try {
        const key = (JSON.parse(content) as { verifierKey?: string }).verifierKey;
        if (key) g.trusted.push(key);
      } catch {
        report.problems.push(`${name}/source.json is not JSON`);
      }
    } else g.files.set(`audit/${m[2]}`, content);
    groups.set(name, g);
  }
  for (const [name, g] of groups) {
    if (name !== "audit") {
      g.trusted.push(...keys);
      report.warnings.push(`${name}: brought from another installation; checked against the key recorded with it`);
    }
    try {
      const r = verifyAuditBundle(readAuditBundleFiles(g.files), { trustedKeys: g.trusted });
      report.audit.push({ part: name, ...r });
      report.problems.push(...r.problems.map((p) => `${name}: ${p.message}`));
    } catch (error) {
      report.problems.push(`${name}: ${(error as Error).message}`);
    }
  }
}
report.ok = report.problems.length === 0;

if (values.json) console.log(JSON.stringify(report, null, 2));
else {
  for (const w of report.warnings) console.warn(`warning: ${w}`);
  if (archive.manifest) console.log(`archive ${positionals[0]} — ${archive.manifest.organization.slug} from ${archive.manifest.source.installation}, exported ${archive.manifest.exportedAt}, ${archive.manifest.files.length} files`);
  for (const a of report.audit as { part: string; ok: boolean; events: number; checkpoints: number; verifiedTreeSize: number | null }[]) {
    console.log(`${a.part}: ${a.ok ? "ok" : "FAILED"} — ${a.events} events, ${a.checkpoints} checkpoints, verified tree size ${a.verifiedTreeSize ?? "none"}`);
  }
  if (report.ok) console.log("OK: every file matches the signed manifest and the audit log verifies");
  else for (const p of report.problems) console.error(`problem: ${p}`);
}
process.exit(report.ok ? 0 : 1);
