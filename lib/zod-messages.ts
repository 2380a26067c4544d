/**
 * Human words for zod's own messages, in one place: a schema without its own message still tells a
 * person what to do ("Use at most 254 characters", not "Too big: expected string to have <=254
 * characters"). Installed once as zod's global error map by lib/zod.ts; a schema's own message wins.
 */
import type { z } from "./zod";

type Issue = Parameters<NonNullable<z.core.$ZodErrorMap>>[0];

const count = (n: number | bigint) => Number(n).toLocaleString("en-GB");
const plural = (n: number | bigint, one: string, many = `${one}s`) => `${count(n)} ${Number(n) === 1 ? one : many}`;

export function humanZodMessage(issue: Issue): string | undefined {
  switch (issue.code) {
    case "too_big": {
      const max = issue.maximum as number | bigint;
      if (issue.origin === "string") return `Use at most ${plural(max, "character")}`;
      if (issue.origin === "array" || issue.origin === "set") return `Choose at most ${plural(max, "item")}`;
      if (issue.origin === "number" || issue.origin === "int" || issue.origin === "bigint") return issue.inclusive === false ? `Enter less than ${count(max)}` : `Enter at most ${count(max)}`;
      return undefined;
    }
    case "too_small": {
      const min = issue.minimum as number | bigint;
      if (issue.origin === "string") return Number(min) === 1 ? "This field is required" : `Use at least ${plural(min, "character")}`;
      if (issue.origin === "array" || issue.origin === "set") return Number(min) === 1 ? "Choose at least one" : `Choose at least ${plural(min, "item")}`;
      if (issue.origin === "number" || issue.origin === "int" || issue.origin === "bigint") return issue.inclusive === false ? `Enter more than ${count(min)}` : `Enter at least ${count(min)}`;
      return undefined;
    }
    case "invalid_type":
      if (issue.input === undefined || issue.input === null) return "This field is required";
      if (issue.expected === "number" || issue.expected === "int") return "Enter a number";
      if (issue.expected === "string") return "Enter text";
      if (issue.expected === "boolean") return "Choose yes or no";
      return undefined;
    case "invalid_format":
      if (issue.format === "email") return "Enter a valid email address";
      if (issue.format === "url") return "Enter a valid URL, such as https://example.eu";
      if (issue.format === "uuid" || issue.format === "cuid" || issue.format === "cuid2") return "This identifier is not valid";
      if (issue.format === "datetime" || issue.format === "date") return "Enter a valid date";
      return "This value does not have the expected format";
    case "invalid_value":
      return issue.values.length <= 8 ? `Choose one of ${issue.values.map(String).join(", ")}` : "Choose one of the offered values";
    case "unrecognized_keys":
      return `Remove the unknown ${issue.keys.length === 1 ? "field" : "fields"} ${issue.keys.join(", ")}`;
    case "not_multiple_of":
      return `Enter a multiple of ${String(issue.divisor)}`;
    default:
      return undefined;
  }
}
