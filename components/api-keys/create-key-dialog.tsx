"use client";
import type { FormEvent } from "react";
import { toast } from "sonner";
import { useCurrentOrg } from "../shell/org-context";
import { api, type RouterInputs } from "../trpc";
import { Button } from "../ui/button";
import { Dialog, DialogActions } from "../ui/dialog";
import { Checkbox, Fieldset } from "../ui/fields";
import { Field, Input, fieldErrorsOf, toastUnlessInline } from "../ui/form";
import type { RevealedKey } from "./key-reveal";
import { captureContentOf, endOfDay, KEY_FORM_FIELDS, KeyLimitsFields, optionalNumber } from "./key-form";

type Scope = RouterInputs["apiKeys"]["create"]["scopes"][number];

const SCOPES: { value: Scope; label: string; hint: string }[] = [
  { value: "inference", label: "Inference", hint: "Call models: chat, completions, embeddings" },
  { value: "read", label: "Read", hint: "List models and read usage" },
  { value: "manage", label: "Manage", hint: "Manage deployments and keys through the API" },
];

export function CreateKeyDialog({ onClose, onCreated }: { onClose: () => void; onCreated: (revealed: RevealedKey) => void }) {
  const org = useCurrentOrg();
  const utils = api.useUtils();
  const create = api.apiKeys.create.useMutation({
    onSuccess: async (created, input) => {
      toast.success(`API key ${created.name} created`);
      onCreated({ name: created.name, key: created.key, allowedDeploymentIds: input.allowedDeploymentIds ?? [] });
      await utils.apiKeys.list.invalidate({ orgId: org.id });
    },
    onError: (e) => toastUnlessInline(e, KEY_FORM_FIELDS),
  });
  const errors = fieldErrorsOf(create.error);

  function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    create.mutate({
      orgId: org.id,
      name: String(form.get("name") ?? ""),
      scopes: form.getAll("scopes").map(String) as Scope[],
      allowedDeploymentIds: form.getAll("allowedDeploymentIds").map(String),
      expiresAt: endOfDay(String(form.get("expiresAt") ?? "")),
      rateLimitRpm: optionalNumber(form, "rateLimitRpm"),
      rateLimitTpm: optionalNumber(form, "rateLimitTpm"),
      monthlyBudgetEur: optionalNumber(form, "monthlyBudgetEur"),
      captureContent: captureContentOf(form),
    });
  }

  return (
    <Dialog title="Create API key" description="The key is shown once, right after it is created." onClose={onClose} size="lg">
      <form onSubmit={onSubmit} noValidate className="space-y-4">
        <Field label="Name" name="name" error={errors.name?.[0]} hint="What uses it, e.g. support-bot-production.">
          <Input name="name" required maxLength={100} autoComplete="off" invalid={Boolean(errors.name)} />
        </Field>
        <Fieldset legend="Scopes" error={errors.scopes?.[0]} errorId="scopes-error">
          {SCOPES.map((s) => (
            <Checkbox key={s.value} name="scopes" value={s.value} label={s.label} hint={s.hint} defaultChecked={s.value === "inference"} />
          ))}
        </Fieldset>
        <KeyLimitsFields errors={errors} />
        <DialogActions>
          <Button type="button" variant="secondary" onClick={onClose}>
            Cancel
          </Button>
          <Button type="submit" loading={create.isPending}>
            Create key
          </Button>
        </DialogActions>
      </form>
    </Dialog>
  );
}
