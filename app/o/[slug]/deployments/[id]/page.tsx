import type { Metadata } from "next";
import { DeploymentDetail } from "@/components/deployments/deployment-detail";

export const metadata: Metadata = { title: "Deployment" };

export default async function Page({ params }: { params: Promise<{ slug: string; id: string }> }) {
  const { id } = await params;
  return <DeploymentDetail deploymentId={id} />;
}
