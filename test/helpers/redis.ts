import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { bullmqBackend, type BullmqBackendOptions } from '../../lib/bullmq'
import type { FastifyBackgroundOptions } from '../../lib/types'
import { buildApp, type TestApp } from './app'

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

/**
 * Why the Redis tests cannot run here, or false when Redis answers a PING. Synchronous, so a
 * test file can pass it as tap's `skip` option. On CI (CI=true) an unreachable Redis fails.
 */
export function redisSkipReason (url = REDIS_URL): string | false {
  const { hostname, port } = new URL(url)
  const probe = `const s = require('node:net').connect(${Number(port || 6379)}, ${JSON.stringify(hostname)});
    s.setTimeout(2000, () => { console.error('no answer within 2 s'); process.exit(2) });
    s.on('error', error => { console.error(error.message); process.exit(1) });
    s.on('connect', () => s.write('PING\\r\\n'));
    s.on('data', data => process.exit(/^[+]PONG|^-NOAUTH/.test(String(data)) ? 0 : 3))`
  const result = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8', timeout: 5000 })
  if (result.status === 0) return false
  const reason = `Redis is not reachable at ${url} (${result.stderr.trim() || 'no PONG'}); set REDIS_URL to run the BullMQ backend tests`
  if (process.env.CI === 'true') throw new Error(reason)
  return reason
}

/** A key prefix no other test uses. */
export function uniquePrefix (): string {
  return `fbg-test-${randomUUID().slice(0, 8)}`
}

/** Deletes every key under `prefix`. */
export async function deleteKeys (prefix: string, url = REDIS_URL): Promise<void> {
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

/** An app on the BullMQ backend under `prefix`; not yet ready. */
export function buildBullApp (
  prefix: string,
  options: FastifyBackgroundOptions = {},
  backend: Partial<BullmqBackendOptions> = {}
): Promise<TestApp> {
  return buildApp({ ...options, backend: bullmqBackend({ connection: REDIS_URL, prefix, ...backend }) })
}

/** Resolves once `check()` returns true, polling every 20 ms; rejects after `timeoutMs`. */
export async function until (check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

/** A replica run as a process of its own (test/fixtures/replica.ts), with the lines it printed. */
export interface Replica {
  child: ChildProcess
  lines: string[]
}

/** Starts test/fixtures/replica.ts with `env` (see there), `nodeArgs` before the script. */
export function startReplica (env: Record<string, string>, nodeArgs: string[] = []): Replica {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', join(__dirname, '..', 'fixtures', 'replica.ts')], {
    // The replicas run the code through tsx, whose source maps do not merge with tap's coverage:
    // they are the system under test here, not code under coverage.
    env: { ...process.env, _TAPJS_PROCESSINFO_COVERAGE_: '0', REDIS_URL, ...env },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  const lines: string[] = []
  let rest = ''
  child.stdout?.on('data', chunk => {
    const parts = (rest + String(chunk)).split('\n')
    rest = parts.pop() as string
    lines.push(...parts)
  })
  return { child, lines }
}

export async function stopReplica (replica: Replica, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (replica.child.exitCode !== null || replica.child.signalCode !== null) return
  const exited = once(replica.child, 'exit')
  replica.child.kill(signal)
  await exited
}
