/**
 * The compliance report as a PDF for people, rendered with pdfkit from the same validated JSON
 * document the API returns (compliance-report.ts): the PDF can never show other figures than the
 * JSON. Why pdfkit and not Chromium's print of the console page: docs/compliance.md.
 */
import PDFDocument from "pdfkit";
import type { ComplianceReport } from "./compliance-report-schema";

const MARGIN = 50;
const INK = "#0f172a";
const MUTED = "#475569";
const BAD = "#b91c1c";
const GOOD = "#15803d";

/** The standard PDF fonts encode WinAnsi only: anything else (arrows, CJK, emoji) would print as garbage. */
function safe(text: string): string {
  return text
    .replace(/[\u2018\u2019]/g, "'")
    .replace(/[\u201C\u201D]/g, '"')
    .replace(/[\u2013\u2014]/g, "-")
    .replace(/\u2026/g, "...")
    .replace(/\u2265/g, ">=")
    .replace(/[^\u0009\u000A\u000D\u0020-\u007E\u00A0-\u00FF\u20AC]/g, "?");
}

const n = (x: number) => Math.round(x).toLocaleString("en-GB");
const pct = (x: number) => `${(Math.round(x * 1000) / 10).toLocaleString("en-GB")} %`;
const day = (iso: string) => iso.slice(0, 10);
const when = (iso: string) => iso.replace("T", " ").replace(/\.\d+Z$/, " UTC").replace(/Z$/, " UTC");

export function renderComplianceReportPdf(report: ComplianceReport): Promise<Buffer> {
  const doc = new PDFDocument({
    size: "A4",
    margin: MARGIN,
    info: {
      Title: safe(`Compliance report - ${report.organization.name} - ${day(report.period.from)} to ${day(report.period.to)}`),
      Author: "Enclave",
      Subject: "AI Act logging (Art. 12, 19, 26(6)) and GDPR residency",
      CreationDate: new Date(report.generatedAt),
    },
  });
  const chunks: Buffer[] = [];
  doc.on("data", (c: Buffer) => chunks.push(c));
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on("end", () => resolve(Buffer.concat(chunks)));
    doc.on("error", reject);
  });

  const width = doc.page.width - 2 * MARGIN;
  const heading = (title: string) => {
    if (doc.y > doc.page.height - 140) doc.addPage();
    doc.moveDown(0.8).font("Helvetica-Bold").fontSize(13).fillColor(INK).text(safe(title), MARGIN, doc.y, { width });
    doc.moveTo(MARGIN, doc.y + 2).lineTo(MARGIN + width, doc.y + 2).strokeColor("#cbd5e1").stroke();
    doc.moveDown(0.4);
  };
  const line = (label: string, value: string, color = INK) => {
    doc.font("Helvetica-Bold").fontSize(9.5).fillColor(MUTED).text(safe(`${label}: `), MARGIN, doc.y, { continued: true, width });
    doc.font("Helvetica").fillColor(color).text(safe(value));
  };
  const para = (text: string, color = MUTED, size = 9) => doc.font("Helvetica").fontSize(size).fillColor(color).text(safe(text), MARGIN, doc.y, { width });
  const mono = (text: string, size = 8) => doc.font("Courier").fontSize(size).fillColor(INK).text(safe(text), MARGIN, doc.y, { width });
  const bullet = (text: string, color = INK) => doc.font("Helvetica").fontSize(9.5).fillColor(color).text(safe(`-  ${text}`), MARGIN + 8, doc.y, { width: width - 8 });

  // ─── Title ───
  doc.font("Helvetica-Bold").fontSize(20).fillColor(INK).text("Compliance report", MARGIN, MARGIN, { width });
  doc.font("Helvetica-Bold").fontSize(14).text(safe(report.organization.name), { width });
  para(`Organisation ${report.organization.slug} (${report.organization.id})${report.organization.status === "SUSPENDED" ? ", suspended" : ""}`);
  doc.moveDown(0.4);
  line("Period", `${day(report.period.from)} to ${day(report.period.to)} (${when(report.period.from)} - ${when(report.period.to)}, ${report.period.days} days)`);
  line("Usage counted over", `${when(report.period.countedFrom)} - ${when(report.period.countedTo)} (whole UTC hours)`);
  line("Generated", when(report.generatedAt));
  para("AI Act logging obligations (Art. 12, 19, 26(6)) and GDPR data residency. The machine-readable JSON of this report, with the same figures, follows the published schema " + report.schema + ".");

  // ─── Summary ───
  heading("Summary");
  const c = report.compliance;
  line("Deployments", `${c.deployments} live: ${c.compliant} compliant, ${c.nonCompliant} non-compliant`, c.nonCompliant > 0 ? BAD : GOOD);
  const e = report.residency.exposure;
  line(
    "Extraterritorial exposure",
    e.exposedRegions.length === 0 ? "none: no deployment or traffic in a region exposed to non-EU law" : `${e.deploymentsInExposedRegions} deployment(s) and ${n(e.requests)} request(s) (${pct(e.shareOfRequests)} of all) in ${e.exposedRegions.join(", ")}`,
    e.exposedRegions.length ? BAD : GOOD,
  );
  line("Requests", `${n(report.usage.requests)} (${n(report.usage.errors)} errors), ${n(report.usage.tokensIn)} input and ${n(report.usage.tokensOut)} output tokens`);
  const g = report.guardrails.totals;
  line("Guardrail verdicts", `${n(g.checked)} checked: ${n(g.passed)} passed, ${n(g.flagged)} flagged, ${n(g.redacted)} redacted, ${n(g.blocked)} blocked, ${n(g.errors)} errors`);
  const v = report.auditLog.verification;
  line("Audit log", v.ok ? `${n(v.events)} events, hash chain intact (verified ${when(v.checkedAt)})` : `broken at event #${v.brokenAtSeq}: ${v.reason}`, v.ok ? GOOD : BAD);

  // ─── Audit log integrity ───
  heading("Audit log integrity (checkpoint this report was built at)");
  const cp = report.checkpoint;
  if (cp) {
    line("Tree size", `${n(cp.treeSize)} events`);
    line("Signed", when(cp.time));
    line("Origin", cp.origin);
    doc.font("Helvetica-Bold").fontSize(9.5).fillColor(MUTED).text("Root hash:", MARGIN, doc.y);
    mono(cp.rootHash, 8.5);
  } else {
    para("The audit log has no signed checkpoint yet.", BAD, 9.5);
  }
  if (report.lastWitnessed) line("Last witnessed checkpoint", `tree size ${n(report.lastWitnessed.treeSize)}, signed ${when(report.lastWitnessed.time)}`);
  else line("Last witnessed checkpoint", "none (no external witness has countersigned a checkpoint)");
  doc.font("Helvetica-Bold").fontSize(9.5).fillColor(MUTED).text("Installation verifier key:", MARGIN, doc.y);
  mono(report.installation.verifierKey ?? "not configured", 7.5);
  line("Events in the period", `${n(report.auditLog.eventsInPeriod)}`);
  for (const a of report.auditLog.actionsInPeriod.slice(0, 15)) bullet(`${a.action}: ${n(a.count)}`);
  if (report.auditLog.actionsInPeriod.length > 15) para(`and ${report.auditLog.actionsInPeriod.length - 15} more actions (see the JSON report)`);

  // ─── Deployments ───
  heading("Deployments and residency verdicts");
  if (report.deployments.length === 0) para("No live deployment.");
  for (const d of report.deployments) {
    const ok = d.status === "compliant";
    doc.font("Helvetica-Bold").fontSize(10).fillColor(ok ? GOOD : BAD).text(safe(`${d.name}: ${ok ? "compliant" : "NON-COMPLIANT"}`), MARGIN, doc.y, { width });
    para(
      `${d.dataClassification} data in ${d.region.name} (${d.region.code}), operated by ${d.region.provider || "?"}, ${d.region.country || "?"}, under ${d.region.jurisdiction || "?"} law` +
        (d.region.extraterritorialExposure ? `; exposed to extraterritorial law${d.region.exposureNote ? ` (${d.region.exposureNote})` : ""}` : "") +
        (d.region.certifications.length ? `; certifications: ${d.region.certifications.join(", ")}` : "") +
        (d.policy === "none" ? "; no residency policy for this data class" : ""),
    );
    for (const r of d.reasons) bullet(r, ok ? MUTED : BAD);
    doc.moveDown(0.2);
  }

  // ─── Residency ───
  heading("GDPR: where data was processed, under which jurisdiction");
  if (report.residency.processing.length === 0) para("No request in the period.");
  for (const p of report.residency.processing) {
    const r = p.region;
    bullet(
      r
        ? `${r.name} (${r.code}), ${r.country}, ${r.jurisdiction} law${r.extraterritorialExposure ? ", EXPOSED to extraterritorial law" : ""}: ${n(p.requests)} requests, ${n(p.tokensIn + p.tokensOut)} tokens`
        : `No region (refused before routing): ${n(p.requests)} requests`,
      r?.extraterritorialExposure ? BAD : INK,
    );
  }
  doc.moveDown(0.3);
  doc.font("Helvetica-Bold").fontSize(9.5).fillColor(MUTED).text("Residency policies", MARGIN, doc.y);
  if (report.residency.policies.length === 0) para("None: every region is allowed for every data class but RESTRICTED.");
  for (const p of report.residency.policies) {
    bullet(
      `${p.dataClassification}: jurisdictions ${p.allowedJurisdictions.join(", ") || "any"}; certifications ${p.requiredCertifications.join(", ") || "none required"}; ` +
        `${p.allowedRegionIds.length ? `${p.allowedRegionIds.length} allowed region(s); ` : ""}extraterritorial exposure ${p.allowExtraterritorial ? "allowed" : "refused"}`,
    );
  }

  // ─── Guardrails ───
  heading("Guardrail outcomes");
  for (const r of report.guardrails.rules.filter((x) => x.checked > 0)) bullet(`${r.check} (${r.stage}): ${n(r.checked)} checked, ${n(r.passed)} passed, ${n(r.flagged)} flagged, ${n(r.redacted)} redacted, ${n(r.blocked)} blocked, ${n(r.errors)} errors`);
  if (report.guardrails.totals.checked === 0) para("No guardrail verdict in the period.");

  // ─── AI Act ───
  heading("AI Act: logging (Art. 12) and log retention (Art. 19, 26(6))");
  const ai = report.aiAct.article19And26_6;
  line("Requests logged automatically", n(report.aiAct.article12.requestsLogged));
  for (const l of report.aiAct.article12.loggedEvents) bullet(`${l.record}: ${l.content}`);
  doc.moveDown(0.3);
  line("Traces kept", `${ai.traceRetentionDays} days`, ai.traceRetentionDays >= ai.minimumDays ? INK : BAD);
  line("Usage records kept", `${ai.usageRecordRetentionDays} days (hourly and daily roll-ups: indefinitely)`);
  line("Audit log kept", "indefinitely (append-only)");
  line("Minimum (six months)", `${ai.minimumDays} days: ${ai.meetsMinimum ? "met" : "NOT met"}`, ai.meetsMinimum ? GOOD : BAD);
  line("Content capture", `${report.retention.contentCapture.keysCapturingContent} of ${report.retention.contentCapture.activeKeys} active API keys store prompts and completions`);

  // ─── Appendix ───
  if (cp) {
    heading("Appendix: signed checkpoint (C2SP signed note)");
    para("Verify it with the installation's verifier key above (npm run audit:verify on an export, or any C2SP note verifier).");
    doc.moveDown(0.2);
    mono(cp.note, 7.5);
  }

  doc.end();
  return done;
}
