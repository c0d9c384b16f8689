import type { Queue } from 'bullmq'
import { sleep } from '../../core/timers'
import type { RedisErrors } from './outage'
import { clientWith } from './scripts'

// Cancelling a job from any replica. A cancel leaves a mark in Redis next to the job: a worker
// that takes a marked job drops it without running it, the replica running a marked job aborts it
// (each replica looks for the marks of its running jobs every CANCEL_POLL_MS), and a status reads
// a marked job that did not succeed as cancelled. Marking is one script, atomic with BullMQ's own
// (a job moves to active, or finishes, either before the mark or after it), so a cancel that races
// a job's start or end comes out as one status.

/** The mark's key, after the queue's prefix: `<prefix>:<queue>:cancelled:<id>`, holding `<ms>:queued` or `<ms>:running`. */
export const CANCEL_MARK = 'cancelled:'
/** How often a replica looks for cancel marks of the jobs it runs. */
export const CANCEL_POLL_MS = 250
/** How long `cancel` waits for a running job to end: the poll, the handler's 1 s grace, and BullMQ's write. */
const SETTLE_MS = CANCEL_POLL_MS + 1000 + 1500
const SETTLE_POLL_MS = 25

const CANCEL_LUA = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 'unknown' end
if redis.call('ZSCORE', KEYS[3], ARGV[1]) or redis.call('ZSCORE', KEYS[4], ARGV[1]) then return 'finished' end
if redis.call('EXISTS', KEYS[2]) == 1 then return 'finished' end
local found = 'queued'
local active = redis.pcall('LPOS', KEYS[5], ARGV[1])
if type(active) ~= 'table' and active ~= false then found = 'running' end
if type(active) == 'table' then
  for _, item in ipairs(redis.call('LRANGE', KEYS[5], 0, -1)) do
    if item == ARGV[1] then found = 'running' end
  end
end
-- The mark says when, and whether the job had started: one that had not reads cancelled at once.
redis.call('SET', KEYS[2], ARGV[2] .. ':' .. found, 'PX', ARGV[3])
return found`

const SCRIPTS = { fbgCancel: { keys: 5, lua: CANCEL_LUA } }

/** What a cancel found: nothing to cancel, a job that will never start, or one running somewhere. */
export type CancelFound = 'unknown' | 'finished' | 'queued' | 'running'

export class JobCancels {
  /** The jobs running here, with what aborts each. */
  readonly #running = new Map<string, () => void>()
  #timer: NodeJS.Timeout | undefined

  constructor (
    private readonly queue: Queue,
    /** How long a mark is kept: as long as the job's status. */
    private readonly keepMs: number,
    private readonly errors: RedisErrors
  ) {}

  /** Marks the job cancelled, if it is queued or running; says what it found. */
  async mark (id: string): Promise<CancelFound> {
    const keys = [this.queue.toKey(id), this.markKey(id), this.queue.keys.completed, this.queue.keys.failed, this.queue.keys.active]
    const found: CancelFound = await (await clientWith(this.queue, SCRIPTS)).runCommand('fbgCancel', [...keys, id, Date.now(), this.keepMs])
    // A delayed job (its delay, or a retry's backoff) is moved to wait, so a worker drops it soon.
    if (found === 'queued') await (await this.queue.getJob(id))?.promote().catch(() => {})
    return found
  }

  /** Whether the job carries a cancel mark. */
  async marked (id: string): Promise<boolean> {
    const client = await this.queue.backend.client
    return await client.get(this.markKey(id)) !== null
  }

  /** Takes the mark away (a retry of the job). */
  async unmark (id: string): Promise<void> {
    const client = await this.queue.backend.client
    await client.del(this.markKey(id))
  }

  /** Waits until `ended()` says the running job has ended, within the time its replica needs to abort it. */
  async settled (ended: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + SETTLE_MS
    while (Date.now() < deadline && !(await ended())) await sleep(SETTLE_POLL_MS)
  }

  /** The job runs here until the returned function is called; `abort` is called if a mark appears meanwhile. */
  watch (id: string, abort: () => void): () => void {
    this.#running.set(id, abort)
    this.#timer ??= setInterval(() => { this.look().catch(this.errors.listener('looking for cancelled jobs failed')) }, CANCEL_POLL_MS).unref()
    return () => {
      this.#running.delete(id)
      if (this.#running.size > 0) return
      clearInterval(this.#timer)
      this.#timer = undefined
    }
  }

  private async look (): Promise<void> {
    const ids = [...this.#running.keys()]
    const client = await this.queue.backend.client
    const marks = await Promise.all(ids.map(id => client.get(this.markKey(id))))
    ids.forEach((id, index) => { if (marks[index] !== null) this.#running.get(id)?.() })
  }

  private markKey (id: string): string {
    return this.queue.toKey(`${CANCEL_MARK}${id}`)
  }
}
