"use client";
import { useState, type ReactNode } from "react";
import { ScrollRegion } from "./scroll-region";

export interface Column<R> {
  key: string;
  header: string;
  /** What the column sorts by; null sorts last whichever the direction. */
  sortValue?: (row: R) => number | string | null;
  cell: (row: R) => ReactNode;
  numeric?: boolean;
}

/**
 * A table people compare rows in: a click on a column header sorts by it (again: the other way),
 * announced through aria-sort. Scrolls sideways inside its own frame on a phone.
 */
export function SortableTable<R>({
  caption,
  columns,
  rows,
  rowKey,
  initialSort,
  testId,
}: {
  caption: string;
  columns: Column<R>[];
  rows: R[];
  rowKey: (row: R) => string;
  initialSort?: { key: string; direction: "ascending" | "descending" };
  testId?: string;
}) {
  const [sort, setSort] = useState(initialSort ?? null);
  const column = sort ? columns.find((c) => c.key === sort.key) : undefined;
  const sorted = column?.sortValue ? [...rows].sort(compareBy(column.sortValue, sort!.direction)) : rows;
  return (
    <ScrollRegion label={caption} className="rounded-lg border border-slate-200 bg-white shadow-sm">
      <table className="min-w-full divide-y divide-slate-200 text-sm" data-testid={testId}>
        <caption className="sr-only">{caption}</caption>
        <thead className="bg-slate-50">
          <tr>
            {columns.map((c) => {
              const active = sort?.key === c.key;
              return (
                <th
                  key={c.key}
                  scope="col"
                  aria-sort={active ? sort!.direction : undefined}
                  className={`whitespace-nowrap px-2.5 py-2 text-xs font-semibold uppercase tracking-wide text-slate-600 ${c.numeric ? "text-right" : "text-left"}`}
                >
                  {c.sortValue ? (
                    <button
                      type="button"
                      className="inline-flex items-center gap-1 uppercase hover:text-slate-900"
                      onClick={() =>
                        setSort({ key: c.key, direction: active && sort!.direction === (c.numeric ? "descending" : "ascending") ? (c.numeric ? "ascending" : "descending") : c.numeric ? "descending" : "ascending" })
                      }
                    >
                      {c.header}
                      <span aria-hidden className={active ? "text-slate-900" : "text-slate-300"}>
                        {active && sort!.direction === "ascending" ? "▲" : "▼"}
                      </span>
                    </button>
                  ) : (
                    c.header
                  )}
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody className="divide-y divide-slate-100">
          {sorted.map((row) => (
            <tr key={rowKey(row)}>
              {columns.map((c) => (
                <td key={c.key} className={`whitespace-nowrap px-2.5 py-2 align-top ${c.numeric ? "text-right tabular-nums" : ""}`}>
                  {c.cell(row)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </ScrollRegion>
  );
}

function compareBy<R>(value: (row: R) => number | string | null, direction: "ascending" | "descending") {
  const sign = direction === "ascending" ? 1 : -1;
  return (a: R, b: R) => {
    const x = value(a);
    const y = value(b);
    if (x === null || y === null) return x === y ? 0 : x === null ? 1 : -1;
    if (typeof x === "number" && typeof y === "number") return sign * (x - y);
    return sign * String(x).localeCompare(String(y));
  };
}
