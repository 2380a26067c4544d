import type { Metadata } from "next";
import { oidcConfigured, env } from "@/server/env";
import { SignInForm } from "@/components/auth/sign-in-form";

export const metadata: Metadata = { title: "Sign in" };
export const dynamic = "force-dynamic";

export default async function SignInPage({ searchParams }: { searchParams: Promise<{ callbackUrl?: string; error?: string }> }) {
  const { callbackUrl, error } = await searchParams;
  return <SignInForm callbackUrl={callbackUrl ?? "/"} initialError={error ?? null} oidcName={oidcConfigured() ? env().OIDC_DISPLAY_NAME : null} />;
}
