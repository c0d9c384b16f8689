import type { Queue } from 'bullmq'
import { sleep } from '../../core/timers'
import type { StoreErrors } from './outage'
import type { CancelFound, FleetStore } from './store'

// Cancelling a job from any replica. A cancel leaves a mark in the store next to the job: a worker
// that takes a marked job drops it without running it, the replica running a marked job aborts it
// (each replica looks for the marks of its running jobs every CANCEL_POLL_MS), and a status reads
// a marked job that did not succeed as cancelled. Marking is one step, atomic with BullMQ's own
// (a job moves to active, or finishes, either before the mark or after it), so a cancel that races
// a job's start or end comes out as one status.

/** How often a replica looks for cancel marks of the jobs it runs. */
export const CANCEL_POLL_MS = 250
/** How long `cancel` waits for a running job to end: the poll, the handler's 1 s grace, and BullMQ's write. */
const SETTLE_MS = CANCEL_POLL_MS + 1000 + 1500
const SETTLE_POLL_MS = 25

export class JobCancels {
  /** The jobs running here, with what aborts each. */
  readonly #running = new Map<string, () => void>()
  #timer: NodeJS.Timeout | undefined

  constructor (
    private readonly queue: Queue,
    private readonly store: FleetStore,
    /** How long a mark is kept: as long as the job's status. */
    private readonly keepMs: number,
    private readonly errors: StoreErrors
  ) {}

  /** Marks the job cancelled, if it is queued or running; says what it found. */
  async mark (id: string): Promise<CancelFound> {
    const found = await this.store.markCancelled(id, Date.now(), this.keepMs)
    // A delayed job (its delay, or a retry's backoff) is moved to wait, so a worker drops it soon.
    if (found === 'queued') await (await this.queue.getJob(id))?.promote().catch(() => {})
    return found
  }

  /** Whether the job carries a cancel mark. */
  async marked (id: string): Promise<boolean> {
    const [marked] = await this.store.cancelMarks([id])
    return marked
  }

  /** Takes the mark away (a retry of the job). */
  unmark (id: string): Promise<void> {
    return this.store.unmarkCancelled(id)
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
    const marks = await this.store.cancelMarks(ids)
    ids.forEach((id, index) => { if (marks[index]) this.#running.get(id)?.() })
  }
}
