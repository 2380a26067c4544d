"use client";
import { useState, type FormEvent } from "react";
import { toast } from "sonner";
import { formatDateTime } from "../format";
import { useCurrentOrg } from "../shell/org-context";
import { api, type RouterInputs, type RouterOutputs } from "../trpc";
import { Button } from "../ui/button";
import { Dialog, DialogActions } from "../ui/dialog";
import { ConfirmDialog } from "../ui/confirm-dialog";
import { Field, Input, Select, fieldErrorsOf, toastUnlessInline } from "../ui/form";
import { captureContentOf, dateInputValue, endOfDay, KEY_FORM_FIELDS, KeyLimitsFields, optionalNumber } from "./key-form";
import type { RevealedKey } from "./key-reveal";

export type ApiKeyRow = RouterOutputs["apiKeys"]["list"]["items"][number];

const GRACE_PERIODS = [
  { minutes: 0, label: "None: the current key stops at once" },
  { minutes: 60, label: "1 hour" },
  { minutes: 24 * 60, label: "24 hours" },
  { minutes: 7 * 24 * 60, label: "7 days" },
];

export function RotateKeyDialog({ apiKey, onClose, onRotated }: { apiKey: ApiKeyRow; onClose: () => void; onRotated: (revealed: RevealedKey) => void }) {
  const org = useCurrentOrg();
  const utils = api.useUtils();
  const [graceMinutes, setGraceMinutes] = useState(24 * 60);
  const rotate = api.apiKeys.rotate.useMutation({
    onSuccess: async (rotated) => {
      toast.success(`API key ${rotated.name} rotated`);
      onRotated({
        name: rotated.name,
        key: rotated.key,
        allowedDeploymentIds: apiKey.allowedDeployments.map((d) => d.id),
        previous: rotated.previousPrefix && rotated.previousSecretExpiresAt ? { prefix: rotated.previousPrefix, until: rotated.previousSecretExpiresAt } : null,
      });
      await utils.apiKeys.list.invalidate({ orgId: org.id });
    },
    onError: (e) => toastUnlessInline(e, ["graceMinutes"]),
  });
  const error = fieldErrorsOf(rotate.error).graceMinutes?.[0];
  function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    rotate.mutate({ orgId: org.id, apiKeyId: apiKey.id, graceMinutes });
  }
  return (
    <Dialog
      title={`Rotate ${apiKey.name}`}
      description="A new secret replaces the current one; the key keeps its name, scopes, limits and usage history."
      onClose={onClose}
      size="sm"
    >
      <form onSubmit={onSubmit} noValidate className="space-y-4">
        <Field label="Grace period" name="graceMinutes" error={error} hint="How long the current secret keeps working, so programs can switch without downtime.">
          <Select name="graceMinutes" value={graceMinutes} onChange={(e) => setGraceMinutes(Number(e.target.value))} invalid={Boolean(error)}>
            {GRACE_PERIODS.map((g) => (
              <option key={g.minutes} value={g.minutes}>
                {g.label}
              </option>
            ))}
          </Select>
        </Field>
        <DialogActions>
          <Button type="button" variant="secondary" onClick={onClose}>
            Cancel
          </Button>
          <Button type="submit" loading={rotate.isPending}>
            Rotate key
          </Button>
        </DialogActions>
      </form>
    </Dialog>
  );
}

export function RevokeKeyDialog({ apiKey, onClose }: { apiKey: ApiKeyRow; onClose: () => void }) {
  const org = useCurrentOrg();
  const utils = api.useUtils();
  const revoke = api.apiKeys.revoke.useMutation({
    onSuccess: async () => {
      toast.success(`API key ${apiKey.name} revoked`);
      onClose();
      await utils.apiKeys.list.invalidate({ orgId: org.id });
    },
    onError: (e) => toast.error(e.message),
  });
  return (
    <ConfirmDialog title={`Revoke ${apiKey.name}?`} confirmLabel="Revoke key" pending={revoke.isPending} onClose={onClose} onConfirm={() => revoke.mutate({ orgId: org.id, apiKeyId: apiKey.id })}>
      <p>
        Programs using <code className="font-mono text-xs">enc_{apiKey.prefix}_…</code>
        {apiKey.previousPrefix && (
          <>
            {" "}
            or <code className="font-mono text-xs">enc_{apiKey.previousPrefix}_…</code>
          </>
        )}{" "}
        are refused from now on. This cannot be undone.
      </p>
    </ConfirmDialog>
  );
}

type UpdateInput = RouterInputs["apiKeys"]["update"];

export function EditKeyDialog({ apiKey, onClose }: { apiKey: ApiKeyRow; onClose: () => void }) {
  const org = useCurrentOrg();
  const utils = api.useUtils();
  const update = api.apiKeys.update.useMutation({
    onSuccess: async (updated) => {
      toast.success(`API key ${updated.name} saved`);
      onClose();
      await utils.apiKeys.list.invalidate({ orgId: org.id });
    },
    onError: (e) => toastUnlessInline(e, KEY_FORM_FIELDS),
  });
  const errors = fieldErrorsOf(update.error);
  const defaults = {
    allowedDeploymentIds: apiKey.allowedDeployments.map((d) => d.id),
    expiresAt: apiKey.expiresAt,
    rateLimitRpm: apiKey.rateLimitRpm,
    rateLimitTpm: apiKey.rateLimitTpm,
    monthlyBudgetEur: apiKey.monthlyBudgetEur,
    captureContent: apiKey.captureContent,
  };

  function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const input: UpdateInput = {
      orgId: org.id,
      apiKeyId: apiKey.id,
      name: String(form.get("name") ?? ""),
      rateLimitRpm: optionalNumber(form, "rateLimitRpm"),
      rateLimitTpm: optionalNumber(form, "rateLimitTpm"),
      monthlyBudgetEur: optionalNumber(form, "monthlyBudgetEur"),
      captureContent: captureContentOf(form),
    };
    // Only what was changed: an untouched past expiry must not be refused, and a deployment
    // deleted since must not silently turn "these deployments" into "every deployment".
    const expiry = String(form.get("expiresAt") ?? "");
    if (expiry !== dateInputValue(apiKey.expiresAt)) input.expiresAt = endOfDay(expiry);
    const chosen = form.getAll("allowedDeploymentIds").map(String);
    const live = defaults.allowedDeploymentIds.filter((id) => apiKey.allowedDeployments.some((d) => d.id === id && !d.deleted));
    if (chosen.length !== live.length || chosen.some((id) => !live.includes(id))) input.allowedDeploymentIds = chosen;
    update.mutate(input);
  }

  return (
    <Dialog title={`Edit ${apiKey.name}`} description={`Scopes: ${apiKey.scopes.join(", ")}. To change them, create a new key.`} onClose={onClose} size="lg">
      <form onSubmit={onSubmit} noValidate className="space-y-4">
        <Field label="Name" name="name" error={errors.name?.[0]}>
          <Input name="name" required maxLength={100} autoComplete="off" defaultValue={apiKey.name} invalid={Boolean(errors.name)} />
        </Field>
        <KeyLimitsFields defaults={defaults} errors={errors} />
        {apiKey.expiresAt && new Date(apiKey.expiresAt) < new Date() && <p className="text-sm text-amber-800">This key expired on {formatDateTime(apiKey.expiresAt)}; choose a later date to use it again.</p>}
        <DialogActions>
          <Button type="button" variant="secondary" onClick={onClose}>
            Cancel
          </Button>
          <Button type="submit" loading={update.isPending}>
            Save changes
          </Button>
        </DialogActions>
      </form>
    </Dialog>
  );
}
