import { expect, test } from "@playwright/test";
import { DEMO_LOGINS, signIn, uniqueEmail } from "./helpers";

// The settings journey through the mail path (docs/email.md): the invitation link is read from the
// mail Enclave wrote — the admin outbox, as the demo runs without SMTP_URL — not from the console.
test("an owner invites from Settings, the invitation mail waits in the admin outbox, the invitee joins through its link and gets another role", async ({ page, browser }) => {
  const ownerEmail = uniqueEmail("mail-owner");
  const inviteeEmail = uniqueEmail("mail-invitee");
  const orgName = `Mail Journey ${Date.now().toString(36)}`;

  await page.goto("/signup");
  await page.getByLabel("Your name").fill("Sofia Rossi");
  await page.getByLabel("Work email").fill(ownerEmail);
  await page.getByLabel("Password").fill("a sovereign passphrase");
  await page.getByLabel("Organisation name").fill(orgName);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.getByRole("heading", { name: orgName })).toBeVisible();

  await page.getByRole("link", { name: "Settings" }).first().click();
  await page.getByLabel("Email").fill(inviteeEmail);
  await page.getByLabel("Role", { exact: true }).selectOption("MEMBER");
  await page.getByRole("button", { name: "Create invitation" }).click();
  await expect(page.getByText(`Invitation created for ${inviteeEmail}`)).toBeVisible();

  // A platform admin reads the mail in the outbox: written, not sent (no SMTP_URL), with its link.
  const adminContext = await browser.newContext();
  const admin = await adminContext.newPage();
  await signIn(admin, DEMO_LOGINS.admin.email, DEMO_LOGINS.admin.password);
  await admin.goto("/admin");
  await admin.getByRole("link", { name: "Outbox" }).first().click();
  await expect(admin.getByRole("heading", { name: "Outbox", level: 1 })).toBeVisible();
  await admin.getByRole("group", { name: "Show mail" }).getByRole("button", { name: "Outbox only" }).click();
  await expect(admin).toHaveURL(/status=OUTBOX_ONLY/);
  const row = admin.getByRole("row", { name: new RegExp(inviteeEmail) });
  await expect(row).toContainText(`You are invited to join ${orgName} on Enclave`);
  await expect(row).toContainText("Outbox only");
  await row.getByRole("button", { name: /^Read the mail to/ }).click();
  const mail = admin.getByRole("dialog", { name: `You are invited to join ${orgName} on Enclave` });
  const text = await mail.getByLabel("Mail text").innerText();
  const link = /https?:\/\/\S+\/invitations\/inv_[A-Za-z0-9_-]{43}/.exec(text)?.[0];
  expect(link, text).toBeTruthy();
  await mail.getByRole("button", { name: "Close" }).click();
  await expect(mail).toBeHidden();
  await adminContext.close();

  // The invitee follows the mailed link and signs up from it.
  const inviteeContext = await browser.newContext();
  const invitee = await inviteeContext.newPage();
  await invitee.goto(link!);
  await expect(invitee.getByText(`invited you to join ${orgName}`)).toBeVisible();
  await invitee.getByLabel("Your name").fill("Noah Keller");
  await expect(invitee.getByLabel("Work email")).toHaveValue(inviteeEmail);
  await invitee.getByLabel("Password").fill("another sovereign passphrase");
  await invitee.getByRole("button", { name: "Create account and join" }).click();
  await expect(invitee.getByRole("heading", { name: orgName })).toBeVisible();
  await inviteeContext.close();

  // The owner sees the new member and makes them an admin; the change holds after a reload.
  await page.reload();
  const role = page.getByLabel(`Role of ${inviteeEmail}`);
  await expect(role).toHaveValue("MEMBER");
  await role.selectOption("ADMIN");
  await expect(page.getByText("Role changed")).toBeVisible();
  await page.reload();
  await expect(page.getByLabel(`Role of ${inviteeEmail}`)).toHaveValue("ADMIN");
});
