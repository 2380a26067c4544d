"use client";

import dynamic from "next/dynamic";
import { LoadingState } from "@/components/ui/states";
import { ScrollRegion } from "@/components/ui/scroll-region";

// Scalar's renderer, bundled with the console (no CDN, no fonts from elsewhere, no proxy): "try it"
// calls /api/v1 from this page, so the caller's own session (same origin) authenticates it.
const ApiReferenceReact = dynamic(() => import("@scalar/api-reference-react").then((m) => m.ApiReferenceReact), {
  ssr: false,
  loading: () => <LoadingState label="Loading the API reference…" rows={4} />,
});

export function ApiReference() {
  return (
    // Scalar's layout is wider than a phone in places: it scrolls inside its own frame, not the page.
    <ScrollRegion label="API reference">
    <div className="api-reference" data-testid="api-reference">
      <ApiReferenceReact
        configuration={{
          url: "/api/v1/openapi.json",
          withDefaultFonts: false,
          hideClientButton: false,
          telemetry: false,
          // Scalar's hosted AI agent would send the document to Scalar's servers: off.
          agent: { disabled: true },
          hideDarkModeToggle: true,
          defaultOpenAllTags: false,
          servers: [{ url: "/api/v1", description: "This installation" }],
        }}
      />
    </div>
    </ScrollRegion>
  );
}
