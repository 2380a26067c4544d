import { expect, test } from "@playwright/test";
import { signIn, uniqueEmail } from "./helpers";

test("a new visitor signs up, lands on the empty overview of their organisation, and invites a member who joins", async ({ page, browser }) => {
  const ownerEmail = uniqueEmail("owner");
  const inviteeEmail = uniqueEmail("colleague");
  const orgName = `Agence Test ${Date.now().toString(36)}`;

  await page.goto("/");
  await expect(page).toHaveURL(/\/signin/);
  await page.getByRole("link", { name: "Create an organisation" }).click();

  // Bad input is refused next to the field, and nothing is lost.
  await page.getByLabel("Your name").fill("Camille Laurent");
  await page.getByLabel("Work email").fill(ownerEmail);
  await page.getByLabel("Password").fill("short");
  await page.getByLabel("Organisation name").fill(orgName);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.getByText("Use at least 12 characters")).toBeVisible();
  await expect(page.getByLabel("Organisation name")).toHaveValue(orgName);

  await page.getByLabel("Password").fill("a sovereign passphrase");
  await page.getByRole("button", { name: "Create account" }).click();

  await expect(page).toHaveURL(/\/o\/agence-test/);
  await expect(page.getByRole("heading", { name: orgName })).toBeVisible();
  await expect(page.getByText("No models deployed yet")).toBeVisible();
  await expect(page.getByTestId("signed-in-as")).toHaveText(ownerEmail);

  // Invite a colleague from Settings: the console shows the invitation's link, to send on.
  await page.getByRole("link", { name: "Settings" }).first().click();
  await page.getByLabel("Email").fill(inviteeEmail);
  await page.getByLabel("Role", { exact: true }).selectOption("ADMIN");
  await page.getByRole("button", { name: "Create invitation" }).click();
  await expect(page.getByText(`Invitation created for ${inviteeEmail}`)).toBeVisible();
  await expect(page.getByRole("region", { name: /pending invitations/i }).getByText(inviteeEmail)).toBeVisible();
  const link = await page.getByLabel(`Invitation link for ${inviteeEmail}`).inputValue();
  expect(link).toMatch(/\/invitations\/inv_[A-Za-z0-9_-]{43}$/);

  // The colleague opens the link, creates an account from it, and joins (no organisation of their own).
  const context = await browser.newContext();
  const colleague = await context.newPage();
  await colleague.goto(link);
  await expect(colleague.getByText(`invited you to join ${orgName}`)).toBeVisible();
  await colleague.getByLabel("Your name").fill("Jonas Weber");
  await expect(colleague.getByLabel("Work email")).toHaveValue(inviteeEmail);
  await colleague.getByLabel("Password").fill("another sovereign passphrase");
  await colleague.getByRole("button", { name: "Create account and join" }).click();
  await expect(colleague.getByRole("heading", { name: orgName })).toBeVisible();
  // The link worked once.
  await colleague.goto(link);
  await expect(colleague.getByRole("heading", { name: "This invitation link is not valid" })).toBeVisible();
  await context.close();

  // The owner now sees the colleague as an admin member.
  await page.reload();
  await expect(page.getByRole("row", { name: new RegExp(inviteeEmail) })).toBeVisible();
});

test("wrong credentials are refused with a clear message", async ({ page }) => {
  await page.goto("/signin");
  await page.getByLabel("Email").fill("nobody@example.test");
  await page.getByLabel("Password").fill("not the password");
  await page.getByRole("button", { name: "Sign in" }).click();
  // (Next.js keeps an empty route announcer with role "alert" on every page.)
  await expect(page.getByRole("alert").filter({ hasText: /./ })).toHaveText("Wrong email or password");
  await expect(page).toHaveURL(/\/signin/);
});

test("signing out ends the session", async ({ page }) => {
  const { DEMO_LOGINS } = await import("./helpers");
  const member = DEMO_LOGINS.tenants[0];
  await signIn(page, member.email, member.password);
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/signin/);
  await page.goto("/");
  await expect(page).toHaveURL(/\/signin/);
});
