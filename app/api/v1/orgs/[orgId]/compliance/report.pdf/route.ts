import { handleComplianceReportPdf } from "@/server/services/compliance-report-http";

export const dynamic = "force-dynamic";

// The compliance report as a PDF (docs/compliance.md); the same access as GET …/compliance/report.
export async function GET(req: Request, { params }: { params: Promise<{ orgId: string }> }) {
  return handleComplianceReportPdf(req, (await params).orgId);
}
