"use client";
import { useState } from "react";
import { toast } from "sonner";
import { useCurrentOrg } from "../shell/org-context";
import { Button } from "../ui/button";
import { Field, Input } from "../ui/form";

const DAY_MS = 86_400_000;
const MAX_DAYS = 400;
const isoDate = (t: number) => new Date(t).toISOString().slice(0, 10);

/** The period's problem, worded as the API words it, or null. `to` is a date: through its end. */
export function periodProblem(from: string, to: string, now = Date.now()): { field: "from" | "to"; message: string } | null {
  if (!from) return { field: "from", message: "Choose the first day of the period" };
  if (!to) return { field: "to", message: "Choose the last day of the period" };
  const f = Date.parse(`${from}T00:00:00Z`);
  const t = Date.parse(`${to}T00:00:00Z`) + DAY_MS;
  if (Number.isNaN(f)) return { field: "from", message: "Not a date" };
  if (Number.isNaN(t)) return { field: "to", message: "Not a date" };
  if (t - DAY_MS > now) return { field: "to", message: "The period cannot end in the future" };
  if (f >= t) return { field: "from", message: "The first day must be on or before the last" };
  if ((t - f) / DAY_MS > MAX_DAYS) return { field: "from", message: `A report covers at most ${MAX_DAYS} days` };
  return null;
}

/**
 * "Download report": a period (the last 30 days by default; UTC dates, the last one included)
 * and the two formats. The PDF and the JSON come from the API with the session cookie, through
 * the same access checks as every procedure; a refusal shows as a toast with the API's message.
 */
export function DownloadReport() {
  const org = useCurrentOrg();
  const [from, setFrom] = useState(() => isoDate(Date.now() - 29 * DAY_MS));
  const [to, setTo] = useState(() => isoDate(Date.now()));
  const [busy, setBusy] = useState<"pdf" | "json" | null>(null);
  const problem = periodProblem(from, to);

  async function download(format: "pdf" | "json") {
    if (problem) return;
    setBusy(format);
    try {
      const query = new URLSearchParams({ from, to });
      const path = format === "pdf" ? `/api/v1/orgs/${org.id}/compliance/report.pdf` : `/api/v1/orgs/${org.id}/compliance/report`;
      const res = await fetch(`${path}?${query}`, { credentials: "same-origin" });
      if (!res.ok) {
        const body = await res.json().catch(() => null);
        throw new Error(body?.error?.message ?? `The report could not be made (HTTP ${res.status})`);
      }
      const blob = await res.blob();
      const url = URL.createObjectURL(blob);
      const a = document.createElement("a");
      a.href = url;
      a.download = `compliance-${org.slug}-${from}-${to}.${format}`;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      toast.success(`Report downloaded (${format.toUpperCase()})`);
    } catch (error) {
      toast.error((error as Error).message);
    } finally {
      setBusy(null);
    }
  }

  return (
    <form
      className="space-y-3"
      data-testid="download-report"
      onSubmit={(e) => {
        e.preventDefault();
        void download("pdf");
      }}
    >
      <div className="grid grid-cols-1 gap-3 sm:grid-cols-2">
        <Field label="From (UTC)" name="report-from" error={problem?.field === "from" ? problem.message : undefined}>
          <Input type="date" name="report-from" value={from} max={to || undefined} onChange={(e) => setFrom(e.target.value)} invalid={problem?.field === "from"} required />
        </Field>
        <Field label="To (UTC, included)" name="report-to" error={problem?.field === "to" ? problem.message : undefined}>
          <Input type="date" name="report-to" value={to} min={from || undefined} max={isoDate(Date.now())} onChange={(e) => setTo(e.target.value)} invalid={problem?.field === "to"} required />
        </Field>
      </div>
      <div className="flex flex-wrap gap-2">
        <Button type="submit" loading={busy === "pdf"} disabled={!!problem || busy !== null}>
          Download PDF
        </Button>
        <Button type="button" variant="secondary" loading={busy === "json"} disabled={!!problem || busy !== null} onClick={() => void download("json")}>
          Download JSON
        </Button>
      </div>
    </form>
  );
}
