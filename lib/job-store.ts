import { jobStatus, type JobRun } from './job'
import type { JobState, JobStatus } from './types'

type FinishedJob = Pick<JobRun, 'id' | 'name' | 'enqueuedAt' | 'startedAt' | 'finishedAt' | 'error'> & { status: JobState }

/**
 * The statuses of in-process jobs: every queued or running job, and finished ones as long as
 * `retention` says (at most `max`, none older than `ttl`), so memory stays bounded.
 */
export class JobStore {
  readonly #active = new Map<string, JobRun>()
  readonly #finished = new Map<string, FinishedJob>()
  /**
   * The finished statuses in the order they finished, oldest at `#head`. Eviction reads the oldest
   * from here: walking the Map from its start would step over every entry deleted since V8 last
   * rehashed it, which made each eviction O(retained) under a steady stream of jobs.
   */
  #order: FinishedJob[] = []
  #head = 0

  constructor (private readonly retention: { readonly ttl: number, readonly max: number }) {}

  add (job: JobRun): void {
    this.#active.set(job.id, job)
  }

  /** Moves a job that has finished to the retained statuses, dropping its handler and data. */
  finish (job: JobRun): void {
    this.#active.delete(job.id)
    const { id, name, status, enqueuedAt, startedAt, finishedAt, error } = job
    const finished = { id, name, status, enqueuedAt, startedAt, finishedAt, error }
    this.#finished.set(id, finished)
    this.#order.push(finished)
    this.evict()
  }

  get (id: string): JobStatus | undefined {
    this.evict()
    const job = this.#active.get(id) ?? this.#finished.get(id)
    return job === undefined ? undefined : jobStatus(job)
  }

  private evict (): void {
    const oldest = Date.now() - this.retention.ttl
    const order = this.#order
    while (this.#head < order.length) {
      const job = order[this.#head]
      if (this.#finished.size <= this.retention.max && (job.finishedAt as number) > oldest) break
      this.#finished.delete(job.id)
      order[this.#head++] = undefined as unknown as FinishedJob
    }
    // Compact now and then, so the array does not grow without bound.
    if (this.#head > 1024 && this.#head * 2 > order.length) {
      order.splice(0, this.#head)
      this.#head = 0
    }
  }
}
