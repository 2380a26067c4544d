/**
 * The organisation role ladder and its labels: the vocabulary the console shows and the server
 * enforces. Imports nothing of the project (see ARCHITECTURE.md, "Layout").
 */

/** Lowest to highest: each role can do everything the roles below it can. */
export const ORG_ROLES = ["VIEWER", "MEMBER", "ADMIN", "OWNER"] as const;
export type OrgRole = (typeof ORG_ROLES)[number];

export function roleAtLeast(role: OrgRole, required: OrgRole): boolean {
  return ORG_ROLES.indexOf(role) >= ORG_ROLES.indexOf(required);
}

export const ROLE_LABELS: Record<OrgRole, string> = {
  OWNER: "Owner",
  ADMIN: "Admin",
  MEMBER: "Member",
  VIEWER: "Viewer",
};
