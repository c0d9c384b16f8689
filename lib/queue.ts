import type { FastifyBaseLogger } from 'fastify'
import type { JobRequest } from './backend'
import { ClosingError, QueueFullError } from './errors'
import { JobRun } from './job'
import { JobStore } from './job-store'
import type { Settings } from './options'
import type { Outcome, RunHost } from './run'
import { drainWithin } from './shutdown'
import type { JobStats } from './types'

/**
 * The in-process job queue: at most `concurrency` jobs run at once and at most `maxQueued` wait;
 * beyond that a job is refused, never dropped. Jobs start on a later turn of the event loop, so
 * a reply is written before its job starts.
 */
export class JobQueue {
  readonly store: JobStore
  #waiting: JobRun[] = []
  #head = 0
  readonly #running = new Set<JobRun>()
  #succeeded = 0
  #failed = 0
  #rejected = 0
  #started = false
  #closing = false
  #pumpPending = false
  #idle: Array<() => void> = []

  constructor (
    private readonly host: RunHost,
    private readonly settings: Pick<Settings, 'concurrency' | 'maxQueued' | 'retention'>,
    private readonly log: FastifyBaseLogger
  ) {
    this.store = new JobStore(settings.retention)
  }

  get waiting (): number {
    return this.#waiting.length - this.#head
  }

  enqueue (request: JobRequest): JobRun {
    if (this.#closing) throw this.refuse(new ClosingError())
    const freeSlots = this.#started ? this.settings.concurrency - this.#running.size : 0
    if (this.waiting >= this.settings.maxQueued + freeSlots) throw this.refuse(new QueueFullError(this.waiting))
    const job = new JobRun(this.host, request)
    this.store.add(job)
    this.#waiting.push(job)
    this.schedulePump()
    return job
  }

  stats (): JobStats {
    // A job waiting to retry keeps its slot but reports 'queued'; there are at most `concurrency`.
    let retrying = 0
    for (const job of this.#running) if (job.status === 'queued') retrying++
    return {
      queued: this.waiting + retrying,
      running: this.#running.size - retrying,
      succeeded: this.#succeeded,
      failed: this.#failed,
      rejected: this.#rejected
    }
  }

  /** Resolves when nothing is waiting or running. */
  drain (): Promise<void> {
    if (this.isIdle()) return Promise.resolve()
    return new Promise(resolve => this.#idle.push(resolve))
  }

  start (): void {
    this.#started = true
    this.schedulePump()
  }

  stopAccepting (): void {
    this.#closing = true
  }

  /** Lets waiting and running jobs finish by `deadline`; then cancels what is left, logging each (see `drainWithin`). */
  async close (deadline: number): Promise<void> {
    this.#closing = true
    await drainWithin({ settled: () => this.drain(), abort: () => this.abortAll(), abandon: () => this.abandonRunning() }, deadline)
  }

  private abortAll (): void {
    for (let job = this.shift(); job !== undefined; job = this.shift()) {
      this.end(job, { status: 'cancelled', error: 'Cancelled: shutdown timeout reached before the job started' })
      job.parentLog.warn(job.logBindings(), 'job abandoned at shutdown: it never started')
    }
    for (const job of this.#running) {
      job.parentLog.warn(job.logBindings(), 'job still running at the shutdown timeout: aborting it')
      job.cancel('shutdown timeout reached')
    }
    // With nothing left running, no job will settle to wake those waiting for idle: wake them now.
    if (this.isIdle()) this.wakeIdle()
  }

  /** Jobs whose scope disposal still has not ended after their grace: recorded cancelled, no longer waited for. */
  private abandonRunning (): void {
    for (const job of this.#running) {
      job.parentLog.warn(job.logBindings(), 'job abandoned at close: it did not finish disposing its scope')
      this.#running.delete(job)
      this.end(job, { status: 'cancelled', error: 'Cancelled: shutdown timeout reached' })
    }
    this.wakeIdle()
  }

  private refuse (error: Error): Error {
    this.#rejected++
    return error
  }

  private schedulePump (): void {
    if (this.#pumpPending || !this.#started) return
    this.#pumpPending = true
    setImmediate(() => {
      this.#pumpPending = false
      this.pump()
    })
  }

  private pump (): void {
    while (this.#running.size < this.settings.concurrency) {
      const job = this.shift()
      if (job === undefined) return
      this.#running.add(job)
      job.execute().then(outcome => this.settle(job, outcome), /* c8 ignore next */ error => this.log.error({ err: error }, 'job runner failed'))
    }
  }

  private settle (job: JobRun, outcome: Outcome): void {
    // A job abandoned at close was recorded then; whatever it does later changes nothing.
    if (!this.#running.delete(job)) return
    this.end(job, outcome)
    if (job.status === 'succeeded') this.#succeeded++
    else if (job.status === 'failed') this.#failed++
    this.pump()
    if (this.isIdle()) this.wakeIdle()
  }

  private end (job: JobRun, outcome: Outcome): void {
    job.finish(outcome)
    this.store.finish(job)
  }

  private shift (): JobRun | undefined {
    if (this.#head === this.#waiting.length) return undefined
    const job = this.#waiting[this.#head]
    this.#waiting[this.#head++] = undefined as unknown as JobRun
    if (this.#head === this.#waiting.length) {
      // Empty: a new array, so a burst does not keep its backing store (8 bytes a job) after it.
      this.#waiting = []
      this.#head = 0
    } else if (this.#head > 1024 && this.#head * 2 > this.#waiting.length) {
      // Compact now and then, so shifting stays O(1) and the array does not grow without bound.
      this.#waiting.splice(0, this.#head)
      this.#head = 0
    }
    return job
  }

  private isIdle (): boolean {
    return this.waiting === 0 && this.#running.size === 0
  }

  private wakeIdle (): void {
    const waiters = this.#idle
    this.#idle = []
    for (const resolve of waiters) resolve()
  }
}
