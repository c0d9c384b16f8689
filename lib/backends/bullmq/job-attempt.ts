import type { Job } from 'bullmq'
import type { BackendHost } from '../backend'
import type { JobSpec, Outcome, ProgressSink } from '../../core/model'
import { CANCELLED_ON_REQUEST } from '../../core/run'
import { AT_ONCE } from '../../jobs/enqueue-options'
import { JobRun } from '../../jobs/job-run'
import type { JobProgress } from '../../types'

/**
 * One attempt of a BullMQ job, run here through the shared runner: the one place this backend
 * meets JobRun. BullMQ keeps the job's status and counts its attempts; the run gives the handler
 * its context, scope, signal, timeout, log and trace, and `ctx.progress` reaches the job in Redis.
 */
export class JobAttempt implements ProgressSink {
  readonly #run: JobRun
  /** 1-based, as `ctx.attempt`. */
  readonly number: number

  constructor (host: BackendHost, private readonly job: Job, spec: JobSpec) {
    const request = { name: job.name, data: job.data, spec, named: true, log: host.log, placement: AT_ONCE }
    this.#run = new JobRun(host.runner, request, job.id as string, this)
    this.number = job.attemptsMade + 1
  }

  run (): Promise<Outcome> {
    return this.#run.runAttempt(this.number)
  }

  storeProgress (value: JobProgress): Promise<void> {
    return this.job.updateProgress(value)
  }

  /** Someone cancelled the job: its signal aborts, with the usual grace. */
  cancel (): void {
    this.#run.cancel(CANCELLED_ON_REQUEST)
  }

  /** Close gave up waiting for it: it is aborted here, and BullMQ hands the job to another replica. */
  abandon (): void {
    this.warn('job still running at the shutdown timeout: aborting it here; BullMQ hands it to another replica')
    this.#run.cancel('shutdown timeout reached; the job is left to another replica')
  }

  /** Logs `message` at warn on the job's logger, with its name, id and this attempt. */
  warn (message: string, fields?: Record<string, unknown>): void {
    this.#run.parentLog.warn({ ...this.#run.logBindings(), attempt: this.number, ...fields }, message)
  }
}
