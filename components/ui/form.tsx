"use client";
import { TRPCClientError } from "@trpc/client";
import type { InputHTMLAttributes, ReactNode, SelectHTMLAttributes } from "react";
import { toast } from "sonner";

/** Field-level messages from a tRPC error (zod or DomainError), keyed by input name. */
export function fieldErrorsOf(error: unknown): Record<string, string[] | undefined> {
  if (error instanceof TRPCClientError) return (error.data?.fieldErrors as Record<string, string[] | undefined>) ?? {};
  return {};
}

/**
 * A form's error shows once: beside the field when the form displays that field (`fields`), as a
 * toast otherwise (a refusal that names no field, or one this form has no input for).
 */
export function toastUnlessInline(error: { message: string } | unknown, fields: readonly string[]) {
  const byField = fieldErrorsOf(error);
  if (fields.some((f) => byField[f]?.length)) return;
  toast.error(error instanceof Error ? error.message : "Something went wrong");
}

export function Field({ label, name, error, hint, children }: { label: string; name: string; error?: string; hint?: ReactNode; children: ReactNode }) {
  return (
    <div className="space-y-1">
      <label htmlFor={name} className="block text-sm font-medium text-slate-700">
        {label}
      </label>
      {children}
      {hint && !error && <p className="text-xs text-slate-500">{hint}</p>}
      {error && (
        <p id={`${name}-error`} role="alert" className="text-xs font-medium text-red-700">
          {error}
        </p>
      )}
    </div>
  );
}

const inputClass =
  "block w-full rounded-md border border-slate-300 bg-white px-3 py-2 text-sm shadow-sm placeholder:text-slate-400 focus:border-brand-500 focus:outline-none focus:ring-1 focus:ring-brand-500 aria-[invalid=true]:border-red-500";

export function Input({ invalid, ...props }: InputHTMLAttributes<HTMLInputElement> & { invalid?: boolean }) {
  return <input {...props} id={props.id ?? props.name} aria-invalid={invalid || undefined} aria-describedby={invalid ? `${props.name}-error` : undefined} className={inputClass} />;
}

export function Select({ invalid, children, ...props }: SelectHTMLAttributes<HTMLSelectElement> & { invalid?: boolean }) {
  return (
    <select {...props} id={props.id ?? props.name} aria-invalid={invalid || undefined} className={inputClass}>
      {children}
    </select>
  );
}
