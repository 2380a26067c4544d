import type { OrgRole as DatabaseOrgRole } from "./generated/prisma/enums";
import type { OrgRole } from "../lib/roles";

// The ladder lives in lib/, shared with the console. This fails to compile if the database's enum names other roles.
const rolesMatchDatabase: [OrgRole] extends [DatabaseOrgRole] ? ([DatabaseOrgRole] extends [OrgRole] ? true : never) : never = true;
void rolesMatchDatabase;

export { ORG_ROLES, ROLE_LABELS, roleAtLeast, type OrgRole } from "../lib/roles";
