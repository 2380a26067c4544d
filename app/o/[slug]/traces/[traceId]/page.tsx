import type { Metadata } from "next";
import { TraceView } from "@/components/traces/trace-view";
import { requireOrgTrace } from "@/server/page-access";

export const metadata: Metadata = { title: "Trace" };

export default async function Page({ params }: { params: Promise<{ slug: string; traceId: string }> }) {
  const { slug, traceId } = await params;
  await requireOrgTrace(slug, traceId);
  return <TraceView traceId={traceId} />;
}
