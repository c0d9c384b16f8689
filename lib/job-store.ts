import { jobStatus, type JobRun } from './job'
import type { JobState, JobStatus } from './types'

/**
 * The statuses of in-process jobs: every queued or running job, and finished ones as long as
 * `retention` says (at most `max`, none older than `ttl`), so memory stays bounded.
 *
 * Finished statuses live in a ring of `max` slots, one column per field, oldest at `#head`: a
 * job that finishes allocates no object to be retained, so a steady stream of jobs does not
 * fill the old generation with statuses for the garbage collector to sweep.
 */
export class JobStore {
  /** The job itself while it is queued or running; its ring slot once it has finished. */
  readonly #byId = new Map<string, JobRun | number>()
  readonly #ids: string[] = []
  readonly #names: string[] = []
  readonly #states: JobState[] = []
  readonly #enqueuedAt: number[] = []
  /** NaN: the job never started. */
  readonly #startedAt: number[] = []
  readonly #finishedAt: number[] = []
  readonly #errors: Array<string | undefined> = []
  #head = 0
  #count = 0

  constructor (private readonly retention: { readonly ttl: number, readonly max: number }) {}

  add (job: JobRun): void {
    this.#byId.set(job.id, job)
  }

  /** Moves a job that has finished to the retained statuses, dropping its handler and data. */
  finish (job: JobRun): void {
    const max = this.retention.max
    if (max === 0) {
      this.#byId.delete(job.id)
      return
    }
    this.evictExpired()
    if (this.#count === max) this.evictOldest()
    const slot = (this.#head + this.#count++) % max
    this.#ids[slot] = job.id
    this.#names[slot] = job.name
    this.#states[slot] = job.status
    this.#enqueuedAt[slot] = job.enqueuedAt
    this.#startedAt[slot] = job.startedAt ?? NaN
    this.#finishedAt[slot] = job.finishedAt as number
    this.#errors[slot] = job.error
    this.#byId.set(job.id, slot)
  }

  get (id: string): JobStatus | undefined {
    this.evictExpired()
    const entry = this.#byId.get(id)
    if (entry === undefined || typeof entry === 'object') return entry === undefined ? undefined : jobStatus(entry)
    const startedAt = this.#startedAt[entry]
    return jobStatus({
      id,
      name: this.#names[entry],
      status: this.#states[entry],
      enqueuedAt: this.#enqueuedAt[entry],
      startedAt: Number.isNaN(startedAt) ? undefined : startedAt,
      finishedAt: this.#finishedAt[entry],
      error: this.#errors[entry]
    })
  }

  private evictExpired (): void {
    const oldest = Date.now() - this.retention.ttl
    while (this.#count > 0 && this.#finishedAt[this.#head] <= oldest) this.evictOldest()
  }

  private evictOldest (): void {
    const head = this.#head
    this.#byId.delete(this.#ids[head])
    this.#errors[head] = undefined
    this.#head = (head + 1) % this.retention.max
    this.#count--
  }
}
