-- Prompt and completion texts are kept in a key's traces only when its organisation turns this on (docs/traces.md).
ALTER TABLE "ApiKey" ADD COLUMN "captureContent" BOOLEAN NOT NULL DEFAULT false;
