import { expect, type APIRequestContext, type Page } from "@playwright/test";
import { DEMO_LOGINS } from "../prisma/seed-data";

export { DEMO_LOGINS };

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
