import type { JobRequest } from './backend'
import { JobAttemptContext, type AttemptContext } from './context'
import { Run, type Outcome, type RunHost } from './run'
import type { JobState, JobStatus } from './types'

/** One accepted job: its run through the shared runner, and the status it reports. */
export class JobRun extends Run {
  status: JobState = 'queued'
  readonly enqueuedAt = Date.now()
  startedAt: number | undefined
  finishedAt: number | undefined
  error: string | undefined
  readonly name: string
  readonly data: unknown

  constructor (host: RunHost, request: JobRequest, id?: string) {
    super(host, request.spec, request.log, id)
    this.name = request.name
    this.data = request.data
  }

  get kind (): 'job' {
    return 'job'
  }

  logBindings (): Record<string, string> {
    return { job: this.name, jobId: this.id }
  }

  protected newContext (attempt: number): AttemptContext {
    return new JobAttemptContext(this, attempt, this.data)
  }

  protected override onAttemptStart (): void {
    this.status = 'running'
    this.startedAt ??= Date.now()
  }

  protected override onRetryWait (): void {
    this.status = 'queued'
  }

  /** Records how the job ended. */
  finish (outcome: Outcome): void {
    this.status = outcome.status === 'timeout' ? 'failed' : outcome.status
    this.error = outcome.error
    this.finishedAt = Date.now()
  }
}

/** The public status of a job: no data, no result, no stack. */
export function jobStatus (job: {
  id: string
  name: string
  status: JobState
  enqueuedAt: number
  startedAt?: number | undefined
  finishedAt?: number | undefined
  error?: string | undefined
}): JobStatus {
  const status: JobStatus = { id: job.id, name: job.name, status: job.status, enqueuedAt: new Date(job.enqueuedAt) }
  if (job.startedAt !== undefined) status.startedAt = new Date(job.startedAt)
  if (job.finishedAt !== undefined) status.finishedAt = new Date(job.finishedAt)
  if (job.error !== undefined) status.error = job.error
  return status
}
