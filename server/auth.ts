import type { NextAuthOptions } from "next-auth";
import CredentialsProvider from "next-auth/providers/credentials";
import { getServerSession } from "next-auth";
import { z } from "zod";
// The client address scripts/console-server.ts resolved (TRUSTED_PROXIES); a client-sent X-Forwarded-For is never read.
import { clientIpFromHeaders } from "./client-ip";
import { env, oidcConfigured } from "./env";
import { SignInRefused, authenticateWithPassword, signInWithLink, upsertOidcUser } from "./services/accounts";

declare module "next-auth" {
  interface Session {
    user: { id: string; email: string; name: string };
  }
}

const credentialsSchema = z.object({ email: z.string().email(), password: z.string().min(1).max(200) });
const linkSchema = z.object({ token: z.string().min(1).max(100), password: z.string().max(200).optional() });


/** Only a literal `true` (or "true", as some providers send it) counts as verified. */
export function emailVerifiedClaim(profile: unknown): boolean {
  const claim = (profile as { email_verified?: unknown } | undefined)?.email_verified;
  return claim === true || claim === "true";
}

let cached: NextAuthOptions | undefined;

/** next-auth options, built on first use (after the environment is validated). */
export function authOptions(): NextAuthOptions {
  if (cached) return cached;
  const e = env();
  const providers: NextAuthOptions["providers"] = [
    CredentialsProvider({
      id: "credentials",
      name: "Email and password",
      credentials: { email: { label: "Email", type: "email" }, password: { label: "Password", type: "password" } },
      async authorize(credentials, req) {
        const parsed = credentialsSchema.safeParse(credentials);
        if (!parsed.success) throw new Error("Enter a valid email and your password");
        // A refusal's message reaches the sign-in form as `error`.
        const user = await authenticateWithPassword({ ...parsed.data, ip: clientIpFromHeaders(req?.headers) });
        return { id: user.id, email: user.email, name: user.name };
      },
    }),
    // One-time sign-in links (`npm run admin:create`): the token is consumed on use.
    CredentialsProvider({
      id: "sign-in-link",
      name: "One-time sign-in link",
      credentials: { token: { label: "Token", type: "text" }, password: { label: "New password", type: "password" } },
      async authorize(credentials, req) {
        const parsed = linkSchema.safeParse(credentials);
        if (!parsed.success) throw new Error("This sign-in link is not valid");
        const user = await signInWithLink({ token: parsed.data.token, newPassword: parsed.data.password }, { ip: clientIpFromHeaders(req?.headers) });
        return { id: user.id, email: user.email, name: user.name };
      },
    }),
  ];
  if (oidcConfigured()) {
    providers.push({
      id: "oidc",
      name: e.OIDC_DISPLAY_NAME,
      type: "oauth",
      wellKnown: `${e.OIDC_ISSUER!.replace(/\/$/, "")}/.well-known/openid-configuration`,
      clientId: e.OIDC_CLIENT_ID,
      clientSecret: e.OIDC_CLIENT_SECRET,
      authorization: { params: { scope: "openid email profile" } },
      idToken: true,
      checks: ["pkce", "state"],
      profile(profile: { sub: string; email?: string; name?: string; given_name?: string; family_name?: string }) {
        const name = profile.name ?? [profile.given_name, profile.family_name].filter(Boolean).join(" ");
        return { id: profile.sub, email: profile.email ?? "", name: name || profile.email || profile.sub };
      },
    });
  }
  cached = {
    secret: e.NEXTAUTH_SECRET,
    session: { strategy: "jwt", maxAge: 12 * 3600 },
    pages: { signIn: "/signin", error: "/signin" },
    providers,
    callbacks: {
      async signIn({ user, account, profile }) {
        if (account?.provider !== "oidc") return true;
        if (!user.email) return "/signin?error=OidcNoEmail";
        try {
          const local = await upsertOidcUser({ subject: account.providerAccountId, email: user.email, name: user.name ?? "", emailVerified: emailVerifiedClaim(profile) });
          user.id = local.id;
          return true;
        } catch (error) {
          if (error instanceof SignInRefused && error.reason) return `/signin?error=${error.reason}`;
          throw error;
        }
      },
      async jwt({ token, user }) {
        if (user) token.uid = user.id;
        return token;
      },
      async session({ session, token }) {
        session.user = { id: String(token.uid), email: token.email ?? "", name: token.name ?? "" };
        return session;
      },
    },
  };
  return cached;
}

export function getSession() {
  return getServerSession(authOptions());
}
