"use client";

import dynamic from "next/dynamic";
import { LoadingState } from "@/components/ui/states";

// Scalar's renderer, bundled with the console (no CDN, no fonts from elsewhere, no proxy): "try it"
// calls /api/v1 from this page, so the caller's own session (same origin) authenticates it.
const ApiReferenceReact = dynamic(() => import("@scalar/api-reference-react").then((m) => m.ApiReferenceReact), {
  ssr: false,
  loading: () => <LoadingState label="Loading the API reference…" rows={4} />,
});

export function ApiReference() {
  return (
    <div className="api-reference -mx-4 sm:mx-0" data-testid="api-reference">
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
  );
}
