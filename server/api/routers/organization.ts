import { z } from "zod";
import { changeMemberRole, inviteMember, listMembers, removeMember, revokeInvitation } from "../../services/members";
import { onboardingProgress, organizationOverview, renameOrganization } from "../../services/organizations";
import { onboardingOutput } from "../outputs/onboarding";
import { email, id, organizationName, orgRole } from "../schemas";
import { orgProcedure, router } from "../trpc";
import { pageInput, pageOf } from "../outputs/common";
import { invitationCreated, invitationRevoked, membersOutput, membershipChanged, membershipRemoved, overviewOutput, renamedOutput } from "../outputs/organization";

const tags = ["Organisation"];

export const organizationRouter = router({
  overview: orgProcedure
    .meta({ openapi: { method: "GET", path: "/orgs/{orgId}", tags, summary: "Read the organisation", description: "Its name, status, the caller's role, and counts for the last 30 days (requests, tokens, spend including GPU time)." } })
    .output(overviewOutput)
    .query(async ({ ctx }) => ({ org: ctx.org, role: ctx.role, ...(await organizationOverview(ctx.org.id)) })),

  onboarding: orgProcedure
    .meta({ openapi: { method: "GET", path: "/orgs/{orgId}/onboarding", tags, summary: "Read the first-steps checklist", description: "Deploy, create an API key, call it, see it in usage: each step computed from the organisation's data." } })
    .output(onboardingOutput)
    .query(({ ctx }) => onboardingProgress(ctx.org.id)),

  rename: orgProcedure
    .requires("ADMIN")
    .meta({ openapi: { method: "PATCH", path: "/orgs/{orgId}", tags, summary: "Rename the organisation" } })
    .input(z.object({ name: organizationName }))
    .output(renamedOutput)
    .mutation(({ ctx, input }) => renameOrganization(ctx.org.id, ctx.actor, input)),

  members: orgProcedure
    .meta({ openapi: { method: "GET", path: "/orgs/{orgId}/members", tags, summary: "List members and pending invitations" } })
    .input(pageInput)
    .output(membersOutput)
    .query(async ({ ctx, input }) => {
      const { members, invitations } = await listMembers(ctx.org.id);
      return { ...pageOf(members, input), invitations };
    }),

  invite: orgProcedure
    .requires("ADMIN")
    .meta({ openapi: { method: "POST", path: "/orgs/{orgId}/invitations", tags, summary: "Invite someone", description: "Answers the invitation's link (shown once); the invitee accepts through it." } })
    .output(invitationCreated)
    .input(z.object({ email, role: orgRole }))
    .mutation(({ ctx, input }) => inviteMember(ctx.org.id, ctx.actor, ctx.role, input)),

  revokeInvitation: orgProcedure
    .requires("ADMIN")
    .meta({ openapi: { method: "DELETE", path: "/orgs/{orgId}/invitations/{invitationId}", tags, summary: "Revoke an invitation" } })
    .input(z.object({ invitationId: id("invitationId") }))
    .output(invitationRevoked)
    .mutation(async ({ ctx, input }) => {
      await revokeInvitation(ctx.org.id, ctx.actor, input);
      return { id: input.invitationId, status: "REVOKED" as const };
    }),

  changeRole: orgProcedure
    .requires("ADMIN")
    .meta({ openapi: { method: "PATCH", path: "/orgs/{orgId}/members/{membershipId}", tags, summary: "Change a member's role", description: "Only an owner can make someone an owner; the last owner stays." } })
    .input(z.object({ membershipId: id("membershipId"), role: orgRole }))
    .output(membershipChanged)
    .mutation(({ ctx, input }) => changeMemberRole(ctx.org.id, ctx.actor, ctx.role, input)),

  // Any member may call it to leave; removing someone else needs Admin (checked by the service).
  removeMember: orgProcedure
    .meta({ openapi: { method: "DELETE", path: "/orgs/{orgId}/members/{membershipId}", tags, summary: "Remove a member, or leave", description: "Anyone may leave; removing someone else needs Admin. The last owner cannot leave." } })
    .input(z.object({ membershipId: id("membershipId") }))
    .output(membershipRemoved)
    .mutation(async ({ ctx, input }) => {
      await removeMember(ctx.org.id, ctx.actor, ctx.role, input);
      return { id: input.membershipId, removed: true as const };
    }),
});
