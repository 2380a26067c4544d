/**
 * For a log line that a failure could repeat on every request or batch: `due()` is true at most once
 * per `ms` (the first call included), so the line is said, then said again only after `ms`.
 */
export function atMostEvery(ms: number): () => boolean {
  let last = -Infinity;
  return () => {
    const now = Date.now();
    if (now - last < ms) return false;
    last = now;
    return true;
  };
}
