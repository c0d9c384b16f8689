import type { BackendAdapter, BackendHost } from '../backend'
import type { Enqueued, IdempotencyRecord, JobQuery, JobRequest, ScheduleCause, ScheduledTask, TaskSpec, UnscheduleCause } from '../../core/model'
import { invalid } from '../../core/option-values'
import { drainWithin } from '../../core/shutdown'
import type { Backend, JobDetail, JobStats, JobStatus } from '../../types'
import { FleetSchedule } from './fleet-schedule'
import { NamedJobs } from './jobs'
import { OverlapLocks } from './locks'
import { readConfig, workerOptionsOf, type BullmqBackendOptions, type Config } from './options'
import { RedisErrors } from './outage'
import { FleetPauses } from './pauses'
import { Queues } from './queues'
import { Workers } from './workers'

// The distributed backend: a thin adapter onto BullMQ, wired here from pieces of one concern
// each. Named jobs are BullMQ jobs in one queue (jobs.ts); timed tasks are BullMQ job schedulers
// in a second one (fleet-schedule.ts); every job runs here through the same runner as in-process.

/** The backend for many replicas: `backend: bullmqBackend({ connection: 'redis://...' })`. */
export function bullmqBackend (options: BullmqBackendOptions): Backend {
  return new BullmqBackend(readConfig(options))
}

/** This replica's part in the fleet, from open(): its queues, its workers, and the pieces that use them. */
interface Connected {
  readonly host: BackendHost
  readonly queues: Queues
  readonly workers: Workers
  readonly jobs: NamedJobs
  readonly schedule: FleetSchedule
}

function connect (config: Config, host: BackendHost): Connected {
  const errors = new RedisErrors(host.log)
  const queues = new Queues(config, errors)
  const options = workerOptionsOf(config, host.settings.concurrency)
  const workers = new Workers(options, errors)
  const locks = new OverlapLocks(queues.tasks, options.lockDuration as number, errors)
  const pauses = new FleetPauses(queues.tasks)
  return {
    host,
    queues,
    workers,
    jobs: new NamedJobs(queues.jobs, host, workers, errors),
    schedule: new FleetSchedule({ queue: queues.tasks, log: host.log, workers, locks, pauses, errors })
  }
}

/** How long close lets BullMQ record the outcomes of the runs that have just ended, and close its connections. */
const CLOSE_MS = 2000

class BullmqBackend implements BackendAdapter {
  readonly kind = 'bullmq'
  #connected: Connected | undefined

  constructor (private readonly config: Config) {}

  async open (host: BackendHost): Promise<void> {
    this.#connected = connect(this.config, host)
  }

  checkTask (task: TaskSpec, path: string): void {
    if (task.kind === 'loop' || task.delay === 0) return
    throw invalid(`${path}.delay`, 'is not supported by the bullmq backend: all replicas share the due times ' +
      "(multiples of 'every' from the Unix epoch, or the cron pattern's), so there is no start of one process to delay them from")
  }

  enqueue (request: JobRequest): Promise<Enqueued> {
    return this.connected.jobs.enqueue(request)
  }

  cancel (id: string): Promise<boolean> {
    return this.connected.jobs.cancel(id)
  }

  retry (id: string): Promise<boolean> {
    return this.connected.jobs.retry(id)
  }

  list (query: JobQuery): Promise<JobStatus[]> {
    return this.connected.jobs.list(query)
  }

  claim (scope: string, key: string, record: IdempotencyRecord, ttlMs: number): Promise<IdempotencyRecord | undefined> {
    return this.connected.jobs.claim(scope, key, record, ttlMs)
  }

  release (scope: string, key: string): Promise<void> {
    return this.connected.jobs.release(scope, key)
  }

  status (id: string): Promise<JobStatus | undefined> {
    return this.connected.jobs.status(id)
  }

  detail (id: string): Promise<JobDetail | undefined> {
    return this.connected.jobs.detail(id)
  }

  stats (): Promise<JobStats> {
    return this.connected.jobs.stats()
  }

  drain (): Promise<void> {
    return this.connected.jobs.drain()
  }

  schedule (task: ScheduledTask, cause?: ScheduleCause): void {
    this.connected.schedule.schedule(task, cause)
  }

  unschedule (task: ScheduledTask, cause?: UnscheduleCause): void {
    this.connected.schedule.unschedule(task, cause)
  }

  syncTasks (): Promise<void> {
    return this.connected.schedule.sync()
  }

  async start (): Promise<void> {
    const { host, queues, workers, jobs, schedule } = this.connected
    // close() called while ready() was pending runs the close hooks first: start nothing after them.
    if (workers.closing.aborted) return
    // A Redis that restarted empty has lost the schedulers: each reconnection writes them again.
    await queues.connect(() => schedule.reassert())
    await schedule.sweep(host.settings.tasks)
    jobs.start()
  }

  /** This replica takes no new job from now on; what is queued stays in Redis for the others. */
  stopAccepting (): void {
    const { jobs, schedule, workers } = this.connected
    jobs.stopAccepting()
    schedule.stopAccepting()
    workers.stopTaking()
  }

  /**
   * Lets the runs in progress here finish by `deadline`, with the same sequence as in-process.
   * A run still going then is aborted here but not failed: its lock lapses and BullMQ hands it
   * to another replica.
   */
  async close (deadline: number): Promise<void> {
    const { host, queues, workers, schedule } = this.connected
    await drainWithin({
      settled: () => Promise.all([workers.settled(), schedule.settled()]),
      abort: () => workers.giveUp(),
      abandon: () => host.log.warn({ running: workers.running }, 'runs still not ended after their grace at close: BullMQ hands them to another replica')
    }, deadline)
    // What is left (BullMQ recording the outcomes of the last runs, closing the connections) is
    // bounded too: during an outage it cannot complete.
    const end = Date.now() + CLOSE_MS
    await workers.close(end)
    await queues.close(end)
  }

  private get connected (): Connected {
    /* c8 ignore next -- the plugin opens its backend at registration, before it calls anything else */
    if (this.#connected === undefined) throw new Error('the bullmq backend is used before open()')
    return this.#connected
  }
}
