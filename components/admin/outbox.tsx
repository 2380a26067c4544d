"use client";
import { useState } from "react";
import { formatDateTime } from "../format";
import { api, type RouterOutputs } from "../trpc";
import { Button } from "../ui/button";
import { Dialog } from "../ui/dialog";
import { Badge, PageHeader, Table, Td } from "../ui/layout";
import { Segmented } from "../ui/segmented";
import { EmptyState, QueryView } from "../ui/states";
import { useSearchParamChoice } from "../ui/url-state";

type Mail = RouterOutputs["admin"]["outbox"]["items"][number];
type StatusFilter = "all" | Mail["status"];

const STATUS_FILTERS: readonly { value: StatusFilter; label: string }[] = [
  { value: "all", label: "All" },
  { value: "OUTBOX_ONLY", label: "Outbox only" },
  { value: "QUEUED", label: "Queued" },
  { value: "SENT", label: "Sent" },
  { value: "FAILED", label: "Failed" },
];

const STATUS_BADGE: Record<Mail["status"], { tone: "neutral" | "good" | "warn" | "bad" | "info"; label: string }> = {
  OUTBOX_ONLY: { tone: "info", label: "Outbox only" },
  QUEUED: { tone: "warn", label: "Queued" },
  SENT: { tone: "good", label: "Sent" },
  FAILED: { tone: "bad", label: "Failed" },
};

const KIND_LABEL: Record<Mail["kind"], string> = { INVITATION: "Invitation", QUOTA_DECISION: "Quota decision", BUDGET_ALERT: "Budget alert" };

export function AdminOutboxPage() {
  const [status, setStatus] = useSearchParamChoice<StatusFilter>("status", STATUS_FILTERS.map((f) => f.value), "all");
  const outbox = api.admin.outbox.useQuery({ limit: 200, status: status === "all" ? undefined : status });
  const [reading, setReading] = useState<Mail | null>(null);
  return (
    <>
      <PageHeader
        title="Outbox"
        description="Every mail Enclave writes: invitations, quota decisions and budget alerts. Without SMTP_URL nothing is sent and mail stays here as “outbox only”, so you can read what would have been sent."
      />
      <div className="mb-4">
        <Segmented label="Show mail" options={STATUS_FILTERS} value={status} onChange={setStatus} />
      </div>
      <QueryView query={outbox}>
        {({ items }) =>
          items.length === 0 ? (
            <EmptyState title={status === "all" ? "No mail yet" : "No mail with this status"}>Mail appears here when someone is invited, a quota request is decided or a budget threshold is crossed.</EmptyState>
          ) : (
            <Table caption="Outgoing mail" head={["Written", "To", "Subject", "Kind", "Status", <span key="a" className="sr-only">Actions</span>]}>
              {items.map((m) => (
                <tr key={m.id}>
                  <Td className="tabular-nums text-slate-600">{formatDateTime(m.createdAt)}</Td>
                  <Td className="max-w-[14rem] truncate">{m.to}</Td>
                  <Td className="min-w-[16rem] whitespace-normal">
                    <p>{m.subject}</p>
                    {m.org && <p className="text-xs text-slate-500">{m.org.name}</p>}
                  </Td>
                  <Td>{KIND_LABEL[m.kind]}</Td>
                  <Td className="whitespace-normal">
                    <Badge tone={STATUS_BADGE[m.status].tone}>{STATUS_BADGE[m.status].label}</Badge>
                    {m.attempts > 0 && m.status !== "SENT" && <p className="mt-1 text-xs text-slate-600">{m.attempts} attempt{m.attempts === 1 ? "" : "s"}</p>}
                    {m.lastError && <p className="mt-1 max-w-[16rem] text-xs text-red-700">{m.lastError}</p>}
                  </Td>
                  <Td>
                    <Button variant="secondary" aria-label={`Read the mail to ${m.to}: ${m.subject}`} onClick={() => setReading(m)}>
                      Read
                    </Button>
                  </Td>
                </tr>
              ))}
            </Table>
          )
        }
      </QueryView>
      {reading && <MailDialog mail={reading} onClose={() => setReading(null)} />}
    </>
  );
}

function MailDialog({ mail, onClose }: { mail: Mail; onClose: () => void }) {
  const message = api.admin.outboxMessage.useQuery({ mailId: mail.id });
  return (
    <Dialog title={mail.subject} description={`To ${mail.to} · ${formatDateTime(mail.createdAt)}`} onClose={onClose} size="lg">
      <QueryView query={message}>
        {(m) => (
          <pre aria-label="Mail text" className="max-h-[60vh] overflow-auto whitespace-pre-wrap break-words rounded-md border border-slate-200 bg-slate-50 p-3 font-sans text-sm text-slate-800">
            {m.text}
          </pre>
        )}
      </QueryView>
    </Dialog>
  );
}
