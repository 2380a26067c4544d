/**
 * What Enclave's mails say (docs/email.md): plain text first, with a small HTML twin. Pure
 * functions, no I/O; every value from a person (names, notes) is escaped in the HTML.
 */
import { ROLE_LABELS } from "../../lib/roles";
import type { OrgRole } from "../generated/prisma/enums";

export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

/** Subjects are one line: a name with a newline must not start a new header. */
const oneLine = (s: string) => s.replace(/[\r\n]+/g, " ").trim();

function render(subject: string, paragraphs: string[], link?: { label: string; url: string }): RenderedMail {
  const footer = "— Enclave. You receive this mail because of your membership of an organisation on this platform.";
  const text = [...paragraphs, ...(link ? [`${link.label}: ${link.url}`] : []), footer].join("\n\n");
  const html = [
    ...paragraphs.map((p) => `<p>${escapeHtml(p).replace(/\n/g, "<br>")}</p>`),
    ...(link ? [`<p><a href="${escapeHtml(link.url)}">${escapeHtml(link.label)}</a></p>`] : []),
    `<p style="color:#666">${escapeHtml(footer)}</p>`,
  ].join("\n");
  return { subject: oneLine(subject), text, html };
}

const day = (d: Date) => d.toISOString().slice(0, 10);

export function invitationMail(input: { orgName: string; inviterName: string | null; role: OrgRole; acceptUrl: string; expiresAt: Date }): RenderedMail {
  const who = input.inviterName ? `${input.inviterName} invites you` : "You are invited";
  return render(
    `You are invited to join ${input.orgName} on Enclave`,
    [`${who} to join ${input.orgName} on Enclave as ${ROLE_LABELS[input.role].toLowerCase()}.`, `The link below is yours alone and works once, until ${day(input.expiresAt)}. If you did not expect this invitation, ignore this mail.`],
    { label: "Accept the invitation", url: input.acceptUrl },
  );
}

export function quotaDecisionMail(input: {
  orgName: string;
  decision: "approve" | "partial" | "reject";
  region: string;
  gpuType: string;
  askedGpus: number;
  grantedGpus: number;
  note: string | null;
  quotasUrl: string;
}): RenderedMail {
  const gpus = (n: number) => `${n} GPU${n === 1 ? "" : "s"}`;
  const what = `${gpus(input.askedGpus)} of ${input.gpuType} in ${input.region}`;
  const subject =
    input.decision === "approve"
      ? `Quota request approved: ${what}`
      : input.decision === "partial"
        ? `Quota request partially approved: ${gpus(input.grantedGpus)} of ${input.askedGpus} in ${input.region}`
        : `Quota request rejected: ${what}`;
  const verdict =
    input.decision === "reject"
      ? `Your request for ${what} for ${input.orgName} was rejected.`
      : `Your request for ${what} for ${input.orgName} was ${input.decision === "partial" ? "partially approved" : "approved"}: ${gpus(input.grantedGpus)} were added to the quota.`;
  return render(subject, [verdict, ...(input.note ? [`Note from the platform team:\n${input.note}`] : [])], { label: "See your quotas", url: input.quotasUrl });
}

export function budgetAlertMail(input: { orgName: string; month: string; threshold: number; percentUsed: number; spentEur: number; budgetEur: number; refusing: boolean; budgetUrl: string }): RenderedMail {
  const eur = (n: number) => `€${n.toFixed(2)}`;
  return render(
    `${input.orgName} reached ${input.threshold} % of its budget for ${input.month}`,
    [
      `${input.orgName} has spent ${eur(input.spentEur)} of its ${eur(input.budgetEur)} budget for ${input.month} (${input.percentUsed} %).`,
      ...(input.refusing ? ["The budget is hard: the gateway refuses the organisation's calls until the month ends or the budget is raised."] : []),
    ],
    { label: "See the budget", url: input.budgetUrl },
  );
}
