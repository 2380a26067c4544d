import type { OrgRole } from "./generated/prisma/enums";

// The role ladder: each role can do everything the roles below it can.
export const ORG_ROLES = ["VIEWER", "MEMBER", "ADMIN", "OWNER"] as const satisfies readonly OrgRole[];

export function roleAtLeast(role: OrgRole, required: OrgRole): boolean {
  return ORG_ROLES.indexOf(role) >= ORG_ROLES.indexOf(required);
}

export const ROLE_LABELS: Record<OrgRole, string> = {
  OWNER: "Owner",
  ADMIN: "Admin",
  MEMBER: "Member",
  VIEWER: "Viewer",
};
