import type { Metadata } from "next";
import { Forbidden } from "@/components/access-denied";

export const metadata: Metadata = { title: "No access" };

/** Rendered, with a 403, wherever a page calls forbidden() (server/page-access.ts). */
export default function ForbiddenPage() {
  return <Forbidden />;
}
