"use client";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { signIn } from "next-auth/react";
import { useState, type FormEvent } from "react";
import { Button } from "../ui/button";
import { Field, Input } from "../ui/form";
import { AuthCard } from "./auth-card";

const NEXTAUTH_ERRORS: Record<string, string> = {
  CredentialsSignin: "Wrong email or password",
  OAuthSignin: "Could not reach the identity provider",
  OAuthCallback: "The identity provider's answer could not be verified",
  AccessDenied: "Access denied",
  OidcNoEmail: "Your identity provider did not share an email address",
  OidcEmailNotVerified:
    "An account with this email already exists, and your identity provider does not confirm that the address is verified, so it cannot be linked. Sign in with your password, or ask your provider to verify your email address.",
  OidcAlreadyLinked: "This account is already linked to another identity at your provider. Ask a platform administrator.",
};

// Only known codes from the address bar are shown: a crafted link cannot put its own text on this page.
const fromUrl = (code: string | null) => (code ? (NEXTAUTH_ERRORS[code] ?? "Sign-in failed. Try again.") : null);

export function SignInForm({ callbackUrl, initialError, oidcName }: { callbackUrl: string; initialError: string | null; oidcName: string | null }) {
  const router = useRouter();
  const [error, setError] = useState<string | null>(fromUrl(initialError));
  const [pending, setPending] = useState(false);

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setPending(true);
    setError(null);
    const result = await signIn("credentials", { email: String(form.get("email")), password: String(form.get("password")), redirect: false });
    if (!result || result.error) {
      setPending(false);
      setError(result?.error ? (NEXTAUTH_ERRORS[result.error] ?? result.error) : "Sign-in failed");
      return;
    }
    // Same-site paths only ("//host" and "/\\host" would leave the site).
    router.push(/^\/(?![/\\])/.test(callbackUrl) ? callbackUrl : "/");
    router.refresh();
  }

  return (
    <AuthCard
      title="Sign in"
      subtitle="Your sovereign AI platform console."
      footer={
        <>
          New here? <Link href="/signup" className="font-medium text-brand-700 underline">Create an organisation</Link>
        </>
      }
    >
      <form onSubmit={onSubmit} className="space-y-4" noValidate>
        {error && (
          <p role="alert" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-800">
            {error}
          </p>
        )}
        <Field label="Email" name="email">
          <Input name="email" type="email" autoComplete="email" required autoFocus />
        </Field>
        <Field label="Password" name="password">
          <Input name="password" type="password" autoComplete="current-password" required />
        </Field>
        <Button type="submit" className="w-full" loading={pending}>
          Sign in
        </Button>
      </form>
      {oidcName && (
        <div className="mt-4 border-t border-slate-200 pt-4">
          <Button variant="secondary" className="w-full" onClick={() => signIn("oidc", { callbackUrl })}>
            Continue with {oidcName}
          </Button>
        </div>
      )}
    </AuthCard>
  );
}
