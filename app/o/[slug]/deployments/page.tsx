import type { Metadata } from "next";
import { DeploymentsPage } from "@/components/pages/deployments";

export const metadata: Metadata = { title: "Deployments" };

export default function Page() {
  return <DeploymentsPage />;
}
