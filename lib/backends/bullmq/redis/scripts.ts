import type { Queue, RedisClient } from 'bullmq'

/** Lua commands by name: how many of their arguments are keys, and their source. */
export type Scripts = Readonly<Record<string, { readonly keys: number, readonly lua: string }>>

/**
 * `queue`'s Redis client, with `scripts` defined on it. Each piece of the backend brings the
 * scripts it runs; a client that has one already (ioredis keeps them per instance) keeps it.
 */
export async function clientWith (queue: Queue, scripts: Scripts): Promise<RedisClient> {
  const client = await queue.backend.client
  for (const [name, { keys, lua }] of Object.entries(scripts)) {
    if (typeof (client as unknown as Record<string, unknown>)[name] !== 'function') client.defineCommand(name, { numberOfKeys: keys, lua })
  }
  return client
}
