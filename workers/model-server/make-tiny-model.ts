/** CLI: writes the tiny-random llama GGUF (if missing) and prints its path and sha256. Usage: tsx make-tiny-model.ts [dir] */
import { ensureTinyModel } from "./tiny-model";

const started = performance.now();
const { path, sha256 } = await ensureTinyModel(process.argv[2]);
process.stdout.write(`${path}\n${sha256}\n`);
process.stderr.write(`(${Math.round(performance.now() - started)} ms)\n`);
