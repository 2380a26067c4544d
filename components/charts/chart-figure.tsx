"use client";
import { useId, useState, type ReactNode } from "react";

export interface ChartTable {
  head: string[];
  rows: (string | number)[][];
}

/**
 * A chart people can read without seeing it: a title, a one-line summary (also the picture's
 * accessible name), the picture, and the same figures as a table behind "Show the figures".
 */
export function ChartFigure({
  title,
  summary,
  table,
  height = "h-56",
  legend,
  testId,
  children,
}: {
  title: string;
  summary: string;
  table: ChartTable;
  height?: string;
  legend?: ReactNode;
  testId?: string;
  children: ReactNode;
}) {
  const titleId = useId();
  // The table is only built once asked for: hundreds of hourly rows per chart otherwise.
  const [tableOpen, setTableOpen] = useState(false);
  return (
    <figure aria-labelledby={titleId} data-testid={testId} className="min-w-0 rounded-lg border border-slate-200 bg-white p-4 shadow-sm">
      <figcaption className="mb-2">
        <h3 id={titleId} className="text-sm font-semibold text-slate-700">
          {title}
        </h3>
        <p className="mt-0.5 text-xs text-slate-600">{summary}</p>
      </figcaption>
      {legend}
      {/* One image with a text name; the SVG inside (with its own roles) stays out of the accessibility tree. */}
      <div role="img" aria-label={`${title}. ${summary}`} className={`${height} w-full`}>
        <div aria-hidden className="h-full w-full">
          {children}
        </div>
      </div>
      <details className="mt-2 text-sm" onToggle={(e) => setTableOpen(e.currentTarget.open)}>
        <summary className="cursor-pointer select-none text-xs font-medium text-brand-700">Show the figures</summary>
        {tableOpen && (
          <div className="mt-2 max-h-72 overflow-auto rounded border border-slate-200">
            <table className="min-w-full text-xs">
              <caption className="sr-only">{title}</caption>
              <thead className="sticky top-0 bg-slate-50">
                <tr>
                  {table.head.map((h) => (
                    <th key={h} scope="col" className="whitespace-nowrap px-2 py-1 text-left font-semibold text-slate-600">
                      {h}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody className="divide-y divide-slate-100">
                {table.rows.map((row, i) => (
                  <tr key={i}>
                    {row.map((cell, j) => (
                      <td key={j} className={`whitespace-nowrap px-2 py-1 ${j > 0 ? "tabular-nums" : ""}`}>
                        {cell}
                      </td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </details>
    </figure>
  );
}

/** A legend whose keys differ by shape as well as colour (solid, dashed, dotted, hatched). */
export function ChartLegend({ items }: { items: { label: string; color: string; dash?: string; hatched?: boolean; kind?: "line" | "box" }[] }) {
  return (
    <ul className="mb-2 flex flex-wrap gap-x-4 gap-y-1 text-xs text-slate-700" aria-hidden>
      {items.map((item) => (
        <li key={item.label} className="inline-flex items-center gap-1.5">
          <svg width="22" height="10" viewBox="0 0 22 10" aria-hidden>
            {item.kind === "box" ? (
              <>
                {item.hatched && <HatchPattern id={`legend-hatch-${item.color.slice(1)}`} color={item.color} />}
                <rect x="3" y="0" width="16" height="10" fill={item.hatched ? `url(#legend-hatch-${item.color.slice(1)})` : item.color} />
              </>
            ) : (
              <line x1="0" y1="5" x2="22" y2="5" stroke={item.color} strokeWidth="2.5" strokeDasharray={item.dash} />
            )}
          </svg>
          {item.label}
        </li>
      ))}
    </ul>
  );
}

/** A fill of `color` with white diagonal stripes, so that a series is told apart without its colour. */
export function HatchPattern({ id, color }: { id: string; color: string }) {
  return (
    <defs>
      <pattern id={id} width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
        <rect width="6" height="6" fill={color} />
        <line x1="0" y1="0" x2="0" y2="6" stroke="white" strokeWidth="2" strokeOpacity="0.75" />
      </pattern>
    </defs>
  );
}

export const SERIES_COLORS = {
  primary: "#2f4ac0",
  secondary: "#0d9488",
  warn: "#d97706",
  bad: "#dc2626",
  muted: "#94a3b8",
} as const;

/** Placeholder of a chart card while its data loads. */
export function ChartSkeleton({ height = "h-56" }: { height?: string }) {
  return (
    <div className="rounded-lg border border-slate-200 bg-white p-4 shadow-sm" aria-hidden>
      <div className="h-4 w-40 animate-pulse rounded bg-slate-200" />
      <div className="mt-2 h-3 w-64 max-w-full animate-pulse rounded bg-slate-100" />
      <div className={`mt-3 ${height} animate-pulse rounded bg-slate-100`} />
    </div>
  );
}
