import type { JobProgress, JobState, JobStatus } from '../types'

/** What a backend knows of a job, in ms since the epoch. */
export interface JobFacts {
  id: string
  name: string
  status: JobState
  enqueuedAt: number
  startedAt?: number | undefined
  finishedAt?: number | undefined
  error?: string | undefined
  attempt?: number | undefined
  progress?: JobProgress | undefined
  result?: unknown
  /** When a queued job may start, if that is later than now. */
  runAt?: number | undefined
}

/** The public status of a job, the same from either backend: no data, no result, no stack. */
export function jobStatus (job: JobFacts): JobStatus {
  const status: JobStatus = { id: job.id, name: job.name, status: job.status, enqueuedAt: new Date(job.enqueuedAt) }
  if (job.startedAt !== undefined) status.startedAt = new Date(job.startedAt)
  if (job.finishedAt !== undefined) status.finishedAt = new Date(job.finishedAt)
  if (job.error !== undefined) status.error = job.error
  if (job.attempt !== undefined && job.attempt > 0) status.attempt = job.attempt
  if (job.progress !== undefined) status.progress = job.progress
  if (job.result !== undefined) status.result = job.result
  if (job.runAt !== undefined) status.runAt = new Date(job.runAt)
  return status
}
