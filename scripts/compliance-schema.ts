/**
 * Writes the published JSON Schema of the compliance report, docs/schemas/compliance-report.schema.json,
 * from its zod definition (server/services/compliance-report-schema.ts). A test fails when the
 * committed file differs from what this writes: run it after changing the report's shape.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { complianceReportJsonSchema } from "../server/services/compliance-report-schema";

const file = path.resolve(import.meta.dirname, "..", "docs", "schemas", "compliance-report.schema.json");
writeFileSync(file, `${JSON.stringify(complianceReportJsonSchema(), null, 2)}\n`);
console.log(`wrote ${path.relative(process.cwd(), file)}`);
