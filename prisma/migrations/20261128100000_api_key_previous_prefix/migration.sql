-- API key rotation: during the grace period the previous secret keeps working, and the gateway
-- finds the key by the previous key's prefix as well as the new one.
ALTER TABLE "ApiKey" ADD COLUMN "previousPrefix" TEXT;
CREATE UNIQUE INDEX "ApiKey_previousPrefix_key" ON "ApiKey"("previousPrefix");
