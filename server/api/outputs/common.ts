/**
 * Building blocks of the procedures' output schemas. Outputs are validated (and unknown fields
 * stripped) for both transports, and they are what the OpenAPI document shows as responses.
 */
import { z } from "zod";
import { badRequest } from "../../errors";

/** A timestamp: a Date in the process and over tRPC (superjson), an RFC 3339 string over REST. */
export const dateTime = z.date().meta({ type: "string", format: "date-time" });

/** Any JSON value (audit diffs, free-form details). */
export const json = z.unknown();

/** Cursor paging for lists that grow: `cursor` is the `nextCursor` of the previous page. */
export const pageInput = z.object({
  cursor: z.string().min(1, "cursor is empty").max(64, "cursor is too long").optional().meta({ description: "The nextCursor of the previous page; omit for the first page" }),
  limit: z.coerce.number({ error: "limit must be a number" }).int("limit must be a whole number").min(1, "limit must be at least 1").max(200, "limit must be at most 200").default(50),
});
export type PageInput = z.infer<typeof pageInput>;

export const page = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item), nextCursor: z.string().nullable().meta({ description: "Pass as cursor to read the next page; null on the last page" }) });

/** One page of an ordered list, cut after the item whose id is the cursor (an unknown cursor is a 400). */
export function pageOf<T extends { id: string }>(items: T[], input: { cursor?: string; limit: number }): { items: T[]; nextCursor: string | null } {
  let start = 0;
  if (input.cursor) {
    const at = items.findIndex((i) => i.id === input.cursor);
    if (at < 0) throw badRequest("This cursor does not point into the list (any more); start again without a cursor", "cursor");
    start = at + 1;
  }
  const slice = items.slice(start, start + input.limit);
  return { items: slice, nextCursor: start + input.limit < items.length ? slice.at(-1)!.id : null };
}
