"use client";

/** A row of mutually exclusive buttons (a period, a breakdown): the chosen one is pressed. */
export function Segmented<T extends string>({ label, options, value, onChange }: { label: string; options: readonly { value: T; label: string }[]; value: T; onChange: (value: T) => void }) {
  return (
    <div role="group" aria-label={label} className="inline-flex max-w-full overflow-x-auto rounded-md border border-slate-300 bg-white">
      {options.map((o) => (
        <button
          key={o.value}
          type="button"
          aria-pressed={value === o.value}
          onClick={() => onChange(o.value)}
          className={`whitespace-nowrap px-3 py-1.5 text-sm first:rounded-l-md last:rounded-r-md ${value === o.value ? "bg-brand-600 text-white" : "text-slate-700 hover:bg-slate-50"}`}
        >
          {o.label}
        </button>
      ))}
    </div>
  );
}
