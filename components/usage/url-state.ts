"use client";
import { usePathname, useRouter, useSearchParams } from "next/navigation";
import { useCallback } from "react";

/**
 * A choice kept in the page's query string (`?period=7d&by=key`), so that a dashboard can be
 * shared or reloaded as it is seen. Unknown values read as the fallback; the fallback is left out.
 */
export function useSearchParamChoice<T extends string>(name: string, allowed: readonly T[], fallback: T): [T, (value: T) => void] {
  const params = useSearchParams();
  const pathname = usePathname();
  const router = useRouter();
  const raw = params.get(name);
  const value = allowed.includes(raw as T) ? (raw as T) : fallback;
  const set = useCallback(
    (next: T) => {
      const query = new URLSearchParams(params.toString());
      if (next === fallback) query.delete(name);
      else query.set(name, next);
      const search = query.toString();
      router.replace(search ? `${pathname}?${search}` : pathname, { scroll: false });
    },
    [params, pathname, router, name, fallback],
  );
  return [value, set];
}
