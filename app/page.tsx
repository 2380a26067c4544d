import { redirect } from "next/navigation";
import { db } from "@/server/db";
import { requireUser } from "@/server/session";

export const dynamic = "force-dynamic";

/** Sends people where they belong: their first organisation, the admin area, or the welcome page. */
export default async function Home() {
  const user = await requireUser("/");
  const first = await db.membership.findFirst({ where: { userId: user.id }, orderBy: { createdAt: "asc" }, select: { org: { select: { slug: true } } } });
  if (first) redirect(`/o/${first.org.slug}`);
  if (user.platformAdmin) redirect("/admin/regions");
  redirect("/welcome");
}
