"use client";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { signIn, signOut } from "next-auth/react";
import { useState, type FormEvent, type ReactNode } from "react";
import { toast } from "sonner";
import { ROLE_LABELS, type OrgRole } from "@/lib/roles";
import { api } from "../trpc";
import { Button } from "../ui/button";
import { Field, Input, fieldErrorsOf } from "../ui/form";
import { AuthCard } from "./auth-card";

interface InvitationSummary {
  email: string;
  role: OrgRole;
  orgName: string;
  invitedBy: string;
  expiresAt: string;
}

/** The page an invitation's link opens: accept or decline when signed in, otherwise create an account or sign in. */
export function InvitationView({ token, invitation, signedInAs }: { token: string; invitation: InvitationSummary | null; signedInAs: string | null }) {
  if (!invitation) {
    return (
      <AuthCard
        title="This invitation link is not valid"
        subtitle="It was already used, revoked, or it expired. Ask the person who invited you for a new invitation."
        footer={<Link href="/signin" className="font-medium text-brand-700 underline">Sign in</Link>}
      >
        <p className="text-sm text-slate-600">Invitation links work once, for 14 days.</p>
      </AuthCard>
    );
  }
  const subtitle = (
    <>
      <strong>{invitation.invitedBy}</strong> invited you to join <strong>{invitation.orgName}</strong> as {ROLE_LABELS[invitation.role]}.
    </>
  );
  return signedInAs ? <RespondAsUser token={token} subtitle={subtitle} signedInAs={signedInAs} /> : <SignUpFromInvitation token={token} subtitle={subtitle} invitation={invitation} />;
}

function RespondAsUser({ token, subtitle, signedInAs }: { token: string; subtitle: ReactNode; signedInAs: string }) {
  const router = useRouter();
  const respond = api.account.respondToInvitation.useMutation({
    onSuccess: (org, input) => {
      if (input.accept) {
        toast.success(`You joined ${org.name}`);
        router.push(`/o/${org.slug}`);
      } else {
        toast.message("Invitation declined");
        router.push("/");
      }
      router.refresh();
    },
    onError: (e) => toast.error(e.message),
  });
  return (
    <AuthCard
      title="Join an organisation"
      subtitle={subtitle}
      footer={
        <>
          Not {signedInAs}?{" "}
          <button type="button" className="font-medium text-brand-700 underline" onClick={() => signOut({ callbackUrl: `/invitations/${token}` })}>
            Sign out
          </button>
        </>
      }
    >
      <p className="mb-4 text-sm text-slate-600">
        You are signed in as <span data-testid="invitation-signed-in-as">{signedInAs}</span>.
      </p>
      <div className="flex gap-2">
        <Button loading={respond.isPending && respond.variables?.accept} disabled={respond.isPending} onClick={() => respond.mutate({ token, accept: true })}>
          Accept
        </Button>
        <Button variant="secondary" disabled={respond.isPending} onClick={() => respond.mutate({ token, accept: false })}>
          Decline
        </Button>
      </div>
    </AuthCard>
  );
}

function SignUpFromInvitation({ token, subtitle, invitation }: { token: string; subtitle: ReactNode; invitation: InvitationSummary }) {
  const router = useRouter();
  const signUp = api.account.signUpWithInvitation.useMutation();
  const [signingIn, setSigningIn] = useState(false);
  const errors = fieldErrorsOf(signUp.error);
  const callbackUrl = `/invitations/${token}`;

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const input = { token, name: String(form.get("name") ?? ""), email: String(form.get("email") ?? ""), password: String(form.get("password") ?? "") };
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
    toast.success(`Welcome to ${created.org.name}`);
    router.push(`/o/${created.org.slug}`);
    router.refresh();
  }

  const formError = signUp.error && Object.keys(errors).length === 0 ? signUp.error.message : null;
  return (
    <AuthCard
      title="Join an organisation"
      subtitle={subtitle}
      footer={
        <>
          Already have an account?{" "}
          <Link href={`/signin?callbackUrl=${encodeURIComponent(callbackUrl)}`} className="font-medium text-brand-700 underline">
            Sign in to accept
          </Link>
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
          <Input name="email" type="email" autoComplete="email" defaultValue={invitation.email} invalid={!!errors.email} required />
        </Field>
        <Field label="Password" name="password" error={errors.password?.[0]} hint="At least 12 characters.">
          <Input name="password" type="password" autoComplete="new-password" invalid={!!errors.password} required />
        </Field>
        <Button type="submit" className="w-full" loading={signUp.isPending || signingIn}>
          Create account and join
        </Button>
      </form>
    </AuthCard>
  );
}
