import { LongTimer } from '../../core/timers'
import { Heap } from '../../core/heap'
import type { JobRecord } from './job-record'

/**
 * Jobs that may not start yet (a delay, a runAt, a retry's backoff), earliest first, with one timer armed for the
 * earliest: a thousand waiting jobs cost one timer, and none holds a concurrency slot.
 */
export class DelayedJobs {
  readonly #heap = new Heap<JobRecord>((a, b) => a.runAt < b.runAt || (a.runAt === b.runAt && a.seq < b.seq))
  #timer: LongTimer | undefined
  #armedFor = Infinity

  /** `due` is called with each job once its `runAt` has come. */
  constructor (private readonly due: (job: JobRecord) => void) {}

  get size (): number {
    return this.#heap.size
  }

  /** Waits until `job.runAt`. */
  add (job: JobRecord): void {
    this.#heap.push(job)
    if (job.runAt < this.#armedFor) this.arm()
  }

  /** Takes a waiting job out (it was cancelled); the timer moves on to the next one if it was the earliest. */
  remove (job: JobRecord): void {
    const next = this.#heap.peek()
    this.#heap.remove(job)
    if (job === next) this.arm()
  }

  /** Empties the set (at close), returning what it held. */
  clear (): JobRecord[] {
    this.disarm()
    return this.#heap.clear()
  }

  private arm (): void {
    this.disarm()
    const next = this.#heap.peek()
    if (next === undefined) return
    this.#armedFor = next.runAt
    this.#timer = new LongTimer(() => this.release(), next.runAt - Date.now())
  }

  private disarm (): void {
    this.#timer?.clear()
    this.#timer = undefined
    this.#armedFor = Infinity
  }

  private release (): void {
    this.#armedFor = Infinity
    const now = Date.now()
    for (let next = this.#heap.peek(); next !== undefined && next.runAt <= now; next = this.#heap.peek()) {
      this.#heap.pop()
      this.due(next)
    }
    this.arm()
  }
}
