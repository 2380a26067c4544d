/**
 * The two HTTP entry points that are files, not JSON (app/api/v1/…): downloading an export and
 * uploading an archive to import. Both build the same Context as REST and check access with the
 * same functions as the procedures (server/api/access.ts): an export is downloaded by the owners
 * and admins (and `manage` keys) of its organisation, an archive is imported by platform admins.
 */
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rm, stat } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { randomUUID } from "node:crypto";
import { TRPCError } from "@trpc/server";
import { requireOrgAccess, requirePlatformAdmin, requireUser } from "../api/access";
import { userActor } from "../api/context";
import { contextFromRequest, nextAuthSession, RequestRefused, requestIdFrom } from "../api/http-context";
import { DomainError } from "../errors";
import { logger } from "../logger";
import { restError, restErrorFromTrpc } from "../rest/errors";
import { exportFile, exportsDirectory } from "../services/exports";
import { importOrganization, ImportRefused } from "./import";

const STATUS: Record<string, number> = { BAD_REQUEST: 400, UNAUTHORIZED: 401, FORBIDDEN: 403, NOT_FOUND: 404, CONFLICT: 409, PRECONDITION_FAILED: 412 };

function refusal(error: unknown, requestId: string): Response {
  if (error instanceof RequestRefused) return restError(error.status, error.code, error.message, requestId);
  if (error instanceof TRPCError) return restErrorFromTrpc(error, requestId);
  if (error instanceof ImportRefused) return restError(STATUS[error.code] ?? 400, "import_refused", error.message, requestId, error.field ?? null);
  if (error instanceof DomainError) return restError(STATUS[error.code] ?? 400, error.code.toLowerCase(), error.message, requestId, error.field ?? null);
  logger.error("export/import request failed", { requestId, error: error instanceof Error ? error.message : String(error) });
  return restError(500, "internal_error", `Something went wrong on our side. Reference: ${requestId}`, requestId);
}

/** GET /api/v1/orgs/{orgId}/exports/{exportId}/download: the archive, streamed. */
export async function downloadExport(req: Request, params: { orgId: string; exportId: string }): Promise<Response> {
  const requestId = requestIdFrom(req);
  try {
    const ctx = await contextFromRequest(req, requestId, nextAuthSession);
    const access = await requireOrgAccess(ctx, "ADMIN", params.orgId, "query");
    const file = await exportFile(access.org.id, params.exportId);
    const size = (await stat(file.path).catch(() => null))?.size;
    if (size === undefined) return restError(410, "export_gone", "The archive file of this export is no longer in the installation's storage", requestId);
    return new Response(Readable.toWeb(createReadStream(file.path)) as ReadableStream, {
      headers: {
        "content-type": "application/gzip",
        "content-length": String(size),
        "content-disposition": `attachment; filename="${file.fileName}"`,
        "x-archive-sha256": file.sha256,
        "x-request-id": requestId,
        "cache-control": "no-store",
      },
    });
  } catch (error) {
    return refusal(error, requestId);
  }
}

const IMPORT_MAX_BYTES = () => Number(process.env.IMPORT_MAX_BYTES) > 0 ? Number(process.env.IMPORT_MAX_BYTES) : 4 * 1024 ** 3;

/**
 * POST /api/v1/admin/imports?slug=…&key=…: the archive as the body (application/gzip). Platform
 * admins only, with their session. Answers the import's result — the invitation links and the
 * re-issued keys, shown this once.
 */
export async function uploadImport(req: Request): Promise<Response> {
  const requestId = requestIdFrom(req);
  const dir = path.join(exportsDirectory(), ".imports");
  const file = path.join(dir, `${randomUUID()}.tar.gz`);
  try {
    const ctx = await contextFromRequest(req, requestId, nextAuthSession);
    if (ctx.apiKey) return restError(403, "person_only", "API keys act for their organisation; importing one needs a platform administrator's session", requestId);
    const user = await requireUser(ctx);
    requirePlatformAdmin(user);
    if (!req.body) return restError(400, "invalid_request", "Send the archive (.tar.gz) as the request body", requestId);
    const url = new URL(req.url);
    const slug = url.searchParams.get("slug")?.trim() || undefined;
    const key = url.searchParams.get("key")?.trim() || null;
    await mkdir(dir, { recursive: true });
    let bytes = 0;
    const limit = IMPORT_MAX_BYTES();
    const counted = Readable.fromWeb(req.body as import("node:stream/web").ReadableStream).on("data", (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > limit) counted.destroy(new DomainError("BAD_REQUEST", `The archive is larger than ${limit} bytes (IMPORT_MAX_BYTES)`));
    });
    await pipeline(counted, createWriteStream(file));
    const result = await importOrganization(file, userActor(ctx, user), { slug, trustedKey: key });
    return Response.json(result, { headers: { "x-request-id": requestId, "cache-control": "no-store" } });
  } catch (error) {
    return refusal(error, requestId);
  } finally {
    await rm(file, { force: true });
  }
}
