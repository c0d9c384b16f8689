import type { BackendAdapter, BackendHost } from '../backend'
import type { Enqueued, IdempotencyRecord, JobQuery, JobRequest, ScheduleCause, ScheduledTask, TaskSpec, UnscheduleCause } from '../../core/model'
import { invalid } from '../../core/option-values'
import { drainWithin } from '../../core/shutdown'
import type { Backend, JobDetail, JobStats, JobStatus } from '../../types'
import { FleetSchedule } from './fleet-schedule'
import { NamedJobs } from './jobs'
import type { StoreDriver } from './driver'
import { OverlapLocks } from './locks'
import { readConfig, workerOptionsOf, type BullmqBackendOptions, type Config } from './options'
import { StoreErrors } from './outage'
import { PostgresDriver } from './postgres/driver'
import { Queues } from './queues'
import { RedisDriver } from './redis/driver'
import { Workers } from './workers'

// The distributed backend: a thin adapter onto BullMQ, wired here from pieces of one concern
// each. Named jobs are BullMQ jobs in one queue (jobs.ts); timed tasks are BullMQ job schedulers
// in a second one (fleet-schedule.ts); every job runs here through the same runner as in-process.
// BullMQ runs on Redis or on PostgreSQL: the store's driver is chosen here, and nothing else
// knows which it is.

/** The backend for many replicas: `backend: bullmqBackend({ connection: 'redis://...' })` (or `'postgres://...'`). */
export function bullmqBackend (options: BullmqBackendOptions): Backend {
  return new BullmqBackend(readConfig(options))
}

/** This replica's part in the fleet, from open(): its queues, its workers, and the pieces that use them. */
interface Connected {
  readonly host: BackendHost
  readonly queues: Queues
  readonly errors: StoreErrors
  readonly workers: Workers
  readonly jobs: NamedJobs
  readonly schedule: FleetSchedule
}

function driverOf (config: Config): StoreDriver {
  return config.store.kind === 'postgres' ? new PostgresDriver(config.store) : new RedisDriver(config.store, config.prefix)
}

function connect (config: Config, driver: StoreDriver, host: BackendHost): Connected {
  const errors = new StoreErrors(host.log, driver.name, driver.probe)
  const queues = new Queues(driver, config.queueName, errors)
  const options = workerOptionsOf(config, host.settings.concurrency)
  const workers = new Workers(driver, options, errors)
  const store = driver.storeOf(queues.tasks)
  const locks = new OverlapLocks(store, options.lockDuration as number, errors)
  return {
    host,
    queues,
    errors,
    workers,
    jobs: new NamedJobs(queues.jobs, driver.storeOf(queues.jobs), host, workers, errors),
    schedule: new FleetSchedule({ queue: queues.tasks, log: host.log, workers, locks, store, errors })
  }
}

/** How long close lets BullMQ record the outcomes of the runs that have just ended, and close its connections. */
const CLOSE_MS = 2000

class BullmqBackend implements BackendAdapter {
  readonly kind = 'bullmq'
  #connected: Connected | undefined

  constructor (private readonly config: Config) {}

  async open (host: BackendHost): Promise<void> {
    const driver = driverOf(this.config)
    await driver.open()
    this.#connected = connect(this.config, driver, host)
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

  /** This replica takes no new job from now on; what is queued stays in the store for the others. */
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
    const { host, queues, errors, workers, schedule } = this.connected
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
    errors.close()
  }

  private get connected (): Connected {
    /* c8 ignore next -- the plugin opens its backend at registration, before it calls anything else */
    if (this.#connected === undefined) throw new Error('the bullmq backend is used before open()')
    return this.#connected
  }
}
