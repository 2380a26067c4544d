import { z } from "zod";
import { changeMemberRole, inviteMember, listMembers, removeMember, revokeInvitation } from "../../services/members";
import { organizationOverview, renameOrganization } from "../../services/organizations";
import { userActor } from "../context";
import { email, id, organizationName, orgRole } from "../schemas";
import { orgProcedure, router } from "../trpc";

export const organizationRouter = router({
  overview: orgProcedure.query(async ({ ctx }) => ({ org: ctx.org, role: ctx.role, ...(await organizationOverview(ctx.org.id)) })),

  rename: orgProcedure
    .requires("ADMIN")
    .input(z.object({ name: organizationName }))
    .mutation(({ ctx, input }) => renameOrganization(ctx.org.id, userActor(ctx, ctx.user), input)),

  members: orgProcedure.query(({ ctx }) => listMembers(ctx.org.id)),

  invite: orgProcedure
    .requires("ADMIN")
    .input(z.object({ email, role: orgRole }))
    .mutation(({ ctx, input }) => inviteMember(ctx.org.id, userActor(ctx, ctx.user), ctx.role, input)),

  revokeInvitation: orgProcedure
    .requires("ADMIN")
    .input(z.object({ invitationId: id("invitationId") }))
    .mutation(({ ctx, input }) => revokeInvitation(ctx.org.id, userActor(ctx, ctx.user), input)),

  changeRole: orgProcedure
    .requires("ADMIN")
    .input(z.object({ membershipId: id("membershipId"), role: orgRole }))
    .mutation(({ ctx, input }) => changeMemberRole(ctx.org.id, userActor(ctx, ctx.user), ctx.role, input)),

  // Any member may call it to leave; removing someone else needs Admin (checked by the service).
  removeMember: orgProcedure
    .input(z.object({ membershipId: id("membershipId") }))
    .mutation(({ ctx, input }) => removeMember(ctx.org.id, { ...userActor(ctx, ctx.user), id: ctx.user.id }, ctx.role, input)),
});
