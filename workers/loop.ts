import { logger } from "../server/logger";

/**
 * A worker loop: runs `pass` now, then `intervalMs` after each pass ends (never two at once in one
 * process); a failed pass is logged as `<name> failed` and the loop goes on. Returns the stop
 * function, which waits for a pass in progress. Several workers processes may each run the loop:
 * every pass must be safe to run concurrently (the jobs use advisory locks or unique keys).
 */
export function startLoop(name: string, pass: () => Promise<unknown>, intervalMs: number): () => Promise<void> {
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<unknown> | null = null;
  let stopped = false;
  const tick = () => {
    running = pass()
      .catch((error) => logger.error(`${name} failed`, { error }))
      .finally(() => {
        running = null;
        if (!stopped) timer = setTimeout(tick, intervalMs);
      });
  };
  tick();
  return async () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    await running;
  };
}
