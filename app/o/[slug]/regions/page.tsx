import type { Metadata } from "next";
import { RegionsPage } from "@/components/pages/regions";

export const metadata: Metadata = { title: "Regions" };

export default function Page() {
  return <RegionsPage />;
}
