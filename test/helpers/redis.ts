import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { join } from 'node:path'
import { bullmqBackend, type BullmqBackendOptions } from '../../lib/bullmq'
import type { FastifyBackgroundOptions } from '../../lib/types'
import { buildApp, type TestApp } from './app'
import { REDIS_URL, redisStore, type TestStore } from './stores'

export { deleteKeys, REDIS_URL, redisSkipReason } from './stores'

/** The store the helpers below use: Redis, unless a suite that runs per store says otherwise. */
let current: TestStore = redisStore

export function useStore (store: TestStore): void {
  current = store
}

/** A namespace no other test uses: a key prefix, or a schema name. */
export function uniquePrefix (): string {
  return `fbg_test_${randomUUID().slice(0, 8)}`
}

/** Deletes the namespace on the current store. */
export function forget (namespace: string): Promise<void> {
  return current.forget(namespace)
}

/** An app on the BullMQ backend, on the current store, under `prefix`; not yet ready. */
export function buildBullApp (
  prefix: string,
  options: FastifyBackgroundOptions = {},
  backend: Partial<BullmqBackendOptions> = {}
): Promise<TestApp> {
  return buildApp({ ...options, backend: bullmqBackend({ ...current.backend(prefix), ...backend }) })
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
    env: { ...process.env, _TAPJS_PROCESSINFO_COVERAGE_: '0', STORE_URL: REDIS_URL, ...env },
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
