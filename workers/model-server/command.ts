import path from "node:path";

const ROOT = path.resolve(import.meta.dirname, "..", "..");

/**
 * How any driver starts a model server replica: the same program whether it is a child process
 * (local driver), a Slurm batch job or a container command. The server listens on HOST:PORT and
 * serves the OpenAI-compatible API for MODEL_PATH under the name MODEL_NAME, plus GET /health.
 */
export function modelServerCommand(options: { modelPath: string; servedModelName: string; port: number; host?: string; threads?: number; expectSha256?: string }) {
  return {
    command: process.execPath,
    args: [
      "--import",
      path.join(ROOT, "node_modules", "tsx", "dist", "esm", "index.mjs"),
      path.join(ROOT, "workers", "model-server", "main.ts"),
      // The server hashes the file before loading it and exits (65) on a mismatch: how drivers that
      // cannot read the file themselves (Slurm's compute nodes) still verify it.
      ...(options.expectSha256 ? [`--expect-sha256=${options.expectSha256}`] : []),
    ],
    env: {
      MODEL_PATH: options.modelPath,
      MODEL_NAME: options.servedModelName,
      PORT: String(options.port),
      HOST: options.host ?? "127.0.0.1",
      // llama.cpp's default thread count is ~30x slower on this 2-core machine than one thread.
      MODEL_THREADS: String(options.threads ?? 1),
    },
    cwd: ROOT,
  };
}
