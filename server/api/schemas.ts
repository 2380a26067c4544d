import { z } from "zod";
import { ORG_ROLES } from "../roles";

export const id = (what: string) => z.string().min(1, `${what} is required`).max(64, `${what} is too long`);
export const email = z.string().trim().min(1, "Email is required").max(254).email("Enter a valid email address");
export const password = z.string().min(12, "Use at least 12 characters").max(200, "Use at most 200 characters");
export const personName = z.string().trim().min(1, "Name is required").max(100, "Use at most 100 characters");
export const organizationName = z.string().trim().min(2, "Use at least 2 characters").max(80, "Use at most 80 characters");
export const orgRole = z.enum(ORG_ROLES, { message: "Role must be one of Owner, Admin, Member, Viewer" });
