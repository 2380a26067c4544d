import type { Metadata } from "next";
import { Suspense } from "react";
import { TracesPage } from "@/components/traces/traces-page";
import { LoadingState } from "@/components/ui/states";

export const metadata: Metadata = { title: "Traces" };

export default function Page() {
  // The filters live in the URL (useSearchParams), read on the client.
  return (
    <Suspense fallback={<LoadingState label="Loading traces…" />}>
      <TracesPage />
    </Suspense>
  );
}
