// The stores the BullMQ backend runs on, for the suites that run once per store: Redis (REDIS_URL)
// and PostgreSQL (DATABASE_URL). A suite runs on one store at a time (useStore), so its helpers
// (buildBullApp, forget, startReplica) need no store argument.
import { spawnSync } from 'node:child_process'
import t from 'tap'
import { createPostgresBackend, Queue } from 'bullmq'
import type { BullmqBackendOptions } from '../../lib/bullmq'

export interface TestStore {
  readonly name: 'redis' | 'postgres'
  /** As the backend's logs name it. */
  readonly label: 'Redis' | 'PostgreSQL'
  /** Why this store's tests cannot run here, or false. */
  readonly skip: string | false
  /** The backend's options for a namespace of the test's own: a Redis key prefix, a PostgreSQL schema. */
  backend: (namespace: string) => BullmqBackendOptions
  /** The same, for test/fixtures/replica.ts. */
  env: (namespace: string) => Record<string, string>
  /** Raw BullMQ's queue `name` on the store, in the namespace. */
  rawQueue: (name: string, namespace: string) => Queue
  /** Deletes the namespace (PostgreSQL: once the file's tests have closed their apps). */
  forget: (namespace: string) => Promise<void>
}

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
export const DATABASE_URL = process.env.DATABASE_URL

/** Why a store cannot be used, from a probe's exit; on CI (CI=true) an unreachable store fails. */
function skipReason (probe: string, what: string): string | false {
  const result = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8', timeout: 10_000, cwd: __dirname })
  if (result.status === 0) return false
  const reason = `${what} (${result.stderr.trim().split('\n').pop() || 'no answer'})`
  if (process.env.CI === 'true') throw new Error(reason)
  return reason
}

/** Why the Redis tests cannot run here, or false when Redis answers a PING. */
export function redisSkipReason (url = REDIS_URL): string | false {
  const { hostname, port } = new URL(url)
  return skipReason(`const s = require('node:net').connect(${Number(port || 6379)}, ${JSON.stringify(hostname)});
    s.setTimeout(2000, () => { console.error('no answer within 2 s'); process.exit(2) });
    s.on('error', error => { console.error(error.message); process.exit(1) });
    s.on('connect', () => s.write('PING\\r\\n'));
    s.on('data', data => process.exit(/^[+]PONG|^-NOAUTH/.test(String(data)) ? 0 : 3))`,
  `Redis is not reachable at ${url}; set REDIS_URL to run the BullMQ backend tests`)
}

/** Why the PostgreSQL tests cannot run here, or false when it answers a query. */
export function postgresSkipReason (url = DATABASE_URL): string | false {
  if (url === undefined) {
    const reason = 'DATABASE_URL is not set: set it (postgres://...) to run the BullMQ backend tests on PostgreSQL'
    if (process.env.CI === 'true') throw new Error(reason)
    return reason
  }
  return skipReason(`const pool = new (require('pg').Pool)({ connectionString: ${JSON.stringify(url)}, connectionTimeoutMillis: 3000 });
    pool.query('SELECT 1').then(() => pool.end(), error => { console.error(error.message); process.exit(1) })`,
  `PostgreSQL is not reachable at ${url}`)
}

/** A pool on DATABASE_URL for the tests' own statements, until endAdminPool(). */
let admin: import('pg').Pool | undefined
export function adminPool (): import('pg').Pool {
  const { Pool } = require('pg') as typeof import('pg')
  admin ??= new Pool({ connectionString: DATABASE_URL, max: 2 })
  return admin
}

export async function endAdminPool (): Promise<void> {
  await admin?.end()
  admin = undefined
}

const schemas: string[] = []

export const redisStore: TestStore = {
  name: 'redis',
  label: 'Redis',
  skip: redisSkipReason(),
  backend: prefix => ({ connection: REDIS_URL, prefix }),
  env: prefix => ({ STORE_URL: REDIS_URL, PREFIX: prefix }),
  rawQueue: (name, prefix) => new Queue(name, { connection: { url: REDIS_URL }, prefix }),
  forget: prefix => deleteKeys(prefix)
}

export const postgresStore: TestStore = {
  name: 'postgres',
  label: 'PostgreSQL',
  skip: postgresSkipReason(),
  backend: schema => ({ connection: DATABASE_URL as string, schema }),
  env: schema => ({ STORE_URL: DATABASE_URL as string, SCHEMA: schema }),
  rawQueue: (name, schema) => new Queue(name, { connection: { connectionString: DATABASE_URL, schema, migrate: true } } as any, createPostgresBackend as any),
  // Dropped after the file's last test: a schema cannot go while an app still closing uses it.
  async forget (schema) {
    if (schemas.push(schema) > 1) return
    t.teardown(async () => {
      const pool = adminPool()
      for (const name of schemas) await pool.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`)
      await endAdminPool()
    })
  }
}

export const STORES: readonly TestStore[] = [redisStore, postgresStore]

/** Deletes every Redis key under `prefix`. */
export async function deleteKeys (prefix: string, url = REDIS_URL): Promise<void> {
  const { Redis } = require('ioredis') as typeof import('ioredis')
  const client = new Redis(url)
  try {
    let cursor = '0'
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
      if (keys.length > 0) await client.del(...keys)
      cursor = next
    } while (cursor !== '0')
  } finally {
    client.disconnect()
  }
}
