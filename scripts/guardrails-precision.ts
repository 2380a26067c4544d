/**
 * Measures the guardrails' detectors on the labelled sets in tests/fixtures/guardrails/ and writes
 * the figures into docs/guardrails.md between markers. `npm run guardrails:precision`.
 * One exported function per measurement; `main` runs them and writes their tables.
 */

import { readFileSync, writeFileSync } from "node:fs";
import { detectPii } from "../server/guardrails/pii";
import { checkGroundedness, type GroundingSource } from "../server/guardrails/grounded";
import type { PiiType } from "../server/guardrails/types";

const root = new URL("../", import.meta.url);
const DOC = new URL("docs/guardrails.md", root);

export interface PiiSample {
  id: string;
  language: string;
  text: string;
  expected: { type: PiiType; text: string }[];
}

export interface PiiTypeScore {
  type: PiiType;
  expected: number;
  found: number;
  truePositives: number;
  precision: number; // 1 when nothing was found
  recall: number; // 1 when nothing was expected
}

export interface PiiPrecisionReport {
  samples: number;
  perType: PiiTypeScore[];
  overall: Omit<PiiTypeScore, "type">;
  /** Sample ids and the (type, start, end) of each miss or false alarm, never the text. */
  errors: { id: string; kind: "missed" | "false positive"; type: PiiType; start: number; end: number }[];
}

export function loadPiiSamples(): PiiSample[] {
  const raw = JSON.parse(readFileSync(new URL("tests/fixtures/guardrails/pii-samples.json", root), "utf8")) as { samples: PiiSample[] };
  return raw.samples;
}

/** The expected findings of a sample as offsets: each listed text located in order of appearance. */
export function expectedSpans(sample: PiiSample): { type: PiiType; start: number; end: number }[] {
  let from = 0;
  return sample.expected.map((e) => {
    const start = sample.text.indexOf(e.text, from);
    if (start < 0) throw new Error(`sample ${sample.id}: an expected ${e.type} is not in its text`);
    from = start + e.text.length;
    return { type: e.type, start, end: start + e.text.length };
  });
}

/** Precision and recall per type: a finding counts only with the exact type, start and end expected. */
export function measurePiiPrecision(samples: PiiSample[] = loadPiiSamples()): PiiPrecisionReport {
  const tally = new Map<PiiType, { expected: number; found: number; truePositives: number }>();
  const bump = (type: PiiType) => tally.get(type) ?? tally.set(type, { expected: 0, found: 0, truePositives: 0 }).get(type)!;
  const errors: PiiPrecisionReport["errors"] = [];
  for (const sample of samples) {
    const expected = expectedSpans(sample);
    const found = detectPii(sample.text);
    const key = (f: { type: PiiType; start: number; end: number }) => `${f.type}:${f.start}:${f.end}`;
    const expectedKeys = new Set(expected.map(key));
    const foundKeys = new Set(found.map(key));
    for (const e of expected) {
      bump(e.type).expected++;
      if (foundKeys.has(key(e))) bump(e.type).truePositives++;
      else errors.push({ id: sample.id, kind: "missed", type: e.type, start: e.start, end: e.end });
    }
    for (const f of found) {
      bump(f.type).found++;
      if (!expectedKeys.has(key(f))) errors.push({ id: sample.id, kind: "false positive", type: f.type, start: f.start, end: f.end });
    }
  }
  const score = (t: { expected: number; found: number; truePositives: number }) => ({
    ...t,
    precision: t.found ? t.truePositives / t.found : 1,
    recall: t.expected ? t.truePositives / t.expected : 1,
  });
  const perType = [...tally].map(([type, t]) => ({ type, ...score(t) })).sort((a, b) => a.type.localeCompare(b.type));
  const sum = (k: "expected" | "found" | "truePositives") => perType.reduce((s, t) => s + t[k], 0);
  return {
    samples: samples.length,
    perType,
    overall: score({ expected: sum("expected"), found: sum("found"), truePositives: sum("truePositives") }),
    errors,
  };
}

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;

export function piiPrecisionTable(report: PiiPrecisionReport): string {
  const rows = report.perType.map((t) => `| ${t.type} | ${t.expected} | ${t.found} | ${pct(t.precision)} | ${pct(t.recall)} |`);
  const o = report.overall;
  return [
    `Measured on ${report.samples} labelled samples (tests/fixtures/guardrails/pii-samples.json); a finding counts only with its exact type and span.`,
    "",
    "| Type | Expected | Found | Precision | Recall |",
    "| --- | ---: | ---: | ---: | ---: |",
    ...rows,
    `| **All** | ${o.expected} | ${o.found} | ${pct(o.precision)} | ${pct(o.recall)} |`,
  ].join("\n");
}

/** Replaces what lies between `<!-- name:start -->` and `<!-- name:end -->` in docs/guardrails.md. */
export function writeBetweenMarkers(name: string, content: string): void {
  const doc = readFileSync(DOC, "utf8");
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const i = doc.indexOf(start);
  const j = doc.indexOf(end);
  if (i < 0 || j < i) throw new Error(`docs/guardrails.md has no ${start} … ${end} markers`);
  writeFileSync(DOC, `${doc.slice(0, i + start.length)}\n${content}\n${doc.slice(j)}`);
}

// ─── Groundedness (tests/fixtures/guardrails/grounded-samples.json) ─────────

export interface GroundedSample {
  id: string;
  language: string;
  sources: string;
  answer: string;
  grounded: boolean;
  note?: string;
}

export function loadGroundedSamples(): { sourceSets: Record<string, GroundingSource[]>; samples: GroundedSample[] } {
  return JSON.parse(readFileSync(new URL("tests/fixtures/guardrails/grounded-samples.json", root), "utf8")) as {
    sourceSets: Record<string, GroundingSource[]>;
    samples: GroundedSample[];
  };
}

export interface GroundedScore {
  samples: number;
  ungrounded: number;
  flagged: number;
  truePositives: number;
  precision: number; // of the answers flagged, the share really ungrounded (1 when none flagged)
  recall: number; // of the ungrounded answers, the share flagged (1 when none)
}

export interface GroundedPrecisionReport {
  samples: number;
  /** Flagged = at least one unsupported claim. */
  anyClaim: { language: string; score: GroundedScore }[];
  /** Flagged = score under the default threshold (0.7). */
  threshold: { language: string; score: GroundedScore }[];
  /** Sample ids of each miss or false alarm (any-claim rule). */
  errors: { id: string; kind: "missed" | "false positive"; note?: string }[];
}

export function measureGroundedness(fixture = loadGroundedSamples(), threshold = 0.7): GroundedPrecisionReport {
  const verdicts = fixture.samples.map((s) => ({ s, r: checkGroundedness(s.answer, fixture.sourceSets[s.sources]) }));
  const score = (rows: typeof verdicts, flaggedOf: (r: (typeof verdicts)[number]["r"]) => boolean): GroundedScore => {
    const ungrounded = rows.filter((v) => !v.s.grounded).length;
    const flagged = rows.filter((v) => flaggedOf(v.r)).length;
    const truePositives = rows.filter((v) => flaggedOf(v.r) && !v.s.grounded).length;
    return { samples: rows.length, ungrounded, flagged, truePositives, precision: flagged ? truePositives / flagged : 1, recall: ungrounded ? truePositives / ungrounded : 1 };
  };
  const languages = [...new Set(fixture.samples.map((s) => s.language))].sort();
  const per = (flaggedOf: (r: (typeof verdicts)[number]["r"]) => boolean) => [
    ...languages.map((language) => ({ language, score: score(verdicts.filter((v) => v.s.language === language), flaggedOf) })),
    { language: "all", score: score(verdicts, flaggedOf) },
  ];
  const anyClaim = (r: (typeof verdicts)[number]["r"]) => r.unsupported.length > 0;
  const errors: GroundedPrecisionReport["errors"] = [];
  for (const { s, r } of verdicts) {
    if (anyClaim(r) && s.grounded) errors.push({ id: s.id, kind: "false positive", note: s.note });
    if (!anyClaim(r) && !s.grounded) errors.push({ id: s.id, kind: "missed", note: s.note });
  }
  return { samples: fixture.samples.length, anyClaim: per(anyClaim), threshold: per((r) => r.score < threshold), errors };
}

export function groundedPrecisionTable(report: GroundedPrecisionReport): string {
  const rows = (list: GroundedPrecisionReport["anyClaim"], rule: string) =>
    list.map(({ language, score: t }) => `| ${rule} | ${language === "all" ? "**all**" : language} | ${t.samples} | ${t.ungrounded} | ${t.flagged} | ${pct(t.precision)} | ${pct(t.recall)} |`);
  const missed = report.errors.filter((e) => e.kind === "missed");
  return [
    `Measured on ${report.samples} labelled answers (tests/fixtures/guardrails/grounded-samples.json); an answer is flagged by the built-in check alone, with no judge.`,
    "",
    "| Flagged when | Language | Answers | Ungrounded | Flagged | Precision | Recall |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ...rows(report.anyClaim, "any unsupported claim"),
    ...rows(report.threshold, "score < 0.7"),
    "",
    `Missed (any-claim rule): ${missed.length ? missed.map((e) => `${e.id}${e.note ? ` (${e.note})` : ""}`).join("; ") : "none"}. ` +
      `False alarms: ${report.errors.filter((e) => e.kind === "false positive").map((e) => e.id).join(", ") || "none"}.`,
  ].join("\n");
}

function main() {
  const pii = measurePiiPrecision();
  writeBetweenMarkers("pii-precision", piiPrecisionTable(pii));
  console.log(piiPrecisionTable(pii));
  for (const e of pii.errors) console.log(`${e.kind}: ${e.type} in ${e.id} at ${e.start}–${e.end}`);
  const grounded = measureGroundedness();
  writeBetweenMarkers("grounded-precision", groundedPrecisionTable(grounded));
  console.log(groundedPrecisionTable(grounded));
}

if (import.meta.url === `file://${process.argv[1]}`) main();
