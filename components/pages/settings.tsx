"use client";
import { useRouter } from "next/navigation";
import { useState, type FormEvent } from "react";
import { toast } from "sonner";
import { ORG_ROLES, ROLE_LABELS, roleAtLeast } from "@/lib/roles";
import { InvitationLinkNotice, type CreatedInvitation } from "../auth/invitation-link";
import { BudgetBanner, BudgetCard, WebhookCard } from "../budgets/budget-settings";
import { ExportCard } from "../exports/export-card";
import { formatDate } from "../format";
import { useCurrentOrg } from "../shell/org-context";
import { api } from "../trpc";
import { Button } from "../ui/button";
import { Field, Input, Select, fieldErrorsOf, toastUnlessInline } from "../ui/form";
import { Card, PageHeader, Table, Td } from "../ui/layout";
import { ConfirmDialog } from "../ui/confirm-dialog";
import { EmptyState, QueryView } from "../ui/states";

const ROLES_HIGH_TO_LOW = [...ORG_ROLES].reverse();

export function SettingsPage() {
  const org = useCurrentOrg();
  const isAdmin = roleAtLeast(org.role, "ADMIN");
  return (
    <>
      <PageHeader title="Settings" description="Your organisation's name, its monthly budget and webhook, its members and their roles." />
      <BudgetBanner />
      <div className="space-y-6">
        {isAdmin && <RenameOrganization />}
        <BudgetCard />
        {isAdmin && <WebhookCard />}
        {isAdmin && <InviteMember />}
        <Members />
        {isAdmin && <ExportCard />}
      </div>
    </>
  );
}

function RenameOrganization() {
  const org = useCurrentOrg();
  const router = useRouter();
  const utils = api.useUtils();
  const rename = api.organization.rename.useMutation({
    onSuccess: async (o) => {
      toast.success(`Renamed to ${o.name}`);
      await utils.account.me.invalidate();
      router.refresh();
    },
    onError: (e) => toastUnlessInline(e, ["name"]),
  });
  const errors = fieldErrorsOf(rename.error);
  function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    rename.mutate({ orgId: org.id, name: String(new FormData(event.currentTarget).get("orgName") ?? "") });
  }
  return (
    <Card title="Organisation">
      <form onSubmit={onSubmit} className="flex flex-col gap-3 sm:flex-row sm:items-end">
        <div className="flex-1">
          <Field label="Organisation name" name="orgName" error={errors.name?.[0]}>
            <Input name="orgName" defaultValue={org.name} invalid={Boolean(errors.name)} required />
          </Field>
        </div>
        <Button type="submit" variant="secondary" loading={rename.isPending}>Rename</Button>
      </form>
    </Card>
  );
}

function InviteMember() {
  const org = useCurrentOrg();
  const utils = api.useUtils();
  const [email, setEmail] = useState("");
  const [created, setCreated] = useState<CreatedInvitation | null>(null);
  const invite = api.organization.invite.useMutation({
    onSuccess: async (inv) => {
      toast.success(`Invitation created for ${inv.email}`);
      setCreated(inv);
      setEmail("");
      await utils.organization.members.invalidate({ orgId: org.id });
    },
    onError: (e) => toastUnlessInline(e, ["email", "role"]),
  });
  const errors = fieldErrorsOf(invite.error);
  function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    invite.mutate({ orgId: org.id, email, role: String(form.get("role")) as (typeof ORG_ROLES)[number] });
  }
  return (
    <Card title="Invite a member">
      <form onSubmit={onSubmit} className="grid gap-3 sm:grid-cols-[1fr_12rem_auto] sm:items-end">
        <Field label="Email" name="email" error={errors.email?.[0]} hint="You get a link to send them: only that link accepts the invitation.">
          <Input name="email" type="email" value={email} onChange={(e) => setEmail(e.target.value)} invalid={Boolean(errors.email)} required autoComplete="off" />
        </Field>
        <Field label="Role" name="role" error={errors.role?.[0]}>
          <Select name="role" defaultValue="MEMBER">
            {ROLES_HIGH_TO_LOW.filter((r) => r !== "OWNER" || org.role === "OWNER").map((r) => (
              <option key={r} value={r}>{ROLE_LABELS[r]}</option>
            ))}
          </Select>
        </Field>
        <Button type="submit" loading={invite.isPending}>Create invitation</Button>
      </form>
      {created && <InvitationLinkNotice invitation={created} onDismiss={() => setCreated(null)} />}
    </Card>
  );
}

function Members() {
  const org = useCurrentOrg();
  const router = useRouter();
  const utils = api.useUtils();
  const me = api.account.me.useQuery();
  const members = api.organization.members.useQuery({ orgId: org.id, limit: 200 });
  const isAdmin = roleAtLeast(org.role, "ADMIN");
  const refresh = () => utils.organization.members.invalidate({ orgId: org.id });
  const changeRole = api.organization.changeRole.useMutation({
    onSuccess: async () => {
      toast.success("Role changed");
      await refresh();
    },
    onError: (e) => {
      toast.error(e.message);
      void refresh();
    },
  });
  const [removing, setRemoving] = useState<{ membershipId: string; email: string; self: boolean } | null>(null);
  const remove = api.organization.removeMember.useMutation({
    onSuccess: async () => {
      const gone = removing;
      setRemoving(null);
      if (gone?.self) {
        toast.success(`You left ${org.name}`);
        await utils.account.me.invalidate();
        router.push("/");
      } else {
        toast.success(`${gone?.email ?? "Member"} removed`);
        await refresh();
      }
    },
    onError: (e) => {
      toast.error(e.message);
      void refresh();
    },
  });
  const [revoking, setRevoking] = useState<{ id: string; email: string } | null>(null);
  const revoke = api.organization.revokeInvitation.useMutation({
    onSuccess: async () => {
      toast.success("Invitation revoked");
      await refresh();
    },
    onError: (e) => toast.error(e.message),
  });

  return (
    <QueryView query={members}>
      {({ items: list, invitations }) => {
        const owners = list.filter((m) => m.role === "OWNER").length;
        return (
        <div className="space-y-6">
          <Table head={["Member", "Role", "Since", ""]} caption="Members">
            {list.map((m) => {
              const self = m.user.id === me.data?.user.id;
              // Offer only what the server allows: the last owner stays; only an owner removes an owner.
              const lastOwner = m.role === "OWNER" && owners <= 1;
              const removable = !lastOwner && (self || (isAdmin && (m.role !== "OWNER" || org.role === "OWNER")));
              return (
                <tr key={m.id}>
                  <Td>
                    <span className="font-medium">{m.user.name}</span>
                    {self && <span className="ml-1 text-xs text-slate-500">(you)</span>}
                    <span className="block text-xs text-slate-500">{m.user.email}</span>
                  </Td>
                  <Td>
                    {isAdmin && !self && !lastOwner ? (
                      <select
                        aria-label={`Role of ${m.user.email}`}
                        className="rounded-md border border-slate-300 bg-white px-2 py-1 text-sm"
                        value={m.role}
                        disabled={changeRole.isPending}
                        onChange={(e) => changeRole.mutate({ orgId: org.id, membershipId: m.id, role: e.target.value as (typeof ORG_ROLES)[number] })}
                      >
                        {ROLES_HIGH_TO_LOW.map((r) => (
                          <option key={r} value={r} disabled={(r === "OWNER" || m.role === "OWNER") && org.role !== "OWNER"}>{ROLE_LABELS[r]}</option>
                        ))}
                      </select>
                    ) : (
                      ROLE_LABELS[m.role]
                    )}
                  </Td>
                  <Td className="text-slate-600">{formatDate(m.createdAt)}</Td>
                  <Td className="text-right">
                    {removable ? (
                      <Button
                        variant={self ? "secondary" : "danger"}
                        loading={remove.isPending && remove.variables?.membershipId === m.id}
                        onClick={() => setRemoving({ membershipId: m.id, email: m.user.email, self })}
                      >
                        {self ? "Leave" : "Remove"}
                      </Button>
                    ) : (
                      self &&
                      lastOwner && (
                        <span data-testid="sole-owner-note" className="inline-block max-w-56 whitespace-normal text-left text-xs text-slate-500">
                          You are the only owner: make another member an owner before you can leave.
                        </span>
                      )
                    )}
                  </Td>
                </tr>
              );
            })}
          </Table>
          <section aria-label="Pending invitations">
            <h2 className="mb-2 text-sm font-semibold text-slate-700">Pending invitations</h2>
            {invitations.length === 0 ? (
              <EmptyState title="No pending invitations" />
            ) : (
              <ul className="divide-y divide-slate-100 rounded-lg border border-slate-200 bg-white">
                {invitations.map((inv) => (
                  <li key={inv.id} className="flex flex-wrap items-center gap-2 px-3 py-2 text-sm">
                    <span className="font-medium">{inv.email}</span>
                    <span className="text-slate-600">as {ROLE_LABELS[inv.role]}, invited by {inv.invitedBy.name}, expires {formatDate(inv.expiresAt)}</span>
                    {isAdmin && (
                      <Button className="ml-auto" variant="ghost" loading={revoke.isPending && revoke.variables?.invitationId === inv.id} onClick={() => setRevoking({ id: inv.id, email: inv.email })}>
                        Revoke
                      </Button>
                    )}
                  </li>
                ))}
              </ul>
            )}
          </section>
          {removing && (
            <ConfirmDialog
              title={removing.self ? `Leave ${org.name}?` : `Remove ${removing.email}?`}
              confirmLabel={removing.self ? "Leave organisation" : "Remove member"}
              pending={remove.isPending}
              onClose={() => setRemoving(null)}
              onConfirm={() => remove.mutate({ orgId: org.id, membershipId: removing.membershipId })}
            >
              {removing.self ? `You lose access to ${org.name} at once; an admin can invite you again.` : `${removing.email} loses access to ${org.name} at once; you can invite them again.`}
            </ConfirmDialog>
          )}
          {revoking && (
            <ConfirmDialog
              title={`Revoke the invitation of ${revoking.email}?`}
              confirmLabel="Revoke invitation"
              pending={revoke.isPending}
              onClose={() => setRevoking(null)}
              onConfirm={() => revoke.mutate({ orgId: org.id, invitationId: revoking.id }, { onSuccess: () => setRevoking(null) })}
            >
              Its link stops working; you can invite them again.
            </ConfirmDialog>
          )}
        </div>
        );
      }}
    </QueryView>
  );
}
