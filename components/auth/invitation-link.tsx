"use client";
import { useEffect, useState } from "react";
import { CopyButton } from "../ui/copy-button";
import { Button } from "../ui/button";
import { formatDate } from "../format";

export interface CreatedInvitation {
  email: string;
  acceptPath: string;
  expiresAt: Date | string;
}

/**
 * Shown once to the inviter after creating an invitation: the link that accepts it (no email is
 * sent yet). The link exists nowhere else; lost, it is replaced by revoking and inviting again.
 */
export function InvitationLinkNotice({ invitation, onDismiss }: { invitation: CreatedInvitation; onDismiss: () => void }) {
  const [url, setUrl] = useState(invitation.acceptPath);
  useEffect(() => setUrl(new URL(invitation.acceptPath, window.location.origin).toString()), [invitation.acceptPath]);
  return (
    <section aria-label="Invitation link" className="mt-4 space-y-2 rounded-lg border border-brand-100 bg-brand-50 p-3 text-sm">
      <p>
        Send this link to <strong>{invitation.email}</strong>. It is shown only now, works once and expires on {formatDate(invitation.expiresAt)}.
      </p>
      <div className="flex gap-2">
        <input
          readOnly
          aria-label={`Invitation link for ${invitation.email}`}
          value={url}
          onFocus={(e) => e.currentTarget.select()}
          className="min-w-0 flex-1 rounded-md border border-slate-300 bg-white px-2 py-1 font-mono text-xs"
        />
        <CopyButton text={url} label="Copy invitation link" />
        <Button variant="ghost" onClick={onDismiss}>
          Done
        </Button>
      </div>
    </section>
  );
}
