import type { Metadata } from "next";
import { ResidencyPage } from "@/components/residency/residency-page";

export const metadata: Metadata = { title: "Residency policies" };

export default function Page() {
  return <ResidencyPage />;
}
