"use client";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { signIn } from "next-auth/react";
import { useState, type FormEvent } from "react";
import { toast } from "sonner";
import { api } from "../trpc";
import { Button } from "../ui/button";
import { Field, Input, fieldErrorsOf } from "../ui/form";
import { AuthCard } from "./auth-card";

export function SignUpForm() {
  const router = useRouter();
  const signUp = api.account.signUp.useMutation();
  const [signingIn, setSigningIn] = useState(false);
  const errors = fieldErrorsOf(signUp.error);

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const input = {
      name: String(form.get("name") ?? ""),
      email: String(form.get("email") ?? ""),
      password: String(form.get("password") ?? ""),
      organizationName: String(form.get("organizationName") ?? ""),
    };
    const created = await signUp.mutateAsync(input).catch(() => null);
    if (!created) return;
    setSigningIn(true);
    const result = await signIn("credentials", { email: input.email, password: input.password, redirect: false });
    if (!result || result.error) {
      setSigningIn(false);
      toast.error("Your account was created, but signing in failed. Sign in with your new credentials.");
      router.push("/signin");
      return;
    }
    toast.success(`Welcome to Enclave, ${created.org.name} is ready`);
    router.push(`/o/${created.org.slug}`);
    router.refresh();
  }

  const formError = signUp.error && Object.keys(errors).length === 0 ? signUp.error.message : null;

  return (
    <AuthCard
      title="Create your organisation"
      subtitle="You will be its owner and can invite your team."
      footer={
        <>
          Already have an account? <Link href="/signin" className="font-medium text-brand-700 underline">Sign in</Link>
        </>
      }
    >
      <form onSubmit={onSubmit} className="space-y-4" noValidate>
        {formError && (
          <p role="alert" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-800">
            {formError}
          </p>
        )}
        <Field label="Your name" name="name" error={errors.name?.[0]}>
          <Input name="name" autoComplete="name" invalid={!!errors.name} required />
        </Field>
        <Field label="Work email" name="email" error={errors.email?.[0]}>
          <Input name="email" type="email" autoComplete="email" invalid={!!errors.email} required />
        </Field>
        <Field label="Password" name="password" error={errors.password?.[0]} hint="At least 12 characters.">
          <Input name="password" type="password" autoComplete="new-password" invalid={!!errors.password} required />
        </Field>
        <Field label="Organisation name" name="organizationName" error={errors.organizationName?.[0]}>
          <Input name="organizationName" autoComplete="organization" invalid={!!errors.organizationName} required />
        </Field>
        <Button type="submit" className="w-full" loading={signUp.isPending || signingIn}>
          Create account
        </Button>
      </form>
    </AuthCard>
  );
}
