import { expect, type APIRequestContext, type Page } from "@playwright/test";
import { CATALOG, DEMO_LOGINS } from "../prisma/seed-data";

export { DEMO_LOGINS };

/** The wizard's radio for the demo's tiny model, by its exact catalog name: other specs add look-alike
 *  catalog entries (the evidence spec's "Tiny random Llama (wrong digest)"), so a prefix is ambiguous. */
export const TINY_MODEL_CHOICE = { name: CATALOG.find((m) => m.slug === "tiny-random-llama")!.name, exact: true } as const;

export async function signIn(page: Page, email: string, password: string) {
  await page.goto("/signin");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).not.toHaveURL(/\/signin/);
}

export const uniqueEmail = (label: string) => `${label}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}@example.test`;

/** A REST call from the signed-in page (same origin), asserting 200 and returning the JSON body. */
export async function apiJson(request: APIRequestContext, method: "get" | "post" | "put" | "delete", url: string, origin: string, data?: unknown) {
  const res = await request[method](url, { headers: { origin, "content-type": "application/json" }, ...(data === undefined ? {} : { data }) });
  expect(res.status(), `${method.toUpperCase()} ${url}: ${await res.text()}`).toBe(200);
  return res.json();
}

/** The innermost elements reaching past the right edge of the screen: where to look when a page is too wide. */
export function widest(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const past = (e: Element) => e.getBoundingClientRect().right > window.innerWidth + 1;
    const describe = (e: Element) => `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ""}.${[...e.classList].slice(0, 4).join(".")} (right ${Math.round(e.getBoundingClientRect().right)} px) "${(e.textContent ?? "").trim().slice(0, 40)}"`;
    const hits = [...document.body.querySelectorAll("*")].filter((e) => past(e) && ![...e.children].some(past) && !e.closest("[data-scrollable], .sr-only"));
    return hits.slice(0, 4).map(describe);
  });
}

/**
 * The page scrolls only downwards at its current size (tables scroll in their own frame); a failure
 * names what sticks out. Retried for a few seconds: right after `setViewportSize` the charts still
 * have their previous width until their ResizeObserver fires and they re-render (a laptop's
 * two-column chart is ~490 px wide, which a 390 px phone showed for a moment on a slow machine).
 */
export async function expectNoSidewaysScroll(page: Page) {
  await expect(async () => {
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    const culprits = overflow > 1 ? (await widest(page)).join(" | ") : "";
    expect(overflow, `${page.url()} is ${overflow} px wider than its ${page.viewportSize()?.width} px screen: ${culprits}`).toBeLessThanOrEqual(1);
  }).toPass({ timeout: 10_000 });
}
