import { randomUUID } from "node:crypto";
import type { Actor } from "../services/audit";

/** What every procedure knows about the request. The session is reduced to the user id; the user is re-read per request. */
export interface Context {
  userId: string | null;
  ip: string | null;
  requestId: string;
}

export function createContext(input: { userId: string | null; ip?: string | null; requestId?: string }): Context {
  return { userId: input.userId, ip: input.ip ?? null, requestId: input.requestId ?? randomUUID() };
}

export function userActor(ctx: Context, user: { id: string; email: string }): Actor {
  return { type: "USER", id: user.id, label: user.email, ip: ctx.ip, requestId: ctx.requestId };
}
