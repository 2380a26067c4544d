import { redirect } from "next/navigation";
import { db } from "./db";
import { getSession } from "./auth";

/** For server components: the signed-in user (re-read from the database), or a redirect to sign-in. */
export async function requireUser(callbackUrl: string) {
  const session = await getSession();
  const user = session?.user?.id
    ? await db.user.findUnique({ where: { id: session.user.id }, select: { id: true, email: true, name: true, platformAdmin: true } })
    : null;
  if (!user) redirect(`/signin?callbackUrl=${encodeURIComponent(callbackUrl)}`);
  return user;
}
