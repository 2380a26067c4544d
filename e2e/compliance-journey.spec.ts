import { expect, test } from "@playwright/test";
import { verifyCheckpointNote } from "../server/audit/note";
import { DEMO_LOGINS, signIn } from "./helpers";

const claire = DEMO_LOGINS.tenants.find((t) => t.email.startsWith("claire"))!;
const ORG = "hopital-rive-gauche";

/**
 * Verify integrity (docs/audit-log.md): an owner signs a checkpoint of the organisation's audit
 * log on demand, the card shows it, its signed note checks out offline against the published
 * verifier key alone, and the hash chain verifies intact.
 */
test("an owner signs an audit checkpoint on demand, and it verifies offline with the published key, as the chain does", async ({ page, context }) => {
  test.setTimeout(120_000);
  await context.grantPermissions(["clipboard-read", "clipboard-write"]);
  await signIn(page, claire.email, claire.password);
  const before = (await (await page.request.get(`/api/v1/orgs/${ORG}/audit/checkpoint`)).json()) as { events: number; latest: { treeSize: number } | null };

  await page.goto(`/o/${ORG}/compliance`);
  const card = page.getByTestId("audit-checkpoints");
  await card.getByRole("button", { name: "Sign a checkpoint now" }).click();
  const toast = page.getByText(/^Checkpoint signed at tree size [\d,]+/);
  await expect(toast).toBeVisible();
  const size = Number((await toast.textContent())!.match(/tree size ([\d,]+)/)![1].replace(/,/g, ""));
  // The request is itself an audit event, so the new checkpoint covers every event so far, that one included.
  expect(size).toBeGreaterThanOrEqual(before.events + 1);
  expect(size).toBeGreaterThan(before.latest?.treeSize ?? 0);

  // What the card shows is what the API serves…
  const status = (await (await page.request.get(`/api/v1/orgs/${ORG}/audit/checkpoint`)).json()) as { latest: { treeSize: number; rootHash: string; note: string }; verifierKey: string };
  // The installation also signs on its own every few minutes: the latest is this one, or a later one.
  expect(status.latest.treeSize).toBeGreaterThanOrEqual(size);
  await expect(page.getByTestId("audit-checkpoint-root")).toHaveText(status.latest.rootHash);
  // …and the signed note the card copies is that checkpoint's.
  await card.getByRole("button", { name: "Copy signed note" }).click();
  const note = await page.evaluate(() => navigator.clipboard.readText());
  expect(note).toBe(status.latest.note);

  // An auditor needs only the published verifier key to check it; another key, or an edited note, fails.
  const vkey = (await (await page.request.get("/api/v1/audit/verifier-key")).json()).verifierKey as string;
  expect(vkey).toBe(status.verifierKey);
  const verified = verifyCheckpointNote(note, [vkey]);
  expect(verified).toMatchObject({ ok: true, body: { treeSize: status.latest.treeSize, rootHash: status.latest.rootHash } });
  const tampered = note.replace(`\n${status.latest.treeSize}\n`, `\n${status.latest.treeSize + 1}\n`);
  expect(tampered).not.toBe(note);
  expect(verifyCheckpointNote(tampered, [vkey]).ok).toBe(false);

  // The hash chain itself, verified on demand from the audit trail.
  await page.getByRole("button", { name: "Verify integrity" }).click();
  await expect(page.getByText(/^Audit trail intact: \d+ events verified$/)).toBeVisible();
  await expect(page.getByText(/^Verified: \d+ events intact$/)).toBeVisible();
});
