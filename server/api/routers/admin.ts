import { z } from "zod";
import { listOrganizationsForAdmins, listQuotaRequestsForAdmins, listRegionsForAdmins } from "../../services/capacity";
import { listCatalogModels } from "../../services/catalog";
import { auditTrail, verifyTrail } from "../../services/compliance";
import { id } from "../schemas";
import { adminProcedure, router } from "../trpc";

export const adminRouter = router({
  regions: adminProcedure.query(() => listRegionsForAdmins()),
  catalog: adminProcedure.query(() => listCatalogModels({ includeDeprecated: true })),
  quotaRequests: adminProcedure.query(() => listQuotaRequestsForAdmins()),
  organizations: adminProcedure.query(() => listOrganizationsForAdmins()),
  platformAuditTrail: adminProcedure
    .input(z.object({ cursor: id("cursor").optional(), limit: z.number().int().min(1).max(100).default(25) }))
    .query(({ input }) => auditTrail({ orgId: null }, input)),
  verifyPlatformAuditTrail: adminProcedure.query(() => verifyTrail(null)),
});
