import { existsSync, readFileSync, writeFileSync } from "node:fs";

/**
 * Replaces (or appends) one benchmark's section of docs/benchmarks.md, between its own start and
 * end markers, so that each `npm run bench…` rewrites its figures and leaves the others' alone.
 */
export function writeBenchmarkSection(file: string, markers: { start: string; end: string }, section: string) {
  const block = `${markers.start}\n${section.trim()}\n${markers.end}`;
  let text = existsSync(file) ? readFileSync(file, "utf8") : "# Benchmarks\n";
  const a = text.indexOf(markers.start);
  const b = text.indexOf(markers.end);
  if (a !== -1 && b > a) text = text.slice(0, a) + block + text.slice(b + markers.end.length);
  else text = `${text.trimEnd()}\n\n${block}\n`;
  writeFileSync(file, text.endsWith("\n") ? text : `${text}\n`);
}
