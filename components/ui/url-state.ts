"use client";
import { usePathname, useRouter, useSearchParams } from "next/navigation";
import { useCallback, useEffect, useState } from "react";

/**
 * The console's one way to keep a view's filters in its query string (`?dataClass=RESTRICTED&cert=HDS`),
 * so a filtered view can be reloaded and shared. `router.replace`: filtering adds no history entry.
 * A value equal to its default is left out of the URL; unknown values read as the default.
 */
function useQueryWriter() {
  const urlParams = useSearchParams();
  const pathname = usePathname();
  const router = useRouter();
  // What was just chosen, until the new URL arrives (router.replace is a transition): a controlled
  // checkbox would otherwise snap back for a moment and ignore the click.
  const [pending, setPending] = useState<URLSearchParams | null>(null);
  const urlKey = urlParams.toString();
  useEffect(() => setPending(null), [urlKey]);
  const params = pending ?? urlParams;
  const write = useCallback(
    (name: string, values: readonly string[]) => {
      const query = new URLSearchParams(params.toString());
      query.delete(name);
      for (const v of values) query.append(name, v);
      const search = query.toString();
      setPending(query);
      router.replace(search ? `${pathname}?${search}` : pathname, { scroll: false });
    },
    [params, pathname, router],
  );
  return [params, write] as const;
}

/** One choice among `allowed` (a segmented control, a select). */
export function useSearchParamChoice<T extends string>(name: string, allowed: readonly T[], fallback: T): [T, (value: T) => void] {
  const [params, write] = useQueryWriter();
  const raw = params.get(name);
  const value = allowed.includes(raw as T) ? (raw as T) : fallback;
  const set = useCallback((next: T) => write(name, next === fallback ? [] : [next]), [write, name, fallback]);
  return [value, set];
}

/** Free text (a search box); empty is the default. */
export function useSearchParamText(name: string): [string, (value: string) => void] {
  const [params, write] = useQueryWriter();
  const value = params.get(name) ?? "";
  const set = useCallback((next: string) => write(name, next === "" ? [] : [next]), [write, name]);
  return [value, set];
}

/** A set of values (checkbox filters), as a repeated parameter; `allowed` drops anything unknown. */
export function useSearchParamList<T extends string>(name: string, allowed?: readonly T[]): [T[], (value: T[]) => void] {
  const [params, write] = useQueryWriter();
  const value = params.getAll(name).filter((v): v is T => !allowed || allowed.includes(v as T));
  const set = useCallback((next: T[]) => write(name, next), [write, name]);
  return [value, set];
}

/** An on/off filter: present as `name=1` when on. */
export function useSearchParamFlag(name: string): [boolean, (value: boolean) => void] {
  const [params, write] = useQueryWriter();
  const value = params.get(name) === "1";
  const set = useCallback((next: boolean) => write(name, next ? ["1"] : []), [write, name]);
  return [value, set];
}
