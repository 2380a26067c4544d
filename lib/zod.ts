/**
 * The one place the console's code gets zod from. In the browser, no eval: zod's compiled fast path
 * probes `new Function` when a schema is built, which the console's Content-Security-Policy forbids
 * (and reports as a violation even though zod catches it). The switch must run before the first
 * schema of any module is built, so every module of lib/ imports `z` from here, never from "zod".
 */
import { z } from "zod";
import { humanZodMessage } from "./zod-messages";

if (typeof document !== "undefined") z.config({ jitless: true });
// Human words for zod's own messages, on both sides (lib/zod-messages.ts); a schema's own message wins.
z.config({ customError: humanZodMessage });

export { z };
