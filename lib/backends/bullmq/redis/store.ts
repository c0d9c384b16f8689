import type { JobType, Queue, RedisClient } from 'bullmq'
import { CANCELLED_JOB, type CancelFound, type FleetStore, type ListedJob, type StoredJob } from '../store'
import { clientWith } from './scripts'
import { CANCEL_LUA, CLAIM_LUA, SETTLE_LUA, STATE_KEYS, STATUS_LUA, UNMARK_LUA } from './lua'

// The store beside a queue on Redis: keys after the queue's prefix, and Lua scripts where an
// operation reads and writes (ioredis keeps them per client, sent by SHA after the first call).

const SCRIPTS = {
  fbgLockAcquire: { keys: 1, lua: "return redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX')" },
  fbgLockRefresh: { keys: 1, lua: "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0" },
  fbgLockRelease: { keys: 1, lua: "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0" },
  fbgClaim: { keys: 2, lua: CLAIM_LUA },
  fbgClaimSettle: { keys: 1, lua: SETTLE_LUA },
  fbgCancel: { keys: 5, lua: CANCEL_LUA },
  fbgUnmark: { keys: 2, lua: UNMARK_LUA },
  fbgJobStatus: { keys: 2 + STATE_KEYS.length, lua: STATUS_LUA },
  fbgCount: { keys: 1, lua: "return redis.call('INCR', KEYS[1])" }
}

/** The cancel mark's key, after the queue's prefix: `<prefix>:<queue>:cancelled:<id>`. */
const CANCEL_MARK = 'cancelled:'

type Field = string | null | false
type StatusReply = [StoredJob['state'], Field, Field, string, string, Field, Field, Field, Field, Field, Field] | null

export class RedisStore implements FleetStore {
  constructor (private readonly queue: Queue) {}

  async acquireLock (name: string, token: string, ms: number): Promise<boolean> {
    return await this.run('fbgLockAcquire', [this.lockKey(name), token, ms]) === 'OK'
  }

  async refreshLock (name: string, token: string, ms: number): Promise<void> {
    await this.run('fbgLockRefresh', [this.lockKey(name), token, ms])
  }

  async releaseLock (name: string, token: string): Promise<void> {
    await this.run('fbgLockRelease', [this.lockKey(name), token])
  }

  async addPause (task: string): Promise<void> {
    await (await this.client()).hset(this.pausesKey(), { [task]: Date.now() })
  }

  async removePause (task: string): Promise<void> {
    await (await this.client()).hdel(this.pausesKey(), task)
  }

  async pauses (): Promise<string[]> {
    return Object.keys(await (await this.client()).hgetall(this.pausesKey()))
  }

  async isPaused (task: string): Promise<boolean> {
    return await (await this.client()).hexists(this.pausesKey(), task) === 1
  }

  claim (claim: string, id: string, record: string, ms: number): Promise<string | null> {
    return this.run('fbgClaim', [this.claimKey(claim), this.ofJob(id), record, id, ms])
  }

  async settleClaim (id: string, ms: number): Promise<void> {
    await this.run('fbgClaimSettle', [this.ofJob(id), ms])
  }

  async releaseClaim (claim: string): Promise<void> {
    await (await this.client()).del(this.claimKey(claim))
  }

  markCancelled (id: string, at: number, ms: number): Promise<CancelFound> {
    const { keys } = this.queue
    return this.run('fbgCancel', [this.queue.toKey(id), this.markKey(id), keys.completed, keys.failed, keys.active, id, at, ms, CANCELLED_JOB])
  }

  async cancelMarks (ids: readonly string[]): Promise<boolean[]> {
    const client = await this.client()
    return await Promise.all(ids.map(async id => await client.get(this.markKey(id)) !== null))
  }

  async unmarkCancelled (id: string): Promise<void> {
    await this.run('fbgUnmark', [this.markKey(id), this.queue.toKey(id), CANCELLED_JOB])
  }

  async job (id: string): Promise<StoredJob | undefined> {
    const keys = [this.queue.toKey(id), this.markKey(id), ...STATE_KEYS.map(state => this.queue.keys[state])]
    const reply: StatusReply = await this.run('fbgJobStatus', [...keys, id])
    if (reply === null) return undefined
    const [state, runAt, mark, name, timestamp, processedOn, finishedOn, failedReason, attempts, progress, returnvalue] = reply
    return {
      state,
      runAt: numberOf(runAt),
      mark: textOf(mark),
      name,
      enqueuedAt: Number(timestamp),
      startedAt: numberOf(processedOn),
      finishedAt: numberOf(finishedOn),
      failedReason: textOf(failedReason),
      attempt: numberOf(attempts),
      progress: typeof progress === 'string' ? JSON.parse(progress) : undefined,
      result: typeof returnvalue === 'string' ? JSON.parse(returnvalue) : undefined
    }
  }

  /** The ids in one script (BullMQ's getRanges); then the enqueue times, of jobs that may have gone since (NaN). */
  async listed (types: readonly JobType[]): Promise<ListedJob[]> {
    const ids = [...new Set(await this.queue.getRanges([...types], 0, -1))]
    const client = await this.client()
    return await Promise.all(ids.map(async id => ({ id, enqueuedAt: Number(await client.hget(this.queue.toKey(id), 'timestamp')) })))
  }

  async countRefusal (): Promise<void> {
    await this.run('fbgCount', [this.queue.toKey('rejected')])
  }

  async refusals (): Promise<number> {
    return Number(await (await this.client()).get(this.queue.toKey('rejected')))
  }

  private client (): Promise<RedisClient> {
    return this.queue.backend.client
  }

  private async run<T> (command: keyof typeof SCRIPTS, args: Array<string | number>): Promise<T> {
    return await (await clientWith(this.queue, SCRIPTS)).runCommand(command, args)
  }

  private lockKey (name: string): string {
    return this.queue.toKey(`overlap:${name}`)
  }

  private pausesKey (): string {
    return this.queue.toKey('paused-tasks')
  }

  private claimKey (claim: string): string {
    return this.queue.toKey(`idempotency:${claim}`)
  }

  private ofJob (id: string): string {
    return this.queue.toKey(`idempotency-of:${id}`)
  }

  private markKey (id: string): string {
    return this.queue.toKey(`${CANCEL_MARK}${id}`)
  }
}

function numberOf (field: Field): number | undefined {
  return typeof field === 'string' ? Number(field) : undefined
}

function textOf (field: Field): string | undefined {
  return typeof field === 'string' ? field : undefined
}
