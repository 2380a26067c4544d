import { createExport, listExports } from "../../services/exports";
import { exportOutput, exportsList } from "../outputs/exports";
import { orgProcedure, router } from "../trpc";

// docs/export-format.md. Owners and admins (and `manage` keys) export; the archive holds members' emails and the audit log.
const tags = ["Exports"];
const downloadPath = (orgId: string, id: string) => `/api/v1/orgs/${orgId}/exports/${id}/download`;

export const exportsRouter = router({
  create: orgProcedure
    .requires("ADMIN")
    // A suspended organisation can still leave with its data (docs/export-format.md).
    .meta({
      whileSuspended: true,
      openapi: {
        method: "POST",
        path: "/orgs/{orgId}/exports",
        tags,
        summary: "Export everything",
        description:
          "Writes one signed archive of the organisation (configuration, members, policies, deployments, API-key metadata — never secrets —, usage as FOCUS CSV, traces as OTLP JSON, the audit log with checkpoints and proofs) into the installation's storage. Its format: docs/export-format.md. Verify it offline with `npm run audit:verify`.",
      },
    })
    .output(exportOutput)
    .mutation(async ({ ctx }) => {
      const e = await createExport(ctx.org.id, ctx.actor);
      return { ...e, downloadPath: downloadPath(ctx.org.id, e.id) };
    }),

  list: orgProcedure
    .requires("ADMIN")
    .meta({ openapi: { method: "GET", path: "/orgs/{orgId}/exports", tags, summary: "List the exports", description: "The organisation's export archives, newest first (at most 100)." } })
    .output(exportsList)
    .query(async ({ ctx }) => ({ items: (await listExports(ctx.org.id)).map((e) => ({ ...e, downloadPath: downloadPath(ctx.org.id, e.id) })) })),
});
