import { randomUUID } from 'node:crypto'
import type { Queue } from 'bullmq'
import type { RedisErrors } from './outage'
import { clientWith } from './scripts'

// The per-task lock that makes `overlap: 'skip'` hold across replicas: a run of a task starts
// only while no replica holds its lock.

const SCRIPTS = {
  fbgLockAcquire: { keys: 1, lua: "return redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX')" },
  fbgLockRefresh: { keys: 1, lua: "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0" },
  fbgLockRelease: { keys: 1, lua: "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0" }
}

export interface Lock {
  release: () => Promise<void>
}

export class OverlapLocks {
  constructor (
    private readonly queue: Queue,
    /** How long a lock outlives a replica that died holding it. */
    private readonly lockMs: number,
    private readonly errors: RedisErrors
  ) {}

  /** The lock of `task`, or undefined while a run of it holds the lock somewhere in the fleet. */
  async acquire (task: string): Promise<Lock | undefined> {
    const client = await clientWith(this.queue, SCRIPTS)
    const key = this.queue.toKey(`overlap:${task}`)
    const token = randomUUID()
    if (await client.runCommand('fbgLockAcquire', [key, token, this.lockMs]) !== 'OK') return undefined
    // Refreshed while the run lasts; if this replica dies, the lock expires within lockMs.
    const timer = setInterval(() => {
      client.runCommand('fbgLockRefresh', [key, token, this.lockMs])
        .catch(error => this.errors.report(error, 'task overlap lock could not be refreshed', { task }))
    }, Math.ceil(this.lockMs / 3))
    timer.unref()
    return {
      release: async () => {
        clearInterval(timer)
        await client.runCommand('fbgLockRelease', [key, token])
          .catch(error => this.errors.report(error, 'task overlap lock could not be released', { task }))
      }
    }
  }
}
