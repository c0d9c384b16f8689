import { jobStatus, type JobRun } from './job'
import type { JobState, JobStatus } from './types'

type FinishedJob = Pick<JobRun, 'id' | 'name' | 'enqueuedAt' | 'startedAt' | 'finishedAt' | 'error'> & { status: JobState }

/** A retained status, linked to the one that finished after it. */
interface Retained extends FinishedJob {
  next: Retained | undefined
}

/**
 * The statuses of in-process jobs: every queued or running job, and finished ones as long as
 * `retention` says (at most `max`, none older than `ttl`), so memory stays bounded.
 */
export class JobStore {
  readonly #active = new Map<string, JobRun>()
  readonly #finished = new Map<string, Retained>()
  /**
   * The retained statuses also form a list in the order they finished: `#before.next` is the
   * oldest (`#before` is a placeholder, or the status evicted last), `#newest` the last. Eviction
   * reads the oldest from here: walking the Map from its start would step over every entry deleted
   * since V8 last rehashed it, which made each eviction O(retained) under a steady stream of jobs.
   */
  #before: Retained = { id: '', name: '', status: 'succeeded', enqueuedAt: 0, startedAt: 0, finishedAt: 0, error: undefined, next: undefined }
  #newest: Retained = this.#before

  constructor (private readonly retention: { readonly ttl: number, readonly max: number }) {}

  add (job: JobRun): void {
    this.#active.set(job.id, job)
  }

  /** Moves a job that has finished to the retained statuses, dropping its handler and data. */
  finish (job: JobRun): void {
    this.#active.delete(job.id)
    const { id, name, status, enqueuedAt, startedAt, finishedAt, error } = job
    const finished: Retained = { id, name, status, enqueuedAt, startedAt, finishedAt, error, next: undefined }
    this.#finished.set(id, finished)
    this.#newest.next = finished
    this.#newest = finished
    this.evict()
  }

  get (id: string): JobStatus | undefined {
    this.evict()
    const job = this.#active.get(id) ?? this.#finished.get(id)
    return job === undefined ? undefined : jobStatus(job)
  }

  private evict (): void {
    const oldest = Date.now() - this.retention.ttl
    for (let job = this.#before.next; job !== undefined; job = job.next) {
      if (this.#finished.size <= this.retention.max && (job.finishedAt as number) > oldest) return
      this.#finished.delete(job.id)
      this.#before = job
    }
  }
}
