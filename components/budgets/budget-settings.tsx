"use client";
/**
 * The organisation's monthly budget and webhook in the console (docs/budgets.md): the budget with
 * this month's spend against it and its alerts (every member), its form (owners and admins), the
 * banner shown when a threshold was crossed, and the webhook with its signing secret (shown once),
 * test button and deliveries.
 */
import Link from "next/link";
import { useId, useState, type FormEvent } from "react";
import { toast } from "sonner";
import { BUDGET_MODE_LABELS, DEFAULT_ALERT_THRESHOLDS, type BudgetMode } from "@/lib/budgets";
import { roleAtLeast } from "@/lib/roles";
import { formatDateTime, formatEur } from "../format";
import { useCurrentOrg } from "../shell/org-context";
import { api, type RouterOutputs } from "../trpc";
import { Button } from "../ui/button";
import { ConfirmDialog } from "../ui/confirm-dialog";
import { CopyButton } from "../ui/copy-button";
import { Checkbox } from "../ui/fields";
import { Field, Input, Select, fieldErrorsOf } from "../ui/form";
import { Badge, Card, Table, Td } from "../ui/layout";
import { EmptyState, LoadingState, QueryView } from "../ui/states";

type Budget = RouterOutputs["budgets"]["get"];
type Delivery = RouterOutputs["webhooks"]["deliveries"]["items"][number];

const monthName = (label: string) => new Intl.DateTimeFormat("en-GB", { month: "long", year: "numeric", timeZone: "UTC" }).format(new Date(`${label}-01T00:00:00Z`));

/** The crossed thresholds of this month, as a banner (overview and settings); nothing when none. */
export function BudgetBanner() {
  const org = useCurrentOrg();
  const budget = api.budgets.get.useQuery({ orgId: org.id }, { refetchInterval: 30_000 });
  const b = budget.data;
  if (!b?.budget) return null;
  const current = b.alerts.filter((a) => a.budgetEur === b.budget!.monthlyBudgetEur);
  if (!b.hardLimitReached && current.length === 0) return null;
  const highest = Math.max(...current.map((a) => a.threshold), 0);
  const refusing = b.hardLimitReached;
  return (
    <div role={refusing ? "alert" : "status"} className={`mb-6 rounded-lg border px-4 py-3 text-sm ${refusing ? "border-red-300 bg-red-50 text-red-900" : "border-amber-300 bg-amber-50 text-amber-900"}`}>
      <p className="font-medium">
        {refusing
          ? `The hard monthly budget of ${formatEur(b.budget.monthlyBudgetEur)} is spent: the gateway refuses this organisation's calls (429) until ${formatDateTime(b.resetsAt)} or until the budget is raised.`
          : `${highest} % of this month's budget reached: ${formatEur(b.spend.totalEur)} of ${formatEur(b.budget.monthlyBudgetEur)} spent in ${monthName(b.month)}.`}
      </p>
      <p className="mt-0.5">
        {b.budget.mode === "HARD" && !refusing ? "The budget is hard: calls are refused at 100 %. " : ""}
        <Link className="font-medium underline" href={`/o/${org.slug}/settings#budget`}>
          Budget settings
        </Link>
      </p>
    </div>
  );
}

export function BudgetCard() {
  const org = useCurrentOrg();
  const isAdmin = roleAtLeast(org.role, "ADMIN");
  const budget = api.budgets.get.useQuery({ orgId: org.id });
  const [editing, setEditing] = useState(false);
  return (
    <Card title={<span id="budget">Monthly budget</span>}>
      <QueryView query={budget} loading={<LoadingState label="Loading the budget…" rows={2} />}>
        {(b) => (
          <div className="space-y-4">
            <BudgetSummary budget={b} />
            {isAdmin && !editing && (
              <Button variant="secondary" onClick={() => setEditing(true)}>
                {b.budget ? "Change the budget" : "Set a budget"}
              </Button>
            )}
            {isAdmin && editing && <BudgetForm budget={b} onDone={() => setEditing(false)} />}
            {!isAdmin && <p className="text-xs text-slate-500">Owners and admins set the budget.</p>}
          </div>
        )}
      </QueryView>
    </Card>
  );
}

function BudgetSummary({ budget: b }: { budget: Budget }) {
  const spent = (
    <p className="text-sm text-slate-700">
      Spent in {monthName(b.month)} (UTC): <span className="font-semibold tabular-nums">{formatEur(b.spend.totalEur)}</span>{" "}
      <span className="text-slate-500">
        ({formatEur(b.spend.requestsEur)} requests · {formatEur(b.spend.gpuTimeEur)} GPU time)
      </span>
    </p>
  );
  if (!b.budget) {
    return (
      <div className="space-y-2">
        <p className="text-sm text-slate-600">No budget: nothing alerts or stops spending. A budget raises alerts (here, in the audit trail and to your webhook) and, when hard, stops calls at 100 %.</p>
        {spent}
      </div>
    );
  }
  const percent = b.percentUsed ?? 0;
  const tone = b.hardLimitReached || percent >= 100 ? "bg-red-500" : percent >= 80 ? "bg-amber-500" : "bg-emerald-500";
  return (
    <div className="space-y-3">
      <div className="flex flex-wrap items-baseline gap-x-3 gap-y-1">
        <p className="text-2xl font-semibold tabular-nums">{formatEur(b.budget.monthlyBudgetEur)}</p>
        <Badge tone={b.budget.mode === "HARD" ? "warn" : "neutral"}>{BUDGET_MODE_LABELS[b.budget.mode]}</Badge>
        <span className="text-xs text-slate-500">Alerts at {b.budget.alertThresholds.map((t) => `${t} %`).join(", ")}</span>
      </div>
      {spent}
      <div>
        <div
          role="progressbar"
          aria-label="Budget used this month"
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={Math.min(100, Math.round(percent))}
          aria-valuetext={`${percent.toFixed(1)} % of the budget`}
          className="h-2.5 w-full overflow-hidden rounded-full bg-slate-200"
        >
          <div className={`h-full ${tone}`} style={{ width: `${Math.min(100, percent)}%` }} />
        </div>
        <p className="mt-1 text-xs text-slate-600 tabular-nums">
          {percent.toFixed(1)} % used · resets {formatDateTime(b.resetsAt)}
        </p>
      </div>
      {b.alerts.length > 0 && (
        <div>
          <h3 className="mb-1 text-xs font-semibold uppercase tracking-wide text-slate-600">Alerts this month</h3>
          <ul className="space-y-1 text-sm">
            {b.alerts.map((a) => (
              <li key={a.id} className="flex flex-wrap gap-x-2">
                <Badge tone={a.threshold >= 100 ? "bad" : "warn"}>{a.threshold} %</Badge>
                <span>
                  of {formatEur(a.budgetEur)} ({a.mode === "HARD" ? "hard" : "soft"}) — {formatEur(a.spentEur)} spent
                </span>
                <span className="text-slate-500">{formatDateTime(a.createdAt)}</span>
              </li>
            ))}
          </ul>
        </div>
      )}
    </div>
  );
}

/** "50, 80, 100" → [50, 80, 100]; the server says what is wrong with anything else. */
function parseThresholds(text: string): number[] {
  return text
    .split(/[\s,;%]+/)
    .filter(Boolean)
    .map((t) => Number(t));
}

function BudgetForm({ budget, onDone }: { budget: Budget; onDone: () => void }) {
  const org = useCurrentOrg();
  const utils = api.useUtils();
  const [amount, setAmount] = useState(budget.budget ? String(budget.budget.monthlyBudgetEur) : "");
  const [mode, setMode] = useState<BudgetMode>(budget.budget?.mode ?? "SOFT");
  const [thresholds, setThresholds] = useState((budget.budget?.alertThresholds ?? DEFAULT_ALERT_THRESHOLDS).join(", "));
  const [localError, setLocalError] = useState<string | null>(null);
  const refresh = () => utils.budgets.get.invalidate({ orgId: org.id });
  const set = api.budgets.set.useMutation({
    onSuccess: async (b) => {
      toast.success(`Budget set: ${formatEur(b.monthlyBudgetEur)} a month, ${b.mode === "HARD" ? "hard" : "soft"}`);
      await refresh();
      onDone();
    },
    onError: (e) => toast.error(e.message),
  });
  const [confirmRemove, setConfirmRemove] = useState(false);
  const remove = api.budgets.remove.useMutation({
    onSuccess: async () => {
      toast.success("Budget removed");
      await refresh();
      onDone();
    },
    onError: (e) => toast.error(e.message),
  });
  const errors = fieldErrorsOf(set.error);
  const thresholdError = errors.alertThresholds?.[0] ?? Object.entries(errors).find(([k]) => k.startsWith("alertThresholds."))?.[1]?.[0];

  function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const eur = Number(amount.replace(",", "."));
    if (amount.trim() === "" || !Number.isFinite(eur)) {
      setLocalError("Enter the monthly budget in euros, e.g. 500");
      return;
    }
    setLocalError(null);
    set.mutate({ orgId: org.id, monthlyBudgetEur: eur, mode, alertThresholds: parseThresholds(thresholds) });
  }

  return (
    <form onSubmit={onSubmit} noValidate className="space-y-4 rounded-md border border-slate-200 bg-slate-50 p-3">
      <div className="grid gap-3 sm:grid-cols-3">
        <Field label="Monthly budget (€)" name="monthlyBudgetEur" error={localError ?? errors.monthlyBudgetEur?.[0]} hint="Token cost plus GPU time, per calendar month (UTC).">
          <Input name="monthlyBudgetEur" inputMode="decimal" value={amount} onChange={(e) => setAmount(e.target.value)} invalid={Boolean(localError ?? errors.monthlyBudgetEur)} autoComplete="off" />
        </Field>
        <Field label="Mode" name="mode" error={errors.mode?.[0]} hint={mode === "HARD" ? "Every gateway refuses calls (429) once it is spent." : "Alerts only: calls are never refused."}>
          <Select name="mode" value={mode} onChange={(e) => setMode(e.target.value as BudgetMode)}>
            {(Object.keys(BUDGET_MODE_LABELS) as BudgetMode[]).map((m) => (
              <option key={m} value={m}>
                {BUDGET_MODE_LABELS[m]}
              </option>
            ))}
          </Select>
        </Field>
        <Field label="Alert thresholds (%)" name="alertThresholds" error={thresholdError} hint="e.g. 50, 80, 100: each raises one alert a month.">
          <Input name="alertThresholds" value={thresholds} onChange={(e) => setThresholds(e.target.value)} invalid={Boolean(thresholdError)} autoComplete="off" />
        </Field>
      </div>
      <div className="flex flex-wrap gap-2">
        <Button type="submit" loading={set.isPending}>
          Save budget
        </Button>
        <Button type="button" variant="secondary" onClick={onDone}>
          Cancel
        </Button>
        {budget.budget && (
          <Button
            type="button"
            variant="ghost"
            className="sm:ml-auto"
            loading={remove.isPending}
            onClick={() => setConfirmRemove(true)}
          >
            Remove budget
          </Button>
        )}
        {confirmRemove && (
          <ConfirmDialog title="Remove the budget?" confirmLabel="Remove budget" pending={remove.isPending} onClose={() => setConfirmRemove(false)} onConfirm={() => remove.mutate({ orgId: org.id }, { onSuccess: () => setConfirmRemove(false) })}>
            Alerts for {org.name} stop{budget.budget?.mode === "HARD" ? " and calls are no longer refused" : ""}.
          </ConfirmDialog>
        )}
      </div>
    </form>
  );
}

// ─── Webhook ─────────────────────────────────────────────────────────────────

export function WebhookCard() {
  const org = useCurrentOrg();
  const webhook = api.webhooks.get.useQuery({ orgId: org.id });
  const [secret, setSecret] = useState<string | null>(null);
  return (
    <Card title="Webhook">
      <p className="mb-3 text-sm text-slate-600">
        Enclave POSTs budget alerts to this URL as JSON, signed with HMAC-SHA256 in the <code className="font-mono text-xs">Enclave-Signature</code> header (how to verify it: docs/budgets.md), and retries with exponential backoff until your endpoint answers 2xx.
      </p>
      <QueryView query={webhook} loading={<LoadingState label="Loading the webhook…" rows={1} />}>
        {(w) => (
          <div className="space-y-4">
            {secret && <SecretReveal secret={secret} onDismiss={() => setSecret(null)} />}
            <WebhookForm webhook={w} onSecret={setSecret} />
            {w && <WebhookActions onSecret={setSecret} />}
            {w && <Deliveries />}
          </div>
        )}
      </QueryView>
    </Card>
  );
}

function SecretReveal({ secret, onDismiss }: { secret: string; onDismiss: () => void }) {
  const id = useId();
  return (
    <div className="space-y-2 rounded-md border border-amber-300 bg-amber-50 p-3">
      <p role="note" className="text-sm font-medium text-amber-900">
        This is the only time the signing secret is shown. Copy it into your receiver's configuration now: Enclave cannot show it again (rotate it to get a new one).
      </p>
      <label htmlFor={id} className="block text-sm font-medium text-slate-700">
        Signing secret
      </label>
      <div className="flex gap-2">
        <input
          id={id}
          readOnly
          value={secret}
          onFocus={(e) => e.currentTarget.select()}
          spellCheck={false}
          autoComplete="off"
          className="block w-full min-w-0 rounded-md border border-slate-300 bg-white px-3 py-2 font-mono text-sm"
        />
        <CopyButton text={secret} label="Copy the signing secret" />
      </div>
      <Button variant="secondary" onClick={onDismiss}>
        I have copied it
      </Button>
    </div>
  );
}

function WebhookForm({ webhook, onSecret }: { webhook: RouterOutputs["webhooks"]["get"]; onSecret: (secret: string) => void }) {
  const org = useCurrentOrg();
  const utils = api.useUtils();
  const [url, setUrl] = useState(webhook?.url ?? "");
  const [enabled, setEnabled] = useState(webhook?.enabled ?? true);
  const save = api.webhooks.set.useMutation({
    onSuccess: async (w) => {
      if (w.secret) onSecret(w.secret);
      toast.success(w.secret ? "Webhook created: copy its signing secret now" : "Webhook saved");
      await utils.webhooks.get.invalidate({ orgId: org.id });
    },
    onError: (e) => toast.error(e.message),
  });
  const errors = fieldErrorsOf(save.error);
  return (
    <form
      noValidate
      className="grid gap-3 sm:grid-cols-[1fr_auto_auto] sm:items-end"
      onSubmit={(e) => {
        e.preventDefault();
        save.mutate({ orgId: org.id, url: url.trim(), enabled });
      }}
    >
      <Field label="Endpoint URL" name="webhookUrl" error={errors.url?.[0]} hint={webhook ? `Signing secret ${webhook.secretHint}` : "https://, reachable from the platform; private network addresses are refused."}>
        <Input name="webhookUrl" type="url" inputMode="url" placeholder="https://hooks.example.org/enclave" value={url} onChange={(e) => setUrl(e.target.value)} invalid={Boolean(errors.url)} autoComplete="off" />
      </Field>
      <div className="pb-2">
        <Checkbox label="Enabled" checked={enabled} onChange={(e) => setEnabled(e.target.checked)} />
      </div>
      <Button type="submit" loading={save.isPending}>
        {webhook ? "Save webhook" : "Add webhook"}
      </Button>
    </form>
  );
}

function WebhookActions({ onSecret }: { onSecret: (secret: string) => void }) {
  const org = useCurrentOrg();
  const utils = api.useUtils();
  const refresh = async () => {
    await Promise.all([utils.webhooks.get.invalidate({ orgId: org.id }), utils.webhooks.deliveries.invalidate({ orgId: org.id })]);
  };
  const test = api.webhooks.sendTest.useMutation({
    onSuccess: async () => {
      toast.success("Test event queued: its delivery appears below within seconds");
      await refresh();
    },
    onError: (e) => toast.error(e.message),
  });
  const [confirming, setConfirming] = useState<"rotate" | "remove" | null>(null);
  const rotate = api.webhooks.rotateSecret.useMutation({
    onSuccess: async (w) => {
      if (w.secret) onSecret(w.secret);
      toast.success("New signing secret: the previous one no longer verifies");
      await refresh();
    },
    onError: (e) => toast.error(e.message),
  });
  const remove = api.webhooks.remove.useMutation({
    onSuccess: async () => {
      toast.success("Webhook removed");
      await refresh();
    },
    onError: (e) => toast.error(e.message),
  });
  return (
    <div className="flex flex-wrap gap-2">
      <Button variant="secondary" loading={test.isPending} onClick={() => test.mutate({ orgId: org.id })}>
        Send test event
      </Button>
      <Button
        variant="secondary"
        loading={rotate.isPending}
        onClick={() => setConfirming("rotate")}
      >
        Rotate secret
      </Button>
      <Button variant="ghost" loading={remove.isPending} onClick={() => setConfirming("remove")}>
        Remove webhook
      </Button>
      {confirming === "rotate" && (
        <ConfirmDialog title="Rotate the signing secret?" confirmLabel="Rotate secret" pending={rotate.isPending} onClose={() => setConfirming(null)} onConfirm={() => rotate.mutate({ orgId: org.id }, { onSuccess: () => setConfirming(null) })}>
          Deliveries are signed with the new secret at once: update your receiver.
        </ConfirmDialog>
      )}
      {confirming === "remove" && (
        <ConfirmDialog title="Remove the webhook?" confirmLabel="Remove webhook" pending={remove.isPending} onClose={() => setConfirming(null)} onConfirm={() => remove.mutate({ orgId: org.id }, { onSuccess: () => setConfirming(null) })}>
          Pending deliveries are dropped; alerts stay in the console and the audit trail.
        </ConfirmDialog>
      )}
    </div>
  );
}

const STATUS_TONE: Record<Delivery["status"], "good" | "warn" | "bad"> = { DELIVERED: "good", PENDING: "warn", FAILED: "bad" };
const STATUS_LABEL: Record<Delivery["status"], string> = { DELIVERED: "Delivered", PENDING: "Retrying", FAILED: "Given up" };

function Deliveries() {
  const org = useCurrentOrg();
  const deliveries = api.webhooks.deliveries.useQuery(
    { orgId: org.id, limit: 20 },
    // While something is on its way, follow it.
    { refetchInterval: (q) => (q.state.data?.items.some((d) => d.status === "PENDING") ? 3000 : false) },
  );
  return (
    <section aria-label="Webhook deliveries">
      <h3 className="mb-2 text-sm font-semibold text-slate-700">Recent deliveries</h3>
      <QueryView query={deliveries} loading={<LoadingState label="Loading deliveries…" rows={2} />}>
        {({ items }) =>
          items.length === 0 ? (
            <EmptyState title="Nothing sent yet">Budget alerts and test events appear here with every attempt.</EmptyState>
          ) : (
            <Table head={["Event", "Status", "Attempts", "Last attempt", "Created"]} caption="Webhook deliveries">
              {items.map((d) => {
                const last = d.attemptLog.at(-1);
                return (
                  <tr key={d.id}>
                    <Td>
                      <p className="font-medium">{d.eventType}</p>
                      <p className="font-mono text-xs text-slate-500">{d.eventId}</p>
                    </Td>
                    <Td>
                      <Badge tone={STATUS_TONE[d.status]}>{STATUS_LABEL[d.status]}</Badge>
                      {d.nextAttemptAt && <p className="mt-0.5 text-xs text-slate-500">next {formatDateTime(d.nextAttemptAt)}</p>}
                    </Td>
                    <Td className="whitespace-normal">
                      {d.attemptLog.length === 0 ? (
                        <span className="text-slate-500">not yet</span>
                      ) : (
                        <details>
                          <summary className="cursor-pointer">{d.attempts}</summary>
                          <ol className="mt-1 space-y-0.5 text-xs">
                            {d.attemptLog.map((a, i) => (
                              <li key={i}>
                                {formatDateTime(a.at)} · {a.error ?? `HTTP ${a.statusCode}`} · {a.durationMs} ms
                              </li>
                            ))}
                          </ol>
                        </details>
                      )}
                    </Td>
                    <Td className="max-w-[18rem] whitespace-normal text-xs">{last ? (last.error ?? `HTTP ${last.statusCode}`) : "—"}</Td>
                    <Td className="text-slate-600">{formatDateTime(d.createdAt)}</Td>
                  </tr>
                );
              })}
            </Table>
          )
        }
      </QueryView>
    </section>
  );
}
