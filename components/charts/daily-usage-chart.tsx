"use client";
import { Bar, BarChart, CartesianGrid, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { formatDate, formatNumber } from "../format";

/** Requests per day, errors stacked on top, so a bad day stands out without reading numbers. */
export function DailyUsageChart({ daily }: { daily: { day: Date | string; requests: number; errors: number }[] }) {
  const data = daily.map((d) => ({ day: formatDate(d.day), ok: d.requests - d.errors, errors: d.errors }));
  return (
    <div className="h-64 w-full" role="img" aria-label={`Requests per day over ${daily.length} days with traffic`}>
      <ResponsiveContainer width="100%" height="100%">
        <BarChart data={data} margin={{ top: 8, right: 8, bottom: 0, left: 0 }}>
          <CartesianGrid strokeDasharray="3 3" vertical={false} stroke="#e2e8f0" />
          <XAxis dataKey="day" tick={{ fontSize: 11 }} />
          <YAxis tick={{ fontSize: 11 }} tickFormatter={(v: number) => formatNumber(v)} width={48} />
          <Tooltip formatter={(v) => formatNumber(Number(v))} />
          <Bar dataKey="ok" name="Succeeded" stackId="r" fill="#2563eb" />
          <Bar dataKey="errors" name="Failed" stackId="r" fill="#dc2626" />
        </BarChart>
      </ResponsiveContainer>
    </div>
  );
}
