import { expect, test } from "@playwright/test";
import { DEMO_LOGINS, signIn } from "./helpers";

const claire = DEMO_LOGINS.tenants.find((t) => t.email.startsWith("claire"))!;

// The policy is saved disabled, so the demo deployment that other journeys call keeps its replica.
test("a tenant edits the autoscaling policy on the deployment page: errors beside the fields, the save toasts and appears in the events", async ({ page }) => {
  await signIn(page, claire.email, claire.password);
  await page.goto("/o/hopital-rive-gauche/deployments");
  await page.getByRole("link", { name: "tiny-demo" }).first().click();
  const form = page.getByRole("form", { name: "Autoscaling policy" });
  await expect(form).toBeVisible();

  await form.getByLabel("Maximum replicas").fill("99");
  await form.getByRole("button", { name: "Save policy" }).click();
  await expect(form.getByRole("alert")).toHaveText("Maximum replicas must be at most 64");

  // Within the schema but beyond the organisation's quota: the server says by how much.
  await form.getByLabel("Maximum replicas").fill("60");
  await form.getByRole("button", { name: "Save policy" }).click();
  await expect(page.getByText(/Maximum replicas 60 would need 60 .* the organisation's quota there is/).first()).toBeVisible();

  await form.getByLabel("Maximum replicas").fill("1");
  await form.getByLabel("Minimum replicas").fill("1");
  await form.getByLabel("Idle timeout to zero (s)").fill("120");
  await form.getByRole("button", { name: "Save policy" }).click();
  await expect(page.getByText("Autoscaling turned off")).toBeVisible();
  await expect(page.getByRole("list", { name: "Events, newest first" })).toContainText("Autoscaling off; manual scaling within 1–1 replica(s)");
});
