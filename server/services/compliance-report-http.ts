/**
 * The compliance report's downloads that are not JSON API operations: the PDF
 * (GET /api/v1/orgs/{orgId}/compliance/report.pdf?from=&to=) and the published JSON Schema
 * (GET /api/v1/schemas/compliance-report.json). The PDF is scoped by calling the very
 * `compliance.report` procedure (orgProcedure.requires("ADMIN"), server/api/access.ts) with the
 * request's own context: there is no second scoping mechanism, and errors have the REST shape.
 */
import { TRPCError } from "@trpc/server";
import { contextFromRequest, nextAuthSession, RequestRefused, requestIdFrom, type SessionResolver } from "../api/http-context";
import { createCaller } from "../api/root";
import { logger } from "../logger";
import { restError, restErrorFromTrpc } from "../rest/errors";
import { reportFileName } from "./compliance-report";
import { renderComplianceReportPdf } from "./compliance-report-pdf";
import { complianceReportJsonSchema } from "./compliance-report-schema";

export async function handleComplianceReportPdf(req: Request, orgId: string, options: { resolveSession?: SessionResolver } = {}): Promise<Response> {
  const requestId = requestIdFrom(req);
  try {
    const ctx = await contextFromRequest(req, requestId, options.resolveSession ?? nextAuthSession);
    const url = new URL(req.url);
    const report = await createCaller(ctx).compliance.report({ orgId, from: url.searchParams.get("from") ?? undefined, to: url.searchParams.get("to") ?? undefined } as { orgId: string; from: string; to: string });
    const pdf = await renderComplianceReportPdf(report);
    return new Response(new Uint8Array(pdf), {
      status: 200,
      headers: {
        "content-type": "application/pdf",
        "content-disposition": `attachment; filename="${reportFileName(report, "pdf")}"`,
        "content-length": String(pdf.length),
        "cache-control": "no-store",
        "x-request-id": requestId,
      },
    });
  } catch (error) {
    if (error instanceof RequestRefused) return restError(error.status, error.code, error.message, requestId);
    if (error instanceof TRPCError) return restErrorFromTrpc(error, requestId);
    logger.error("compliance report PDF failed", { requestId, error });
    return restError(500, "internal_error", `Something went wrong on our side. Reference: ${requestId}`, requestId);
  }
}

export function complianceReportSchemaResponse(): Response {
  return new Response(JSON.stringify(complianceReportJsonSchema(), null, 2), {
    headers: { "content-type": "application/schema+json", "cache-control": "public, max-age=3600" },
  });
}
