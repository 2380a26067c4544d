import { defineConfig } from "prisma/config";
import { createPgAdapter } from "./server/db/pg-adapter";

// Rust-free Prisma: the JS schema engine talks to PostgreSQL through the same adapter as the app.
export default defineConfig({
  schema: "prisma/schema.prisma",
  experimental: { adapter: true },
  engine: "js",
  async adapter() {
    const url = process.env.DATABASE_URL;
    if (!url) throw new Error("DATABASE_URL is not set: run `npm start` (embedded PostgreSQL) or export DATABASE_URL");
    return createPgAdapter(url, { max: 2 });
  },
  migrations: { path: "prisma/migrations" },
});
