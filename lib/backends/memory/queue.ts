import type { Enqueued, JobQuery, JobRequest, Outcome, RunHost, Settings } from '../../core/model'
import { jsonProblem } from '../../core/json'
import { CANCELLED_ON_REQUEST, retryDelay } from '../../core/run'
import { drainWithin } from '../../core/shutdown'
import { Admission } from '../../jobs/admission'
import type { JobState, JobStats, JobStatus } from '../../types'
import { DelayedJobs } from './delayed-jobs'
import { JobRecord } from './job-record'
import { JobStore } from './job-store'
import { ReadyJobs } from './ready-jobs'

/**
 * The in-process job queue: at most `concurrency` jobs run at once and at most `maxQueued` wait
 * (ready, or delayed until they may start); beyond that a job is refused, never dropped. Ready
 * jobs start by priority, then in enqueue order, on a later turn of the event loop, so a reply
 * is written before its job starts. A delayed job holds no slot.
 */
export class JobQueue {
  readonly store: JobStore
  readonly #admission: Admission
  readonly #ready = new ReadyJobs<JobRecord>()
  readonly #delayed = new DelayedJobs(job => this.becameReady(job))
  /** Running jobs, each at its `runningAt` (an array, not a Set: no identity hash per job). */
  readonly #running: JobRecord[] = []
  /** The queued or running job of each name and `key`. */
  readonly #unique = new Map<string, JobRecord>()
  #seq = 0
  #succeeded = 0
  #failed = 0
  #rejected = 0
  #started = false
  #pumpPending = false
  #idle: Array<() => void> = []

  constructor (
    private readonly host: RunHost,
    private readonly settings: Pick<Settings, 'concurrency' | 'maxQueued' | 'retention'>
  ) {
    this.store = new JobStore(settings.retention)
    this.#admission = new Admission(settings.maxQueued, reason => {
      this.#rejected++
      host.events.jobRefused(reason)
    })
  }

  /** Jobs not running: ready to start, or waiting until they may. */
  get queued (): number {
    return this.#ready.size + this.#delayed.size
  }

  enqueue (request: JobRequest): Enqueued {
    const key = request.placement.key
    const same = key === undefined ? undefined : this.#unique.get(`${request.name}\n${key}`)
    if (same !== undefined) return { id: same.id, duplicate: true, status: same.status }
    return this.admit(new JobRecord(this.host, request, this.#seq++))
  }

  /** A job queued or running is cancelled: a waiting one never starts, a running one is aborted and waited for. */
  async cancel (id: string): Promise<boolean> {
    const job = this.store.active(id)
    if (job === undefined) return false
    if (job.status === 'running') {
      job.cancel(CANCELLED_ON_REQUEST)
      await new Promise<void>(resolve => job.waitForAttemptEnd(resolve))
      // It may have settled by itself before the abort reached it: then it was not cancelled.
      return (job.status as JobState) === 'cancelled'
    }
    // Queued: waiting in line, or for its delay, its runAt or a retry's backoff.
    if (!this.#ready.remove(job)) this.#delayed.remove(job)
    this.end(job, { status: 'cancelled', error: `Cancelled: ${CANCELLED_ON_REQUEST}` })
    this.wakeIfIdle()
    return true
  }

  /** A failed or cancelled job still kept is queued again under its id, its attempts counted from 1. */
  retry (id: string): boolean {
    // Only a failed or cancelled job keeps its request.
    const kept = this.store.finished(id)?.request
    if (kept === undefined) return false
    const request = { ...kept, placement: { ...kept.placement, runAt: 0 } }
    this.admit(new JobRecord(this.host, request, this.#seq++, id), true)
    return true
  }

  list (query: JobQuery): JobStatus[] {
    return this.store.list(query)
  }

  stats (): JobStats {
    return { queued: this.queued, running: this.#running.length, succeeded: this.#succeeded, failed: this.#failed, rejected: this.#rejected }
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
    this.#admission.close()
  }

  /** Lets waiting and running jobs finish by `deadline`; then cancels what is left, logging each (see `drainWithin`). */
  async close (deadline: number): Promise<void> {
    this.#admission.close()
    await drainWithin({ settled: () => this.drain(), abort: () => this.abortAll(), abandon: () => this.abandonRunning() }, deadline)
  }

  /** `again`: queued again by retry(), under an id the store may still hold. */
  private admit (job: JobRecord, again = false): JobRecord {
    // Its enqueue time is now: no clock reading for the many jobs that have no runAt (0).
    const waits = job.runAt > job.enqueuedAt
    // A job that takes a free slot at once does not wait, so it does not count against maxQueued.
    const freeSlots = this.#started && !waits ? this.settings.concurrency - this.#running.length : 0
    this.#admission.admit(this.queued, freeSlots)
    this.store.add(job, again)
    const unique = job.uniqueKey
    if (unique !== undefined && !this.#unique.has(unique)) this.#unique.set(unique, job)
    if (waits) this.#delayed.add(job)
    else this.becameReady(job)
    return job
  }

  private becameReady (job: JobRecord): void {
    this.#ready.push(job)
    this.schedulePump()
  }

  private abortAll (): void {
    for (let job = this.#ready.pop(); job !== undefined; job = this.#ready.pop()) this.abandonWaiting(job)
    for (const job of this.#delayed.clear()) this.abandonWaiting(job)
    for (const job of this.#running) {
      job.parentLog.warn(job.logBindings(), 'job still running at the shutdown timeout: aborting it')
      job.cancel('shutdown timeout reached')
    }
    // With nothing left running, no job will settle to wake those waiting for idle: wake them now.
    this.wakeIfIdle()
  }

  private abandonWaiting (job: JobRecord): void {
    const started = job.attempt > 0
    const error = started ? 'Cancelled: shutdown timeout reached before its next attempt' : 'Cancelled: shutdown timeout reached before the job started'
    this.end(job, { status: 'cancelled', error })
    job.parentLog.warn(job.logBindings(), started
      ? 'job abandoned at shutdown: it was waiting to retry'
      : 'job abandoned at shutdown: it never started')
  }

  /** Jobs whose scope disposal still has not ended after their grace: recorded cancelled, no longer waited for. */
  private abandonRunning (): void {
    for (const job of this.#running.splice(0)) {
      job.runningAt = -1
      job.parentLog.warn(job.logBindings(), 'job abandoned at close: it did not finish disposing its scope')
      this.end(job, { status: 'cancelled', error: 'Cancelled: shutdown timeout reached' })
    }
    this.wakeIdle()
  }

  private schedulePump (): void {
    if (this.#pumpPending || !this.#started) return
    this.#pumpPending = true
    setImmediate(() => {
      this.#pumpPending = false
      this.pump()
    })
  }

  /** `now`: the clock read a moment ago (a job's end), for the first job started; the others read it again. */
  private pump (now?: number): void {
    while (this.#running.length < this.settings.concurrency) {
      const job = this.#ready.pop()
      if (job === undefined) return
      this.startAttempt(job, now ?? Date.now())
      now = undefined
    }
  }

  private startAttempt (job: JobRecord, now: number): void {
    this.host.events.jobStarted(job.name, now - Math.max(job.enqueuedAt, job.runAt))
    job.runningAt = this.#running.push(job) - 1
    job.status = 'running'
    job.startedAt ??= now
    const attempt = ++job.attempt
    job.beginAttempt(attempt, this.attemptEnded)
  }

  /** One function for every job's attempts (bound once, not a closure per job). */
  private readonly attemptEnded = (job: JobRecord, outcome: Outcome): void => {
    // A job abandoned at close was recorded then; whatever it does later changes nothing.
    if (this.stoppedRunning(job)) {
      const end = job.outcomeAfter(outcome, job.attempt)
      if (end === undefined) this.retryLater(job)
      else this.finish(job, end)
      // The clock was just read, for its end (a retry reads it again).
      this.pump(job.finishedAt)
      this.wakeIfIdle()
    }
    job.attemptHasEnded()
  }

  /** Takes the job out of the running ones (the last takes its place); false when it was not there. */
  private stoppedRunning (job: JobRecord): boolean {
    const index = job.runningAt
    if (index < 0) return false
    const last = this.#running.pop() as JobRecord
    if (last !== job) {
      this.#running[index] = last
      last.runningAt = index
    }
    job.runningAt = -1
    return true
  }

  /** A failed attempt with retries left waits out its backoff in the delayed set, holding no slot. */
  private retryLater (job: JobRecord): void {
    const delayMs = retryDelay(job.spec, job.attempt)
    job.logRetry(job.attempt, delayMs)
    job.status = 'queued'
    job.runAt = Date.now() + delayMs
    this.#delayed.add(job)
  }

  private finish (job: JobRecord, outcome: Outcome): void {
    if (outcome.result !== undefined) job.result = this.keptResult(job, outcome.result)
    this.end(job, outcome)
    if (job.status === 'succeeded') this.#succeeded++
    else if (job.status === 'failed') this.#failed++
  }

  /** The result as JSON carries it; one JSON cannot carry is dropped, and said so. */
  private keptResult (job: JobRecord, result: unknown): unknown {
    const problem = jsonProblem(result, 'result')
    if (problem === undefined) return JSON.parse(JSON.stringify(result))
    job.parentLog.warn({ ...job.logBindings(), problem }, 'job result dropped: JSON cannot carry it')
    return undefined
  }

  private end (job: JobRecord, outcome: Outcome): void {
    const status = outcome.status === 'timeout' ? 'failed' : outcome.status
    job.status = status
    job.error = outcome.error
    job.finishedAt = Date.now()
    this.host.events.jobEnded(job.name, status, job.startedAt === undefined ? undefined : job.finishedAt - job.startedAt)
    const unique = job.uniqueKey
    if (unique !== undefined && this.#unique.get(unique) === job) this.#unique.delete(unique)
    this.store.finish(job)
  }

  private isIdle (): boolean {
    return this.queued === 0 && this.#running.length === 0
  }

  private wakeIfIdle (): void {
    // Nobody waits, most of the time: then nothing is made (a queue that empties after every job would make an array each time).
    if (this.#idle.length > 0 && this.isIdle()) this.wakeIdle()
  }

  private wakeIdle (): void {
    const waiters = this.#idle
    this.#idle = []
    for (const resolve of waiters) resolve()
  }
}
