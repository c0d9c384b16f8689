import { JobAttemptContext, type AttemptContext } from '../core/context'
import type { JobRequest, ProgressSink, RunHost } from '../core/model'
import { Run } from '../core/run'
import type { JobProgress } from '../types'

/**
 * The attempts of one job through the shared runner. It holds no status: whoever queues the job
 * (the in-process queue, or BullMQ) keeps that, and decides when each attempt starts, so a job
 * waiting for its retry backoff holds no concurrency slot. `ctx.progress` goes to its `sink`;
 * a subclass that keeps the progress itself (the in-process job) gives none and overrides
 * `storeProgress`.
 */
export class JobRun extends Run implements ProgressSink {
  readonly name: string
  readonly data: unknown

  constructor (host: RunHost, request: JobRequest, id: string, private readonly sink?: ProgressSink) {
    super(host, request.spec, request.log, id)
    this.name = request.name
    this.data = request.data
  }

  storeProgress (value: JobProgress): Promise<void> {
    return (this.sink as ProgressSink).storeProgress(value)
  }

  get kind (): 'job' {
    return 'job'
  }

  logBindings (): Record<string, string> {
    return { job: this.name, jobId: this.id }
  }

  protected newContext (attempt: number): AttemptContext {
    return new JobAttemptContext(this, attempt, this.data, this)
  }
}
