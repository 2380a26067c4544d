"use client";
import { useEffect, useState, type FormEvent, type ReactNode, type RefObject } from "react";
import { Button } from "../ui/button";
import { Dialog, DialogActions } from "../ui/dialog";
import { Field, fieldErrorsOf } from "../ui/form";
import { Textarea } from "../ui/fields";

/**
 * Messages for a form: numbers the browser could not parse (checked before sending) first, then
 * what the server said about each field. Keys are input paths such as `capacities.1.totalGpus`.
 * `shownAny()` tells, once the fields have asked for their messages, whether the server's
 * refusal is already visible next to a field (so it need not be repeated under the form).
 */
export function formErrors(serverError: unknown, local: Record<string, string> = {}) {
  const server = fieldErrorsOf(serverError);
  const asked = new Set<string>();
  const messageFor = (path: string): string | undefined => {
    asked.add(path);
    return local[path] ?? server[path]?.[0];
  };
  return Object.assign(messageFor, { shownAny: () => Object.keys(server).some((key) => asked.has(key) && server[key]?.length) });
}

/**
 * The message for a group of inputs (e.g. `capacities`) that is not already shown next to one of
 * its inputs: the server repeats nested messages under the group's key.
 */
export function groupError(serverError: unknown, group: string): string | undefined {
  const server = fieldErrorsOf(serverError);
  const nested = new Set(
    Object.entries(server)
      .filter(([key]) => key.startsWith(`${group}.`))
      .flatMap(([, messages]) => messages ?? []),
  );
  return server[group]?.find((m) => !nested.has(m));
}

/** The server's message for the whole form, unless a field already shows it (`hidden`). */
export function FormError({ error, hidden = false }: { error: { message: string } | null | undefined; hidden?: boolean }) {
  if (!error || hidden) return null;
  return (
    <p role="alert" className="rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800">
      {error.message}
    </p>
  );
}

/** After a refused submit, move focus to the first field marked invalid, which may be scrolled out of view. */
export function useFocusFirstInvalid(form: RefObject<HTMLFormElement | null>, ...errors: unknown[]) {
  useEffect(() => {
    if (!errors.some(Boolean)) return;
    form.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
  }, errors);
}

/** "12" → 12; anything that is not a whole number → null, so the form can say so before sending. */
export function parseWholeNumber(value: string): number | null {
  const trimmed = value.trim();
  return /^\d+$/.test(trimmed) ? Number(trimmed) : null;
}

/** "2.95" or "2,95" euros → 295 cents; null when it is not an amount. */
export function parseEurosToCents(value: string): number | null {
  const trimmed = value.trim().replace(",", ".");
  if (!/^\d+(\.\d{1,2})?$/.test(trimmed)) return null;
  return Math.round(Number(trimmed) * 100);
}

export const centsToEuros = (cents: number) => (cents / 100).toFixed(2);

/** Used out of available, as a small bar; the numbers beside it carry the meaning for screen readers. */
export function UsageBar({ used, total }: { used: number; total: number }) {
  const ratio = total > 0 ? Math.min(1, used / total) : used > 0 ? 1 : 0;
  const tone = ratio >= 0.9 ? "bg-red-500" : ratio >= 0.7 ? "bg-amber-500" : "bg-brand-500";
  return (
    <span aria-hidden className="block h-1.5 w-24 overflow-hidden rounded-full bg-slate-200">
      <span className={`block h-full ${tone}`} style={{ width: `${Math.round(ratio * 100)}%` }} />
    </span>
  );
}

/**
 * A confirmation with a "Reason" field, for status changes that people elsewhere will have to
 * understand later (region maintenance, suspending an organisation).
 */
export function ReasonDialog({
  title,
  description,
  reasonRequired,
  reasonHint,
  danger,
  pending,
  error,
  onConfirm,
  onClose,
}: {
  title: string;
  description?: ReactNode;
  reasonRequired: boolean;
  reasonHint?: ReactNode;
  danger?: boolean;
  pending: boolean;
  error: unknown;
  onConfirm: (reason: string | undefined) => void;
  onClose: () => void;
}) {
  const [reason, setReason] = useState("");
  const [missing, setMissing] = useState(false);
  const serverReason = fieldErrorsOf(error).reason?.[0];
  const reasonError = missing ? "Give a reason; it is shown to the people affected." : serverReason;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const trimmed = reason.trim();
    if (reasonRequired && !trimmed) return setMissing(true);
    setMissing(false);
    onConfirm(trimmed || undefined);
  };
  return (
    <Dialog title={title} description={description} onClose={onClose} size="sm" role="alertdialog">
      <form onSubmit={submit} noValidate className="space-y-4">
        <Field label={reasonRequired ? "Reason" : "Reason (optional)"} name="status-reason" error={reasonError} hint={reasonHint}>
          <Textarea name="status-reason" value={reason} onChange={(e) => setReason(e.target.value)} required={reasonRequired} maxLength={500} invalid={!!reasonError} />
        </Field>
        <FormError error={error as { message: string } | null} hidden={!!serverReason} />
        <DialogActions>
          <Button type="button" variant="secondary" onClick={onClose}>
            Cancel
          </Button>
          <Button type="submit" variant={danger ? "danger" : "primary"} loading={pending}>
            Confirm
          </Button>
        </DialogActions>
      </form>
    </Dialog>
  );
}
