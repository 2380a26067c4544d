"use client";
import { API_KEY_LIMITS } from "@/lib/limits";
import { useCurrentOrg } from "../shell/org-context";
import { api } from "../trpc";
import { Checkbox, Fieldset } from "../ui/fields";
import { Field, Input } from "../ui/form";
import { LoadingState } from "../ui/states";

type Errors = Record<string, string[] | undefined>;

/** "" for an empty input, else the number typed (NaN if it is not one, which the server refuses with a message). */
export function optionalNumber(form: FormData, name: string): number | null {
  const raw = String(form.get(name) ?? "").trim();
  return raw === "" ? null : Number(raw);
}

/** A date input's day, as the end of that day in the person's time zone: the key works through it. */
export function endOfDay(value: string): Date | null {
  return value ? new Date(`${value}T23:59:59.999`) : null;
}

/** A Date as a date input's value (YYYY-MM-DD, local time). */
export function dateInputValue(date: Date | null | undefined): string {
  if (!date) return "";
  const d = new Date(date);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

export interface LimitDefaults {
  allowedDeploymentIds: string[];
  expiresAt: Date | null;
  rateLimitRpm: number | null;
  rateLimitTpm: number | null;
  monthlyBudgetEur: number | null;
  captureContent: boolean;
}

/** The content-capture checkbox's value in a submitted key form. */
export function captureContentOf(form: FormData): boolean {
  return form.get("captureContent") === "on";
}

/** The inputs the key dialogs show beside their fields: a refusal of one of these needs no toast. */
export const KEY_FORM_FIELDS = ["name", "scopes", "allowedDeploymentIds", "expiresAt", "rateLimitRpm", "rateLimitTpm", "monthlyBudgetEur"] as const;

/** The deployments a key may call, its expiry and its limits: the fields creating and editing a key share. */
export function KeyLimitsFields({ defaults, errors }: { defaults?: LimitDefaults; errors: Errors }) {
  const org = useCurrentOrg();
  const deployments = api.deployments.list.useQuery({ orgId: org.id, limit: 200 });
  const allowed = new Set(defaults?.allowedDeploymentIds ?? []);
  return (
    <>
      <Fieldset
        legend="Deployments"
        hint="Leave all unchecked to let the key call every deployment of the organisation, including future ones."
        error={errors.allowedDeploymentIds?.[0]}
        errorId="allowedDeploymentIds-error"
      >
        {deployments.isLoading ? (
          <LoadingState label="Loading deployments…" rows={1} />
        ) : deployments.error ? (
          <p role="alert" className="text-sm text-red-700">Could not load the deployments: {deployments.error.message}</p>
        ) : deployments.data?.items.length === 0 ? (
          <p className="text-sm text-slate-600">No deployments yet.</p>
        ) : (
          <div className="grid max-h-40 gap-1.5 overflow-y-auto sm:grid-cols-2">
            {deployments.data?.items.map((d) => (
              <Checkbox
                key={d.id}
                name="allowedDeploymentIds"
                value={d.id}
                defaultChecked={allowed.has(d.id)}
                label={<span className="font-mono text-xs">{d.name}</span>}
                hint={`${d.catalogModel.name} · ${d.phase.toLowerCase()}`}
              />
            ))}
          </div>
        )}
      </Fieldset>
      <Field label="Expires on" name="expiresAt" error={errors.expiresAt?.[0]} hint="Optional. The key works until the end of this day.">
        <Input name="expiresAt" type="date" min={dateInputValue(new Date())} defaultValue={dateInputValue(defaults?.expiresAt)} invalid={Boolean(errors.expiresAt)} />
      </Field>
      <div className="grid gap-3 sm:grid-cols-3">
        <Field label="Requests per minute" name="rateLimitRpm" error={errors.rateLimitRpm?.[0]} hint="Empty: no limit">
          <Input name="rateLimitRpm" type="number" inputMode="numeric" min={API_KEY_LIMITS.rateLimitRpm.min} max={API_KEY_LIMITS.rateLimitRpm.max} step={1} defaultValue={defaults?.rateLimitRpm ?? ""} invalid={Boolean(errors.rateLimitRpm)} />
        </Field>
        <Field label="Tokens per minute" name="rateLimitTpm" error={errors.rateLimitTpm?.[0]} hint="Empty: no limit">
          <Input name="rateLimitTpm" type="number" inputMode="numeric" min={API_KEY_LIMITS.rateLimitTpm.min} max={API_KEY_LIMITS.rateLimitTpm.max} step={1} defaultValue={defaults?.rateLimitTpm ?? ""} invalid={Boolean(errors.rateLimitTpm)} />
        </Field>
        <Field label="Monthly budget (€)" name="monthlyBudgetEur" error={errors.monthlyBudgetEur?.[0]} hint="Empty: no budget">
          <Input name="monthlyBudgetEur" type="number" inputMode="decimal" min={0.01} max={API_KEY_LIMITS.monthlyBudgetEur.max} step={0.01} defaultValue={defaults?.monthlyBudgetEur ?? ""} invalid={Boolean(errors.monthlyBudgetEur)} />
        </Field>
      </div>
      <Fieldset legend="Content capture">
        <Checkbox
          name="captureContent"
          defaultChecked={defaults?.captureContent ?? false}
          label="Capture content"
          hint="Stores prompts and completions of this key's requests in its traces, for as long as traces are kept. Leave off unless you need to review what was asked and answered: they may hold personal data."
        />
      </Fieldset>
    </>
  );
}
