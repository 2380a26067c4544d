import type { Metadata } from "next";
import { EvidencePage } from "@/components/evidence/evidence-page";
import { requireOrgDeployment } from "@/server/page-access";

export const metadata: Metadata = { title: "Deployment evidence" };

export default async function Page({ params }: { params: Promise<{ slug: string; id: string }> }) {
  const { slug, id } = await params;
  await requireOrgDeployment(slug, id);
  return <EvidencePage deploymentId={id} />;
}
