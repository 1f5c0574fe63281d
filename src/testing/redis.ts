/**
 * Redis for tests: REDIS_URL, else 127.0.0.1:6379; a fresh key prefix per use, whose keys
 * `dropPrefixes()` deletes. `redisSkipReason` is set when no server answers, and tests skip saying so.
 */
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";

export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

async function probe(): Promise<string | undefined> {
  const client = new Redis(REDIS_URL, {
    lazyConnect: true,
    enableOfflineQueue: false,
    connectTimeout: 2_000,
    commandTimeout: 2_000,
    retryStrategy: () => null,
  });
  client.on("error", () => undefined);
  try {
    await client.connect();
    await client.ping();
    return undefined;
  } catch (err) {
    const shown = REDIS_URL.replace(/:[^:@/]*@/, ":***@"); // never print a password
    return `no Redis at ${shown} (${(err as Error).message}); set REDIS_URL to run these tests`;
  } finally {
    client.disconnect();
  }
}

export const redisSkipReason = await probe();

const created: string[] = [];
let admin: Redis | undefined;

/** A client for the test's own commands. */
export function redisAdmin(): Redis {
  return (admin ??= new Redis(REDIS_URL));
}

/** A key prefix no other test run uses. */
export function freshPrefix(): string {
  const prefix = `clearance-test-${randomBytes(6).toString("hex")}:`;
  created.push(prefix);
  return prefix;
}

export async function dropPrefixes(): Promise<void> {
  for (const prefix of created.splice(0)) {
    const keys = await redisAdmin().keys(`${prefix}*`);
    if (keys.length > 0) await redisAdmin().del(...keys);
  }
  await admin?.quit();
  admin = undefined;
}
