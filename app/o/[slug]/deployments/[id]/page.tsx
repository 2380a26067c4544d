import type { Metadata } from "next";
import { DeploymentDetail } from "@/components/deployments/deployment-detail";
import { requireOrgDeployment } from "@/server/page-access";

export const metadata: Metadata = { title: "Deployment" };

export default async function Page({ params }: { params: Promise<{ slug: string; id: string }> }) {
  const { slug, id } = await params;
  await requireOrgDeployment(slug, id);
  return <DeploymentDetail deploymentId={id} />;
}
