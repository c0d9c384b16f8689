import { UnrecoverableError, type Job, type Queue } from 'bullmq'
import type { BackendHost } from '../backend'
import { CancelledError, InvalidDataError, NotDurableError, UnavailableError } from '../../core/errors'
import { describeError } from '../../core/failure'
import { jsonProblem } from '../../core/json'
import type { Enqueued, IdempotencyRecord, JobBackend, JobQuery, JobRequest, Outcome, RefusalReason } from '../../core/model'
import { newId } from '../../core/id'
import { CANCELLED_ON_REQUEST } from '../../core/run'
import { sleep } from '../../core/timers'
import { Admission } from '../../jobs/admission'
import type { JobDetail, JobStats, JobStatus } from '../../types'
import { IdempotencyClaims } from './idempotency-claims'
import { JobAttempt } from './job-attempt'
import { JobCancels } from './job-cancels'
import { JobReads } from './job-reads'
import type { StoreErrors } from './outage'
import { CANCELLED_JOB, type FleetStore } from './store'
import { QueuedCount } from './queued-count'
import type { Workers } from './workers'

// Named jobs as durable BullMQ jobs in one queue: any replica enqueues them, runs them, answers
// their status and the fleet's counts, and controls them (cancel, retry, list).

const DRAIN_POLL_MS = 50
const QUEUED_STATES = ['waiting', 'delayed', 'prioritized'] as const
/** A cancel mark is kept at least this long, even when statuses are not kept. */
const MIN_MARK_MS = 60_000
/** For call(): the call admits a job. */
const REFUSING = true

export class NamedJobs implements JobBackend {
  readonly #admission: Admission
  readonly #reads: JobReads
  readonly #cancels: JobCancels
  readonly #claims: IdempotencyClaims
  readonly #queued: QueuedCount

  constructor (
    private readonly queue: Queue,
    private readonly store: FleetStore,
    private readonly host: BackendHost,
    private readonly workers: Workers,
    private readonly errors: StoreErrors
  ) {
    this.#admission = new Admission(host.settings.maxQueued, reason => this.countRefusal(reason))
    this.#reads = new JobReads(store)
    this.#cancels = new JobCancels(queue, store, Math.max(host.settings.retention.ttl, MIN_MARK_MS), errors)
    this.#claims = new IdempotencyClaims(store)
    this.#queued = new QueuedCount(host.settings.maxQueued, async () => sum(await queue.getJobCounts(...QUEUED_STATES)))
  }

  /** onReady: this replica runs jobs from now on, if it declares any. */
  start (): void {
    if (this.host.settings.jobs.size > 0) this.workers.start(this.queue.name, job => this.process(job))
  }

  /** preClose: every job asked for from now on is refused. */
  stopAccepting (): void {
    this.#admission.close()
  }

  async enqueue (request: JobRequest): Promise<Enqueued> {
    if (!request.named) throw new NotDurableError()
    this.#admission.assertOpen()
    const problem = jsonProblem(request.data)
    if (problem !== undefined) throw new InvalidDataError(JSON.stringify(request.name), problem)
    await this.call(() => this.#queued.update(), REFUSING)
    this.#queued.admit(queued => this.#admission.assertRoom(queued))
    const id = request.id ?? newId()
    const { retries, backoff } = request.spec
    const { runAt, priority, key } = request.placement
    const keep = this.keep()
    const job = await this.call(() => this.queue.add(request.name, request.data, {
      jobId: id,
      attempts: retries + 1,
      backoff: { type: 'exponential', delay: backoff },
      delay: Math.max(0, runAt - Date.now()),
      priority,
      // BullMQ keeps the key while the job is queued (delayed included) or running, and frees it when it ends.
      deduplication: key === undefined ? undefined : { id: JSON.stringify([request.name, key]) },
      removeOnComplete: keep,
      removeOnFail: keep
    }), REFUSING)
    if (job.id === id) return { id, duplicate: false, status: 'queued' }
    // BullMQ answered the job that holds the key; it may just have ended and gone since.
    const same = await this.status(job.id as string)
    /* c8 ignore next -- a job that ended and was removed between the two calls */
    return { id: job.id as string, duplicate: true, status: same?.status ?? 'succeeded' }
  }

  status (id: string): Promise<JobStatus | undefined> {
    return this.call(() => this.#reads.status(id))
  }

  /** The status, and the data BullMQ keeps with the job. */
  async detail (id: string): Promise<JobDetail | undefined> {
    const [status, job] = await this.call(() => Promise.all([this.#reads.status(id), this.queue.getJob(id)]))
    return status === undefined ? undefined : { ...status, data: job?.data }
  }

  list (query: JobQuery): Promise<JobStatus[]> {
    return this.call(() => this.#reads.list(query))
  }

  /** From any replica: a queued job is dropped by the worker that takes it; a running one is aborted by its replica. */
  async cancel (id: string): Promise<boolean> {
    const found = await this.call(() => this.#cancels.mark(id))
    if (found === 'queued') return true
    if (found !== 'running') return false
    await this.#cancels.settled(async () => isFinished(await this.status(id)))
    // Cancelled, or still running past the wait (its replica is gone: whichever replica takes the
    // job over drops it), or gone (no status kept): all but a job that succeeded first.
    return (await this.status(id))?.status !== 'succeeded'
  }

  async retry (id: string): Promise<boolean> {
    const status = await this.status(id)
    if (status?.status !== 'failed' && status?.status !== 'cancelled') return false
    await this.call(async () => {
      await this.#cancels.unmark(id)
      const job = await this.queue.getJob(id)
      // A job cancelled while queued is still queued: without its mark, it simply runs.
      if (await job?.isFailed() === true) await job?.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true })
    })
    return true
  }

  claim (scope: string, key: string, record: IdempotencyRecord, ttlMs: number): Promise<IdempotencyRecord | undefined> {
    return this.call(() => this.#claims.claim(scope, key, record, ttlMs), REFUSING)
  }

  release (scope: string, key: string): Promise<void> {
    return this.call(() => this.#claims.release(scope, key))
  }

  async stats (): Promise<JobStats> {
    return this.call(async () => {
      const [counts, succeeded, failed, rejected] = await Promise.all([
        this.queue.getJobCounts(...QUEUED_STATES, 'active'),
        this.queue.getMetrics('completed', 0, 0),
        this.queue.getMetrics('failed', 0, 0),
        this.store.refusals()
      ])
      const { active, ...queued } = counts
      return { queued: sum(queued), running: active, succeeded: succeeded.meta.count, failed: failed.meta.count, rejected }
    })
  }

  /** Resolves when no job is queued or running anywhere in the fleet. */
  async drain (): Promise<void> {
    while (sum(await this.call(() => this.queue.getJobCounts(...QUEUED_STATES, 'active'))) > 0) await sleep(DRAIN_POLL_MS)
  }

  private async process (job: Job): Promise<unknown> {
    const id = job.id as string
    // Cancelled while it waited (the cancel renamed it): it never starts. UnrecoverableError:
    // BullMQ fails it without a retry. Its own name, for the metrics, is in its status.
    if (job.name === CANCELLED_JOB) {
      /* c8 ignore next -- a status gone between the take and this read (its retention passed): the name is the one it carries */
      const name = (await this.#reads.status(id))?.name ?? job.name
      return this.ended(job, 'cancelled', () => { throw new UnrecoverableError(CANCELLED) }, name, false)
    }
    const spec = this.host.settings.jobs.get(job.name)
    if (spec === undefined) throw new UnrecoverableError(`No job named ${JSON.stringify(job.name)} is declared on the replica that took it`)
    const attempt = new JobAttempt(this.host, job, spec)
    // BullMQ keeps no time at which a retry became due: only a first attempt's wait is known.
    if (attempt.number === 1) this.host.runner.events.jobStarted(job.name, Date.now() - job.timestamp - job.delay)
    const unwatch = this.#cancels.watch(id, () => attempt.cancel())
    let outcome: Outcome
    try {
      outcome = await this.workers.track(job, attempt.run(), () => attempt.abandon())
    } finally {
      unwatch()
    }
    if (outcome.status === 'succeeded') return this.ended(job, 'succeeded', () => this.keptResult(attempt, outcome.result))
    // A job cancelled as it ended: one that succeeded first stays succeeded (its cancel answers
    // false); one that failed is not retried. So only a failure asks the store once more.
    if (outcome.status === 'cancelled' || await this.#cancels.marked(id)) return this.ended(job, 'cancelled', () => { throw new UnrecoverableError(CANCELLED) })
    if (attempt.number <= spec.retries) {
      attempt.warn('job attempt failed; BullMQ retries it')
      throw new Error(outcome.error)
    }
    return this.ended(job, 'failed', () => { throw new Error(outcome.error) })
  }

  /** The job's last attempt ended `status` (or it never started): told to the metrics and the idempotency claim, then `finish` answers BullMQ. */
  private ended (job: Job, status: 'succeeded' | 'failed' | 'cancelled', finish: () => unknown, name = job.name, started = true): unknown {
    // BullMQ sets processedOn as it hands the job to the processor.
    this.host.runner.events.jobEnded(name, status, started ? Date.now() - (job.processedOn as number) : undefined)
    const idempotency = this.host.settings.idempotency
    if (idempotency !== false) {
      this.#claims.settle(job.id as string, idempotency.ttl).catch(error => this.errors.report(error, `an idempotency key could not be kept in ${this.errors.store}`))
    }
    return finish()
  }

  /** What BullMQ keeps as the job's return value: the result, if JSON carries it; one it cannot is dropped, and said so. */
  private keptResult (attempt: JobAttempt, result: unknown): unknown {
    if (result === undefined) return undefined
    const problem = jsonProblem(result, 'result')
    if (problem === undefined) return result
    attempt.warn('job result dropped: JSON cannot carry it', { problem })
    return undefined
  }

  /** Finished jobs kept as `retention` says: BullMQ counts the age in seconds. */
  private keep (): { age: number, count: number } | true {
    const { ttl, max } = this.host.settings.retention
    return ttl === 0 || max === 0 ? true : { age: Math.ceil(ttl / 1000), count: max }
  }

  /** A refusal counts in the fleet's `stats().rejected`, kept in the store. */
  private countRefusal (reason: RefusalReason): void {
    this.host.runner.events.jobRefused(reason)
    this.store.countRefusal().catch(error => this.errors.report(error, `a refused job could not be counted in ${this.errors.store}`))
  }

  /**
   * Runs a call to the store; a failure becomes FST_BACKGROUND_UNAVAILABLE (503). With REFUSING, the
   * call admits a job, so its failure is a job refused (a failed read refuses nothing).
   */
  private async call<T> (call: () => Promise<T>, refusing = false): Promise<T> {
    try {
      return await call()
    } catch (error) {
      this.errors.report(error as Error, `a call to ${this.errors.store} for background jobs failed`)
      if (refusing) this.host.runner.events.jobRefused('unavailable')
      throw new UnavailableError(describeError(error))
    }
  }
}

const CANCELLED = new CancelledError(CANCELLED_ON_REQUEST).message

function isFinished (status: JobStatus | undefined): boolean {
  return status === undefined || (status.status !== 'queued' && status.status !== 'running')
}

function sum (counts: Record<string, number>): number {
  return Object.values(counts).reduce((total, count) => total + count, 0)
}
