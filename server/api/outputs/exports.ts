/** Output schemas of the export procedures (routers/exports.ts; docs/export-format.md). */
import { z } from "zod";
import { dateTime } from "./common";

export const exportOutput = z.object({
  id: z.string(),
  sha256: z.string().meta({ description: "SHA-256 of the archive file (hex); the manifest inside lists every file's own" }),
  bytes: z.number().int().meta({ description: "Size of the archive file" }),
  createdAt: dateTime,
  createdBy: z.string().meta({ description: "Who asked for it (a person's email or a key's name and prefix)" }),
  fileName: z.string(),
  downloadPath: z.string().meta({ description: "GET it (same credentials) to download the archive: /api/v1/orgs/{orgId}/exports/{id}/download" }),
});

export const exportsList = z.object({ items: z.array(exportOutput) });
