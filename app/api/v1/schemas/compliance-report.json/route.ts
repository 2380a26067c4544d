import { complianceReportSchemaResponse } from "@/server/services/compliance-report-http";

export const dynamic = "force-static";

// The published JSON Schema (2020-12) of the compliance report; also docs/schemas/compliance-report.schema.json.
export function GET() {
  return complianceReportSchemaResponse();
}
