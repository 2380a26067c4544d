"use client";
import { useEffect, useId, useRef, type ReactNode } from "react";

/**
 * A modal dialog on the native <dialog> element: the page behind is inert, focus moves to the
 * first field (or `[data-autofocus]`), Escape closes, and focus returns to what opened it.
 * Render it only while it is open; `onClose` should unmount it.
 */
export function Dialog({
  title,
  description,
  onClose,
  children,
  size = "md",
  role,
}: {
  title: string;
  description?: ReactNode;
  onClose: () => void;
  children: ReactNode;
  size?: "sm" | "md" | "lg";
  /** "alertdialog" for confirmations: assistive technology announces them as needing an answer. */
  role?: "alertdialog";
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const descriptionId = useId();
  const onCloseRef = useRef(onClose);
  onCloseRef.current = onClose;
  const unmounting = useRef(false);

  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    unmounting.current = false;
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    if (!dialog.open) dialog.showModal();
    const first = dialog.querySelector<HTMLElement>(
      "[data-autofocus], input:not([type=hidden]):not([disabled]), select:not([disabled]), textarea:not([disabled])",
    );
    first?.focus();
    return () => {
      unmounting.current = true;
      if (dialog.open) dialog.close();
      // The opener may have been re-rendered away; only restore focus when it is still on the page.
      if (opener?.isConnected) opener.focus();
    };
  }, []);

  const width = size === "sm" ? "max-w-md" : size === "lg" ? "max-w-3xl" : "max-w-xl";
  return (
    <dialog
      ref={ref}
      role={role}
      aria-modal={role ? true : undefined}
      aria-labelledby={titleId}
      aria-describedby={description ? descriptionId : undefined}
      // Escape fires `cancel`; let React state decide, so the dialog never closes behind its owner's back.
      onCancel={(e) => {
        e.preventDefault();
        onCloseRef.current();
      }}
      // Browsers may close on a repeated Escape without `cancel`; keep the owner's state in step.
      // (A close we caused ourselves, e.g. React's dev-mode remount, leaves the dialog open again.)
      onClose={() => {
        if (!unmounting.current && !ref.current?.open) onCloseRef.current();
      }}
      // Keep Tab inside the dialog: the modal makes the page inert, but Tab would still reach the browser's own controls.
      onKeyDown={(e) => {
        if (e.key !== "Tab" || !ref.current) return;
        const focusable = [...ref.current.querySelectorAll<HTMLElement>("button:not([disabled]), input:not([disabled]):not([type=hidden]), select:not([disabled]), textarea:not([disabled]), a[href], [tabindex]:not([tabindex='-1'])")];
        const first = focusable[0];
        const last = focusable[focusable.length - 1];
        if (!first || !last) return;
        if (e.shiftKey && document.activeElement === first) {
          e.preventDefault();
          last.focus();
        } else if (!e.shiftKey && document.activeElement === last) {
          e.preventDefault();
          first.focus();
        }
      }}
      className={`m-auto max-h-[calc(100dvh-2rem)] w-[calc(100%-1.5rem)] ${width} overflow-y-auto rounded-lg border border-slate-200 bg-white p-0 text-slate-900 shadow-xl backdrop:bg-slate-900/40`}
    >
      <div className="flex items-start justify-between gap-3 border-b border-slate-200 px-4 py-3 sm:px-5">
        <div>
          <h2 id={titleId} className="text-lg font-semibold">
            {title}
          </h2>
          {description && (
            <div id={descriptionId} className="mt-0.5 text-sm text-slate-600">
              {description}
            </div>
          )}
        </div>
        <button type="button" onClick={() => onCloseRef.current()} className="rounded-md px-2 py-1 text-slate-500 hover:bg-slate-100" aria-label="Close">
          <span aria-hidden>×</span>
        </button>
      </div>
      <div className="px-4 py-4 sm:px-5">{children}</div>
    </dialog>
  );
}

/** The row of buttons at the foot of a dialog's form: stacked on a phone, right-aligned above. */
export function DialogActions({ children }: { children: ReactNode }) {
  return <div className="mt-5 flex flex-col-reverse gap-2 border-t border-slate-100 pt-4 sm:flex-row sm:justify-end">{children}</div>;
}
