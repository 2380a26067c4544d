"use client";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { signIn } from "next-auth/react";
import { useEffect, useState, type FormEvent } from "react";
import { Button } from "../ui/button";
import { Field, Input } from "../ui/form";
import { AuthCard } from "./auth-card";

/**
 * One-time sign-in (`/signin/link#token=sil_…`): the person sets their password and is signed in;
 * the link then stops working. With single sign-on configured, they may skip the password.
 */
export function SignInLinkForm({ oidcName }: { oidcName: string | null }) {
  const router = useRouter();
  const [token, setToken] = useState<string | null | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);

  useEffect(() => {
    const fromHash = new URLSearchParams(window.location.hash.slice(1)).get("token");
    setToken(fromHash);
    // Keep the token out of the address bar and the history once read.
    if (fromHash) window.history.replaceState(null, "", window.location.pathname);
  }, []);

  async function submit(password: string | null) {
    if (!token) return;
    setPending(true);
    setError(null);
    const result = await signIn("sign-in-link", { token, ...(password ? { password } : {}), redirect: false });
    if (!result || result.error) {
      setPending(false);
      setError(result?.error && result.error !== "CredentialsSignin" ? result.error : "This sign-in link is not valid: it was already used or it expired.");
      return;
    }
    router.push("/");
    router.refresh();
  }

  function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const password = String(form.get("password") ?? "");
    if (!password) {
      setError("Choose a password");
      return;
    }
    if (password !== String(form.get("confirm") ?? "")) {
      setError("The two passwords differ");
      return;
    }
    void submit(password);
  }

  if (token === undefined) return null;
  if (!token) {
    return (
      <AuthCard title="One-time sign-in" footer={<Link href="/signin" className="font-medium text-brand-700 underline">Sign in</Link>}>
        <p className="text-sm text-slate-600">This page needs the complete link printed by <code>npm run admin:create</code>.</p>
      </AuthCard>
    );
  }
  return (
    <AuthCard title="Set your password" subtitle="This link signs you in once. Choose the password you will sign in with from now on.">
      <form onSubmit={onSubmit} className="space-y-4" noValidate>
        {error && (
          <p role="alert" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-800">
            {error}
          </p>
        )}
        <Field label="New password" name="password" hint="At least 12 characters.">
          <Input name="password" type="password" autoComplete="new-password" required autoFocus />
        </Field>
        <Field label="Repeat the password" name="confirm">
          <Input name="confirm" type="password" autoComplete="new-password" required />
        </Field>
        <Button type="submit" className="w-full" loading={pending}>
          Set password and sign in
        </Button>
      </form>
      {oidcName && (
        <div className="mt-4 border-t border-slate-200 pt-4">
          <Button variant="secondary" className="w-full" disabled={pending} onClick={() => void submit(null)}>
            Sign in without a password (I use {oidcName})
          </Button>
        </div>
      )}
    </AuthCard>
  );
}
