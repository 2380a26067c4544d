"use client";
import Link from "next/link";
import { usePathname, useRouter } from "next/navigation";
import { signOut } from "next-auth/react";
import { useState, type ReactNode } from "react";
import { ROLE_LABELS } from "@/lib/roles";
import { api } from "../trpc";
import { ErrorState, LoadingState } from "../ui/states";
import { OrgProvider, type CurrentOrg } from "./org-context";

export const TENANT_NAV = [
  { href: "", label: "Overview" },
  { href: "/deployments", label: "Deployments" },
  { href: "/routes", label: "Routes" },
  { href: "/quotas", label: "Quotas" },
  { href: "/regions", label: "Regions" },
  { href: "/api-keys", label: "API keys" },
  { href: "/api-reference", label: "API reference" },
  { href: "/usage", label: "Usage" },
  { href: "/traces", label: "Traces" },
  { href: "/guardrails", label: "Guardrails" },
  { href: "/residency", label: "Residency policies" },
  { href: "/compliance", label: "Compliance" },
  { href: "/settings", label: "Settings" },
] as const;

export const ADMIN_NAV = [
  { href: "/admin", label: "Dashboard" },
  { href: "/admin/regions", label: "Regions" },
  { href: "/admin/catalog", label: "Catalog" },
  { href: "/admin/quotas", label: "Quotas & requests" },
  { href: "/admin/organizations", label: "Organisations" },
  { href: "/admin/imports", label: "Import" },
  { href: "/admin/compliance", label: "Compliance" },
  { href: "/admin/outbox", label: "Outbox" },
  { href: "/admin/settings", label: "Platform settings" },
] as const;

function NavLink({ href, label, onNavigate }: { href: string; label: string; onNavigate: () => void }) {
  const pathname = usePathname();
  const active = pathname === href || (href.split("/").length > 3 && pathname.startsWith(href + "/"));
  return (
    <Link
      href={href}
      onClick={onNavigate}
      aria-current={active ? "page" : undefined}
      className={`block rounded-md px-3 py-2 text-sm font-medium ${active ? "bg-brand-50 text-brand-700" : "text-slate-700 hover:bg-slate-100"}`}
    >
      {label}
    </Link>
  );
}

/**
 * The console frame: navigation (tenant pages for the current organisation, admin pages for
 * platform admins), organisation switcher and account menu. `orgSlug` is null in the admin area.
 * `initialOrg` is the membership the server layout checked: the page renders with it at once (on
 * the server too, so a page's notFound() still answers 404) while the menus load.
 */
export function ConsoleShell({ orgSlug, initialOrg = null, children }: { orgSlug: string | null; initialOrg?: CurrentOrg | null; children: ReactNode }) {
  const me = api.account.me.useQuery();
  const router = useRouter();
  const [menuOpen, setMenuOpen] = useState(false);

  if (me.error && !me.data) return <div className="p-6"><ErrorState error={me.error} onRetry={() => me.refetch()} /></div>;

  const memberships = me.data?.memberships;
  const membership = orgSlug && memberships ? memberships.find((m) => m.org.slug === orgSlug) : undefined;
  // Once the account is loaded it is the truth (a role changed, a membership removed meanwhile).
  const currentOrg: CurrentOrg | null = memberships ? (membership ? { ...membership.org, role: membership.role } : null) : initialOrg;
  if (orgSlug && !currentOrg) {
    if (!memberships) return <div className="p-6"><LoadingState label="Loading your organisations…" /></div>;
    return (
      <div className="mx-auto max-w-lg p-6">
        <ErrorState error={{ message: "This organisation does not exist or you are not a member of it." }} />
        <Link href="/" className="mt-4 inline-block text-sm font-medium text-brand-700 underline">Go to your organisations</Link>
      </div>
    );
  }
  const close = () => setMenuOpen(false);
  const base = currentOrg ? `/o/${currentOrg.slug}` : null;
  const fallbackOrg = currentOrg ?? memberships?.[0]?.org ?? null;

  const nav = me.data ? (
    <nav aria-label="Main" className="space-y-6">
      {fallbackOrg && (
        <div>
          <p className="px-3 pb-1 text-xs font-semibold uppercase tracking-wide text-slate-500">Organisation</p>
          {TENANT_NAV.map((item) => (
            <NavLink key={item.href} href={`${base ?? `/o/${fallbackOrg.slug}`}${item.href}`} label={item.label} onNavigate={close} />
          ))}
        </div>
      )}
      {me.data.user.platformAdmin && (
        <div>
          <p className="px-3 pb-1 text-xs font-semibold uppercase tracking-wide text-slate-500">Platform admin</p>
          {ADMIN_NAV.map((item) => (
            <NavLink key={item.href} href={item.href} label={item.label} onNavigate={close} />
          ))}
        </div>
      )}
    </nav>
  ) : (
    <LoadingState label="Loading your organisations…" rows={4} />
  );

  return (
    <div className="min-h-screen lg:grid lg:grid-cols-[15rem_1fr]">
      <a href="#main" className="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:z-50 focus:rounded focus:bg-white focus:px-3 focus:py-2">
        Skip to content
      </a>
      <aside className="hidden border-r border-slate-200 bg-white p-4 lg:block">
        <Link href="/" className="mb-6 block px-3 text-lg font-semibold tracking-tight text-brand-700">Enclave</Link>
        {nav}
      </aside>
      <div className="min-w-0">
        {/* On a phone the organisation selector takes a row of its own, so nothing wraps over it. */}
        <header className="flex flex-wrap items-center gap-x-3 gap-y-2 border-b border-slate-200 bg-white px-4 py-3 sm:flex-nowrap">
          <button
            type="button"
            className="shrink-0 rounded-md border border-slate-300 px-2 py-1 text-sm lg:hidden"
            aria-expanded={menuOpen}
            aria-controls="mobile-nav"
            onClick={() => setMenuOpen((o) => !o)}
          >
            Menu
          </button>
          <span className="font-semibold text-brand-700 lg:hidden">Enclave</span>
          {memberships && memberships.length > 0 && (
            <label className="order-last flex min-w-0 basis-full items-center gap-2 text-sm sm:order-none sm:basis-auto">
              <span className="sr-only">Organisation</span>
              <select
                aria-label="Switch organisation"
                className="w-full min-w-0 truncate rounded-md border border-slate-300 bg-white px-2 py-1 text-sm sm:w-auto sm:max-w-[14rem]"
                value={currentOrg?.slug ?? ""}
                onChange={(e) => router.push(`/o/${e.target.value}`)}
              >
                {!currentOrg && <option value="">Choose an organisation…</option>}
                {memberships.map((m) => (
                  <option key={m.org.id} value={m.org.slug}>
                    {m.org.name} ({ROLE_LABELS[m.role]})
                  </option>
                ))}
              </select>
            </label>
          )}
          <div className="ml-auto flex min-w-0 items-center gap-3 text-sm">
            {me.data && <span className="hidden truncate text-slate-600 md:inline" data-testid="signed-in-as">{me.data.user.email}</span>}
            <button type="button" className="shrink-0 whitespace-nowrap rounded-md px-2 py-1 text-slate-700 hover:bg-slate-100" onClick={() => signOut({ callbackUrl: "/signin" })}>
              Sign out
            </button>
          </div>
        </header>
        {menuOpen && (
          <div id="mobile-nav" className="border-b border-slate-200 bg-white p-4 lg:hidden">
            {nav}
          </div>
        )}
        <main id="main" className="mx-auto max-w-6xl p-4 sm:p-6">
          {currentOrg ? <OrgProvider value={currentOrg}>{children}</OrgProvider> : children}
        </main>
      </div>
    </div>
  );
}
