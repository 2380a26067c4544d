import type { Metadata } from "next";
import { Welcome } from "@/components/welcome";
import { requireUser } from "@/server/session";

export const metadata: Metadata = { title: "Welcome" };
export const dynamic = "force-dynamic";

export default async function WelcomePage() {
  await requireUser("/welcome");
  return <Welcome />;
}
