"use client";
import type { InputHTMLAttributes, ReactNode, TextareaHTMLAttributes } from "react";

const textareaClass =
  "block w-full rounded-md border border-slate-300 bg-white px-3 py-2 text-sm shadow-sm placeholder:text-slate-400 focus:border-brand-500 focus:outline-none focus:ring-1 focus:ring-brand-500 aria-[invalid=true]:border-red-500";

/** A multi-line input for `Field`, wired the same way as `Input` (id = name, error described by). */
export function Textarea({ invalid, ...props }: TextareaHTMLAttributes<HTMLTextAreaElement> & { invalid?: boolean }) {
  return (
    <textarea
      rows={3}
      {...props}
      id={props.id ?? props.name}
      aria-invalid={invalid || undefined}
      aria-describedby={invalid ? `${props.name}-error` : undefined}
      className={textareaClass}
    />
  );
}

/** A checkbox with its label beside it; the whole label is the click target. */
export function Checkbox({ label, hint, ...props }: Omit<InputHTMLAttributes<HTMLInputElement>, "type"> & { label: ReactNode; hint?: ReactNode }) {
  return (
    <label className="flex items-start gap-2 text-sm text-slate-800">
      <input type="checkbox" {...props} className="mt-0.5 h-4 w-4 shrink-0 rounded border-slate-300 text-brand-600 focus:ring-brand-500" />
      <span>
        {label}
        {hint && <span className="block text-xs text-slate-500">{hint}</span>}
      </span>
    </label>
  );
}

/** A labelled group of controls (checkboxes, rows of fields) with an optional message for the group. */
export function Fieldset({ legend, hint, error, errorId, children, className = "" }: { legend: ReactNode; hint?: ReactNode; error?: string; errorId?: string; children: ReactNode; className?: string }) {
  return (
    <fieldset className={`space-y-2 ${className}`} aria-describedby={error && errorId ? errorId : undefined}>
      <legend className="mb-1 text-sm font-medium text-slate-700">{legend}</legend>
      {hint && <p className="text-xs text-slate-500">{hint}</p>}
      {children}
      {error && (
        <p id={errorId} role="alert" className="text-xs font-medium text-red-700">
          {error}
        </p>
      )}
    </fieldset>
  );
}
