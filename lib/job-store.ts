import { jobStatus, type JobRun } from './job'
import type { JobState, JobStatus } from './types'

type FinishedJob = Pick<JobRun, 'id' | 'name' | 'enqueuedAt' | 'startedAt' | 'finishedAt' | 'error'> & { status: JobState }

/**
 * The statuses of in-process jobs: every queued or running job, and finished ones as long as
 * `retention` says (at most `max`, none older than `ttl`), so memory stays bounded.
 */
export class JobStore {
  readonly #active = new Map<string, JobRun>()
  /** In the order they finished, so the oldest is always first. */
  readonly #finished = new Map<string, FinishedJob>()

  constructor (private readonly retention: { readonly ttl: number, readonly max: number }) {}

  add (job: JobRun): void {
    this.#active.set(job.id, job)
  }

  /** Moves a job that has finished to the retained statuses, dropping its handler and data. */
  finish (job: JobRun): void {
    this.#active.delete(job.id)
    const { id, name, status, enqueuedAt, startedAt, finishedAt, error } = job
    this.#finished.set(id, { id, name, status, enqueuedAt, startedAt, finishedAt, error })
    this.evict()
  }

  get (id: string): JobStatus | undefined {
    this.evict()
    const job = this.#active.get(id) ?? this.#finished.get(id)
    return job === undefined ? undefined : jobStatus(job)
  }

  private evict (): void {
    const oldest = Date.now() - this.retention.ttl
    for (const [id, job] of this.#finished) {
      if (this.#finished.size <= this.retention.max && (job.finishedAt as number) > oldest) return
      this.#finished.delete(id)
    }
  }
}
