/**
 * `npm test`: a type check of the whole project (tests and the generated API client included), unit and integration tests (Vitest, against a real embedded PostgreSQL), then the
 * end-to-end journeys (Playwright in Debian's Chromium against a production build). Exits non-zero
 * if anything fails.
 */
import { BIN, run } from "./lib/processes";

const suites: [string, string, string[]][] = [
  ["typecheck (tsc)", BIN("tsc"), ["--noEmit"]],
  ["unit and integration (Vitest)", BIN("vitest"), ["run"]],
  ["end-to-end (Playwright)", BIN("playwright"), ["test"]],
];

let failed = 0;
for (const [name, command, args] of suites) {
  console.log(`\n=== ${name} ===`);
  try {
    await run(command, args, { env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1" } });
  } catch {
    failed++;
    console.error(`=== ${name}: FAILED ===`);
  }
}
console.log(failed ? `\n${failed} of ${suites.length} suites failed` : `\nall ${suites.length} suites passed`);
process.exit(failed ? 1 : 0);
