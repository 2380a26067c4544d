"use client";
import { createContext, useContext } from "react";
import type { RouterOutputs } from "../trpc";

export type Membership = RouterOutputs["account"]["me"]["memberships"][number];
export type CurrentOrg = Membership["org"] & { role: Membership["role"] };

const OrgContext = createContext<CurrentOrg | null>(null);
export const OrgProvider = OrgContext.Provider;

/** The organisation of the page being shown (from the URL's slug), with the viewer's role in it. */
export function useCurrentOrg(): CurrentOrg {
  const org = useContext(OrgContext);
  if (!org) throw new Error("useCurrentOrg must be used inside an organisation page");
  return org;
}
