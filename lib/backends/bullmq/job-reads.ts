import type { JobType } from 'bullmq'
import { CancelledError } from '../../core/errors'
import type { JobQuery } from '../../core/model'
import { CANCELLED_ON_REQUEST } from '../../core/run'
import { jobStatus } from '../../jobs/job-status'
import type { JobProgress, JobState, JobStatus } from '../../types'
import type { FleetStore } from './store'

// What any replica reads of the fleet's jobs: one job's status, and the kept jobs newest first.
// A status is read in one step of the store, so its state and its fields are of one moment.

/** The BullMQ states each status is found in (a cancelled job is failed, or queued or active until a worker drops it). */
const TYPES_OF: Record<JobState, JobType[]> = {
  queued: ['waiting', 'delayed', 'prioritized', 'waiting-children'],
  running: ['active'],
  succeeded: ['completed'],
  failed: ['failed'],
  cancelled: ['failed', 'waiting', 'delayed', 'prioritized', 'active']
}
const ALL_TYPES = [...new Set(Object.values(TYPES_OF).flat())]

export class JobReads {
  constructor (private readonly store: FleetStore) {}

  async status (id: string): Promise<JobStatus | undefined> {
    const job = await this.store.job(id)
    if (job === undefined) return undefined
    const { state, mark } = job
    // A job cancelled before it started is cancelled from then on (the worker that takes it drops
    // it); one cancelled while it ran is running until its replica has aborted it, and failed it.
    const [cancelledAt, found, ...name] = mark?.split(':') ?? []
    const dropped = found === 'queued'
    const status = dropped || (found === 'running' && state === 'failed') ? 'cancelled' : state
    const finished = status !== 'queued' && status !== 'running'
    return jobStatus({
      id,
      // A job cancelled while queued carries CANCELLED_JOB as its name; its mark keeps its own.
      name: dropped ? name.join(':') : job.name,
      status,
      enqueuedAt: job.enqueuedAt,
      startedAt: dropped ? undefined : job.startedAt,
      finishedAt: dropped ? Number(cancelledAt) : finished ? job.finishedAt : undefined,
      // BullMQ writes failedReason in the step that moves a job to failed.
      error: dropped ? CANCELLED_ERROR : status === 'failed' || status === 'cancelled' ? job.failedReason : undefined,
      attempt: dropped ? undefined : job.attempt,
      progress: job.progress as JobProgress | undefined,
      // A handler that resolved with nothing left `null`.
      result: status === 'succeeded' && job.result !== null ? job.result : undefined,
      runAt: status === 'queued' ? job.runAt : undefined
    })
  }

  /**
   * The fleet's kept jobs, newest (last enqueued) first. BullMQ keeps them in one set per state,
   * each in its own order, so the candidates are read with their enqueue times and sorted; then
   * the statuses of the candidates are read until the page is full.
   */
  async list (query: JobQuery): Promise<JobStatus[]> {
    const listed = await this.store.listed(query.status === undefined ? ALL_TYPES : TYPES_OF[query.status])
    listed.sort((a, b) => b.enqueuedAt - a.enqueuedAt)
    const page: JobStatus[] = []
    let skip = query.offset
    for (const { id } of listed) {
      if (page.length === query.limit) break
      const status = await this.status(id)
      if (status === undefined || (query.status !== undefined && status.status !== query.status)) continue
      if (skip > 0) skip--
      else page.push(status)
    }
    return page
  }
}

/** The error of a job cancelled before it started, as in-process. */
const CANCELLED_ERROR = new CancelledError(CANCELLED_ON_REQUEST).message
