"use client";
// Kept for the dashboards that import it from here; the hooks live in components/ui/url-state.ts.
export { useSearchParamChoice } from "../ui/url-state";
