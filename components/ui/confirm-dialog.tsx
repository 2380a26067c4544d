"use client";
import { useId, useState, type ReactNode } from "react";
import { Button } from "./button";
import { Dialog, DialogActions } from "./dialog";
import { Field, Input } from "./form";

/**
 * The one confirmation for destructive actions across the console: an alertdialog (focus trapped,
 * Escape cancels, focus returns to the opener). Focus starts on Cancel, so a stray Enter does no
 * harm; with `typeToConfirm` (deletions) the action stays disabled until that exact name is typed.
 * Render it only while it is open; the owner closes it on success and keeps it open on failure.
 */
export function ConfirmDialog({
  title,
  children,
  confirmLabel,
  onConfirm,
  onClose,
  pending = false,
  typeToConfirm,
  tone = "danger",
  details,
  cancelLabel = "Cancel",
}: {
  title: string;
  children: ReactNode;
  confirmLabel: string;
  onConfirm: () => void;
  onClose: () => void;
  pending?: boolean;
  typeToConfirm?: string;
  tone?: "danger" | "primary";
  /** What else the person should weigh (e.g. the impact of removing a policy), below the question. */
  details?: ReactNode;
  /** When the action itself is a cancellation, "Cancel" would read both ways: say "Keep it". */
  cancelLabel?: string;
}) {
  const [typed, setTyped] = useState("");
  const inputName = `confirm-${useId().replace(/[^a-zA-Z0-9-]/g, "")}`;
  const matches = typeToConfirm === undefined || typed.trim() === typeToConfirm;
  const confirm = () => {
    if (matches && !pending) onConfirm();
  };
  return (
    <Dialog title={title} onClose={onClose} size="sm" role="alertdialog" description={children}>
      {/* No <form>: the dialog is often opened from inside one (a settings form), and nested forms submit the outer one. */}
      <div>
        {details && <div className="mb-4">{details}</div>}
        {typeToConfirm !== undefined && (
          <Field label={`Type ${typeToConfirm} to confirm`} name={inputName}>
            <Input
              name={inputName}
              value={typed}
              onChange={(e) => setTyped(e.target.value)}
              onKeyDown={(e) => {
                if (e.key === "Enter") {
                  e.preventDefault();
                  confirm();
                }
              }}
              autoComplete="off"
              spellCheck={false}
              data-autofocus
            />
          </Field>
        )}
        <DialogActions>
          <Button type="button" variant="secondary" onClick={onClose} data-autofocus={typeToConfirm === undefined ? true : undefined}>
            {cancelLabel}
          </Button>
          <Button type="button" variant={tone} loading={pending} disabled={!matches} onClick={confirm}>
            {confirmLabel}
          </Button>
        </DialogActions>
      </div>
    </Dialog>
  );
}
