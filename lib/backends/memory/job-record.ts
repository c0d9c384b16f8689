import type { Enqueued, JobRequest, RunHost } from '../../core/model'
import { newId } from '../../core/id'
import { JobRun } from '../../jobs/job-run'
import type { JobProgress, JobState } from '../../types'
import type { HeapItem } from '../../core/heap'

const STORED = Promise.resolve()

/**
 * An in-process job while it is queued or running: the run that executes it (one object, not a
 * record holding a run: one allocation less per job), with its status and its place in line.
 */
export class JobRecord extends JobRun implements HeapItem, Enqueued {
  status: JobState = 'queued'
  readonly enqueuedAt = Date.now()
  startedAt: number | undefined
  finishedAt: number | undefined
  error: string | undefined
  /** ms since the epoch from which it may start: its delay, its runAt, or its next attempt's backoff. */
  runAt: number
  progress: JobProgress | undefined
  result: unknown
  heapIndex = -1
  /** Its index among the queue's running jobs; -1 when it is not running. */
  runningAt = -1
  /** Its place in the store's log of adds (see JobStore). */
  logPlace = -1
  /** Those waiting for the attempt in progress to end (a cancel): none, most of the time. */
  #attemptWaiters: Array<() => void> | undefined

  constructor (host: RunHost, readonly request: JobRequest, readonly seq: number, id = request.id ?? newId()) {
    super(host, request, id)
    this.runAt = request.placement.runAt
  }

  /** A getter, not a field: one word less in every queued job. */
  get duplicate (): false {
    return false
  }

  get priority (): number {
    return this.request.placement.priority
  }

  /** The key that makes it unique among queued and running jobs: its name and `key`, or undefined. */
  get uniqueKey (): string | undefined {
    const key = this.request.placement.key
    return key === undefined ? undefined : `${this.request.name}\n${key}`
  }

  /** Calls `then` once the attempt in progress has ended and its end has been recorded. */
  waitForAttemptEnd (then: () => void): void {
    (this.#attemptWaiters ??= []).push(then)
  }

  attemptHasEnded (): void {
    const waiters = this.#attemptWaiters
    if (waiters === undefined) return
    this.#attemptWaiters = undefined
    for (const then of waiters) then()
  }

  override storeProgress (value: JobProgress): Promise<void> {
    this.progress = value
    return STORED
  }
}
