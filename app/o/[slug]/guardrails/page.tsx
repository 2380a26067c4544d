import type { Metadata } from "next";
import { GuardrailsPage } from "@/components/guardrails/guardrails-page";

export const metadata: Metadata = { title: "Guardrails" };

export default function Page() {
  return <GuardrailsPage />;
}
