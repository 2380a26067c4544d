"use client";
import { useRouter } from "next/navigation";
import { toast } from "sonner";
import { ROLE_LABELS } from "@/server/roles";
import { api } from "./trpc";
import { Button } from "./ui/button";

/** Invitations addressed to the signed-in user, with accept / decline. Renders nothing when there are none. */
export function PendingInvitations() {
  const router = useRouter();
  const utils = api.useUtils();
  const me = api.account.me.useQuery();
  const respond = api.account.respondToInvitation.useMutation({
    onSuccess: async (org, input) => {
      await utils.account.me.invalidate();
      if (input.accept) {
        toast.success(`You joined ${org.name}`);
        router.push(`/o/${org.slug}`);
      } else toast.message("Invitation declined");
    },
    onError: (e) => toast.error(e.message),
  });
  const invitations = me.data?.invitations ?? [];
  if (invitations.length === 0) return null;
  return (
    <section aria-label="Invitations" className="mb-6 space-y-2">
      {invitations.map((inv) => (
        <div key={inv.id} className="flex flex-col gap-2 rounded-lg border border-brand-100 bg-brand-50 p-3 sm:flex-row sm:items-center">
          <p className="text-sm">
            <strong>{inv.invitedBy.name}</strong> invited you to join <strong>{inv.org.name}</strong> as {ROLE_LABELS[inv.role]}.
          </p>
          <div className="flex gap-2 sm:ml-auto">
            <Button loading={respond.isPending && respond.variables?.invitationId === inv.id && respond.variables.accept} onClick={() => respond.mutate({ invitationId: inv.id, accept: true })}>
              Accept
            </Button>
            <Button variant="secondary" onClick={() => respond.mutate({ invitationId: inv.id, accept: false })}>
              Decline
            </Button>
          </div>
        </div>
      ))}
    </section>
  );
}
