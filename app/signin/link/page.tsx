import type { Metadata } from "next";
import { SignInLinkForm } from "@/components/auth/sign-in-link-form";
import { env, oidcConfigured } from "@/server/env";

export const metadata: Metadata = { title: "One-time sign-in", referrer: "no-referrer" };
export const dynamic = "force-dynamic";

/** Opened from the link `npm run admin:create` prints; the token is in the fragment, which browsers never send to a server. */
export default function SignInLinkPage() {
  return <SignInLinkForm oidcName={oidcConfigured() ? env().OIDC_DISPLAY_NAME : null} />;
}
