"use client";
import { useRouter } from "next/navigation";
import { signOut } from "next-auth/react";
import type { FormEvent } from "react";
import { toast } from "sonner";
import { api } from "./trpc";
import { Button } from "./ui/button";
import { Field, Input, fieldErrorsOf } from "./ui/form";

/** For a signed-in user who belongs to no organisation yet. */
export function Welcome() {
  const router = useRouter();
  const create = api.account.createOrganization.useMutation({
    onSuccess: (org) => {
      toast.success(`${org.name} created`);
      router.push(`/o/${org.slug}`);
    },
  });
  const errors = fieldErrorsOf(create.error);
  function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    create.mutate({ name: String(new FormData(event.currentTarget).get("name") ?? "") });
  }
  return (
    <main className="mx-auto max-w-xl p-6">
      <div className="mb-6 flex items-center justify-between">
        <p className="text-2xl font-semibold tracking-tight text-brand-700">Enclave</p>
        <button type="button" className="text-sm text-slate-700 underline" onClick={() => signOut({ callbackUrl: "/signin" })}>
          Sign out
        </button>
      </div>
      <h1 className="text-xl font-semibold">You are not in any organisation yet</h1>
      <p className="mb-6 mt-1 text-sm text-slate-600">
        Invited by a colleague? Open the invitation link they sent you. Or create an organisation of your own.
      </p>
      <form onSubmit={onSubmit} className="space-y-3 rounded-lg border border-slate-200 bg-white p-4" noValidate>
        <Field label="Organisation name" name="name" error={errors.name?.[0] ?? (create.error && !errors.name ? create.error.message : undefined)}>
          <Input name="name" invalid={!!errors.name} required />
        </Field>
        <Button type="submit" loading={create.isPending}>
          Create organisation
        </Button>
      </form>
    </main>
  );
}
