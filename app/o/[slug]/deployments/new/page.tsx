import type { Metadata } from "next";
import { NewDeploymentWizard } from "@/components/deployments/new-deployment-wizard";

export const metadata: Metadata = { title: "New deployment" };

export default function Page() {
  return <NewDeploymentWizard />;
}
