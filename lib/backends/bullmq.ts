import { randomUUID } from 'node:crypto'
import { Queue, UnrecoverableError, WaitingError, Worker, type ConnectionOptions, type Job, type RedisClient, type WorkerOptions } from 'bullmq'
import type { Redis, RedisOptions } from 'ioredis'
import type { Backend, BackendHost, JobRequest, ScheduledTask } from '../backend'
import { ClosingError, InvalidDataError, NotDurableError, QueueFullError, UnavailableError } from '../errors'
import { describeError } from '../failure'
import { JobRun, jobStatus } from '../job'
import { invalid, plainObject, type Settings, type TaskSpec } from '../options'
import { drainWithin, untilDeadline } from '../shutdown'
import { sleep } from '../timers'
import type { JobState, JobStats, JobStatus } from '../types'
import { jsonProblem } from './bullmq-data'
import { OutageLog } from './bullmq-outage'
import { cronStrategy, FleetSchedule, LOCK_COMMANDS } from './bullmq-tasks'

// The distributed backend: a thin adapter onto BullMQ. Named jobs are BullMQ jobs in one queue,
// timed tasks are BullMQ job schedulers in a second one (`<queueName>.tasks`), and every job
// runs here through the same JobRun/Task code as in-process.

export interface BullmqBackendOptions {
  /** ioredis options, an ioredis instance, or a `redis://` / `rediss://` URL. */
  connection: RedisOptions | Redis | string
  /** Redis key prefix. Default 'bull'. */
  prefix?: string
  /** The jobs queue; timed tasks use `<queueName>.tasks`. Default 'fastify-background'. */
  queueName?: string
  /** Merged over `{ lockDuration: 15000, stalledInterval: 10000, concurrency: <plugin concurrency> }`. */
  workerOptions?: Partial<Omit<WorkerOptions, 'connection' | 'prefix'>>
}

export const BULLMQ_DEFAULTS = Object.freeze({
  prefix: 'bull',
  queueName: 'fastify-background',
  lockDuration: 15_000,
  stalledInterval: 10_000
})

/** Task runs of one replica at once; tasks are few and, in-process, never wait for a slot either. */
const TASK_CONCURRENCY = 64
const DRAIN_POLL_MS = 50
/** How long close lets BullMQ record the outcome of runs that have just finished. */
const RECORD_MS = 2000
const QUEUED_STATES = ['waiting', 'delayed', 'prioritized'] as const
const OPTION_KEYS = ['connection', 'prefix', 'queueName', 'workerOptions']
const COMMANDS: Record<string, string> = { ...LOCK_COMMANDS, fbgCount: "return redis.call('INCR', KEYS[1])" }

interface Config {
  /** The queues use an ioredis instance of the caller's. */
  shared: boolean
  queueConnection: ConnectionOptions
  workerConnection: ConnectionOptions
  prefix: string
  queueName: string
  workerOptions: Partial<WorkerOptions>
}

/** The backend for many replicas: `backend: bullmqBackend({ connection: 'redis://...' })`. */
export function bullmqBackend (options: BullmqBackendOptions): Backend {
  return new BullmqBackend(readOptions(options))
}

class BullmqBackend implements Backend {
  #host!: BackendHost
  #settings!: Settings
  #jobs!: Queue
  #tasks!: Queue
  #fleet!: FleetSchedule
  #outage!: OutageLog
  #jobWorker: Worker | undefined
  #taskWorker: Worker | undefined
  #closing = false
  #giveUp = false
  /** Job attempts and task runs in progress here, each with a promise that settles when it does. */
  readonly #running = new Map<JobRun | Job, Promise<unknown>>()
  readonly #abandoned = new Set<JobRun>()
  /** Per job id taken here: settles once BullMQ has recorded its outcome (its 'completed' or 'failed' event). */
  readonly #recording = new Map<string, Promise<void>>()
  readonly #recorded = new Map<string, () => void>()
  /** Each queue's client once connected, with this backend's Lua commands defined on it. */
  readonly #clients = new Map<Queue, RedisClient>()

  constructor (private readonly config: Config) {}

  async open (host: BackendHost): Promise<void> {
    this.#host = host
    this.#settings = host.settings
    this.#outage = new OutageLog(host.log)
    const { queueConnection: connection, prefix, queueName } = this.config
    this.#jobs = new Queue(queueName, { connection, prefix })
    this.#tasks = new Queue(`${queueName}.tasks`, { connection, prefix, settings: { repeatStrategy: cronStrategy() } })
    for (const queue of [this.#jobs, this.#tasks]) queue.on('error', this.#outage.error)
    const lockMs = this.workerOptions().lockDuration as number
    this.#fleet = new FleetSchedule(this.#tasks, host.log, lockMs, this.#outage.error)
  }

  checkTask (task: TaskSpec, path: string): void {
    if (task.kind === 'loop' || task.delay === 0) return
    throw invalid(`${path}.delay`, 'is not supported by the bullmq backend: all replicas share the due times ' +
      "(multiples of 'every' from the Unix epoch, or the cron pattern's), so there is no start of one process to delay them from")
  }

  async enqueue (request: JobRequest): Promise<string> {
    if (!request.named) throw new NotDurableError()
    if (this.#closing) throw this.refuse(new ClosingError())
    const problem = jsonProblem(request.data)
    if (problem !== undefined) throw new InvalidDataError(JSON.stringify(request.name), problem)
    const queued = await this.redis(async () => sum(await this.#jobs.getJobCounts(...QUEUED_STATES)))
    if (queued >= this.#settings.maxQueued) throw this.refuse(new QueueFullError(queued))
    const id = randomUUID()
    const { retries, backoff } = request.spec
    const keep = this.keep()
    await this.redis(() => this.#jobs.add(request.name, request.data, {
      jobId: id,
      attempts: retries + 1,
      backoff: { type: 'exponential', delay: backoff },
      removeOnComplete: keep,
      removeOnFail: keep
    }))
    return id
  }

  async status (id: string): Promise<JobStatus | undefined> {
    return this.redis(async () => {
      const job = await this.#jobs.getJob(id)
      if (job === undefined) return undefined
      const status = STATES[await job.getState()]
      if (status === undefined) return undefined
      const finished = status === 'succeeded' || status === 'failed'
      return jobStatus({
        id,
        name: job.name,
        status,
        enqueuedAt: job.timestamp,
        startedAt: job.processedOn,
        finishedAt: finished ? job.finishedOn : undefined,
        error: status === 'failed' ? job.failedReason : undefined
      })
    })
  }

  async stats (): Promise<JobStats> {
    return this.redis(async () => {
      const client = await this.client(this.#jobs)
      const [counts, succeeded, failed, rejected] = await Promise.all([
        this.#jobs.getJobCounts(...QUEUED_STATES, 'active'),
        this.#jobs.getMetrics('completed', 0, 0),
        this.#jobs.getMetrics('failed', 0, 0),
        client.get(this.#jobs.toKey('rejected'))
      ])
      const { active, ...queued } = counts
      return { queued: sum(queued), running: active, succeeded: succeeded.meta.count, failed: failed.meta.count, rejected: Number(rejected) }
    })
  }

  /** Resolves when no job is queued or running anywhere in the fleet. */
  async drain (): Promise<void> {
    while (sum(await this.redis(() => this.#jobs.getJobCounts(...QUEUED_STATES, 'active'))) > 0) await sleep(DRAIN_POLL_MS)
  }

  schedule (task: ScheduledTask): void {
    this.#taskWorker ??= this.worker(this.#tasks.name, (job, token) => this.processTask(job, token), { concurrency: TASK_CONCURRENCY })
    this.#fleet.schedule(task)
  }

  unschedule (task: ScheduledTask): void {
    this.#fleet.unschedule(task)
  }

  async start (): Promise<void> {
    // close() called while ready() was pending runs the close hooks first: start nothing after them.
    if (this.#closing) return
    (await this.client(this.#jobs)).on('ready', this.#outage.restored)
    // A Redis that restarted empty has lost the schedulers: each reconnection writes them again.
    ;(await this.client(this.#tasks)).on('ready', () => {
      this.#outage.restored()
      this.#fleet.reassert()
    })
    await this.#fleet.sweep(this.#settings.tasks)
    if (this.#settings.jobs.size > 0) this.#jobWorker = this.worker(this.#jobs.name, (job, token) => this.processJob(job, token))
  }

  /** This replica takes no new job from now on; what is queued stays in Redis for the others. */
  stopAccepting (): void {
    this.#closing = true
    this.#fleet.stopAccepting()
    for (const worker of this.workers()) worker.pause(true).catch(this.#outage.error)
  }

  /**
   * Lets the runs in progress here finish by `deadline`. A job still running then is aborted
   * here but not failed: its lock lapses and BullMQ hands it to another replica.
   */
  async close (deadline: number): Promise<void> {
    // preClose has called stopAccepting(): nothing new starts here.
    // The same sequence as in-process; what is still running after it is left to BullMQ, whose lock lapses.
    await drainWithin({
      settled: () => Promise.all([...this.#running.values(), this.#fleet.settled()]),
      abort: () => this.giveUp(),
      abandon: () => this.#host.log.warn({ running: this.#running.size }, 'runs still not ended after their grace at close: BullMQ hands them to another replica')
    }, deadline)
    // BullMQ records the outcomes of the runs that ended (unless Redis cannot take them), then
    // the connections are cut: waiting on Redis here could hang the close during an outage.
    await untilDeadline(Promise.all(this.#recording.values()), Date.now() + RECORD_MS)
    await Promise.all(this.workers().map(worker => worker.close(true).catch(this.#outage.error)))
    await Promise.all([this.#jobs, this.#tasks].map(queue => this.closeQueue(queue)))
  }

  private async closeQueue (queue: Queue): Promise<void> {
    await untilDeadline(queue.close().catch(this.#outage.error), Date.now() + RECORD_MS)
    // During an outage BullMQ cannot send QUIT and its client would go on reconnecting: cut it.
    // An ioredis instance given as `connection` stays open: it is the caller's.
    if (!this.config.shared) this.#clients.get(queue)?.disconnect()
  }

  private giveUp (): void {
    this.#giveUp = true
    for (const run of this.#running.keys()) {
      if (!(run instanceof JobRun)) continue
      this.#abandoned.add(run)
      run.parentLog.warn(run.logBindings(), 'job still running at the shutdown timeout: aborting it here; BullMQ hands it to another replica')
      run.cancel('shutdown timeout reached; the job is left to another replica')
    }
  }

  private async processJob (job: Job, token?: string): Promise<void> {
    if (this.#closing) return this.handBack(job, token)
    const spec = this.#settings.jobs.get(job.name)
    if (spec === undefined) throw new UnrecoverableError(`No job named ${JSON.stringify(job.name)} is declared on the replica that took it`)
    const request = { name: job.name, data: job.data, spec, named: true, log: this.#host.log }
    const run = new JobRun(this.#host.runner, request, job.id)
    const attempt = job.attemptsMade + 1
    const outcome = await this.track(run, run.id, run.runAttempt(attempt))
    if (this.#abandoned.has(run)) return this.abandon(run.id)
    if (outcome.status === 'succeeded') return
    if (attempt <= spec.retries) run.parentLog.warn({ ...run.logBindings(), attempt }, 'job attempt failed; BullMQ retries it')
    throw new Error(outcome.error)
  }

  private async processTask (job: Job, token?: string): Promise<void> {
    if (this.#closing) return this.handBack(job, token)
    await this.track(job, job.id as string, this.#fleet.process(job))
    // A task run cut short by the shutdown timeout is left to BullMQ, like a job.
    if (this.#giveUp) return this.abandon(job.id as string)
  }

  /**
   * What a processor returns for a run this replica gave up at shutdown: a promise that never
   * settles, so BullMQ neither completes nor fails the job, and its lock lapses.
   */
  private abandon (id: string): Promise<never> {
    this.#recording.delete(id)
    this.#recorded.delete(id)
    return new Promise(() => {})
  }

  /** A job taken while this replica closes goes back to the queue at once, for another replica. */
  private async handBack (job: Job, token: string | undefined): Promise<never> {
    await job.moveToWait(token)
    throw new WaitingError()
  }

  private async track<T> (key: JobRun | Job, id: string, work: Promise<T>): Promise<T> {
    this.#recording.set(id, new Promise(resolve => this.#recorded.set(id, resolve)))
    this.#running.set(key, work.catch(() => undefined))
    try {
      return await work
    } finally {
      this.#running.delete(key)
    }
  }

  /** A worker on the jobs queue, or (with `tasks`) on the tasks queue, whose concurrency is the backend's own. */
  private worker (name: string, processor: (job: Job, token?: string) => Promise<void>, tasks?: Partial<WorkerOptions>): Worker {
    const worker = new Worker(name, processor, { ...this.workerOptions(), ...tasks })
    worker.on('error', this.#outage.error)
    const recorded = (job: Job | undefined): void => {
      const id = job?.id as string
      this.#recorded.get(id)?.()
      this.#recorded.delete(id)
      this.#recording.delete(id)
    }
    worker.on('completed', recorded)
    worker.on('failed', recorded)
    return worker
  }

  private workerOptions (): WorkerOptions {
    const { workerConnection: connection, prefix, workerOptions } = this.config
    return {
      lockDuration: BULLMQ_DEFAULTS.lockDuration,
      stalledInterval: BULLMQ_DEFAULTS.stalledInterval,
      // Keeps the fleet's lifetime totals of completed and failed jobs, for stats().
      metrics: { maxDataPoints: 60 },
      concurrency: this.#settings.concurrency,
      ...workerOptions,
      connection,
      prefix
    }
  }

  private workers (): Worker[] {
    return [this.#jobWorker, this.#taskWorker].filter(worker => worker !== undefined)
  }

  /** Finished jobs kept as `retention` says: BullMQ counts the age in seconds. */
  private keep (): { age: number, count: number } | true {
    const { ttl, max } = this.#settings.retention
    return ttl === 0 || max === 0 ? true : { age: Math.ceil(ttl / 1000), count: max }
  }

  private refuse (error: Error): Error {
    const key = this.#jobs.toKey('rejected')
    this.client(this.#jobs).then(client => client.runCommand('fbgCount', [key])).catch(this.#outage.error)
    return error
  }

  private async client (queue: Queue): Promise<RedisClient> {
    const client = await queue.backend.client
    if (!this.#clients.has(queue)) {
      for (const [name, lua] of Object.entries(COMMANDS)) client.defineCommand(name, { numberOfKeys: 1, lua })
      this.#clients.set(queue, client)
    }
    return client
  }

  /** Runs a Redis call; a failure becomes FST_BACKGROUND_UNAVAILABLE (503). */
  private async redis<T> (call: () => Promise<T>): Promise<T> {
    try {
      return await call()
    } catch (error) {
      this.#outage.error(error as Error)
      throw new UnavailableError(describeError(error))
    }
  }
}

/** BullMQ's job states as the contract's; 'unknown' (no such job) has none. */
const STATES: Record<string, JobState | undefined> = {
  waiting: 'queued',
  delayed: 'queued',
  prioritized: 'queued',
  'waiting-children': 'queued',
  active: 'running',
  completed: 'succeeded',
  failed: 'failed'
}

function sum (counts: Record<string, number>): number {
  return Object.values(counts).reduce((total, count) => total + count, 0)
}

function readOptions (input: unknown): Config {
  const options = plainObject(input, 'backend', OPTION_KEYS, 'bullmqBackend needs an object { connection, prefix?, queueName?, workerOptions? }')
  const workerOptions = plainObject(options.workerOptions ?? {}, 'backend.workerOptions', undefined, 'must be an object of BullMQ Worker options')
  const misplaced = ['connection', 'prefix'].find(key => key in workerOptions)
  if (misplaced !== undefined) throw invalid(`backend.workerOptions.${misplaced}`, `set it on bullmqBackend({ ${misplaced} }) instead`)
  const queueName = text(options.queueName, 'backend.queueName', BULLMQ_DEFAULTS.queueName)
  if (queueName.includes(':')) throw invalid('backend.queueName', 'cannot contain ":"')
  return {
    ...connectionsOf(options.connection),
    prefix: text(options.prefix, 'backend.prefix', BULLMQ_DEFAULTS.prefix),
    queueName,
    workerOptions: workerOptions as Partial<WorkerOptions>
  }
}

/**
 * Queue calls fail fast while Redis is away (so a request gets a 503 instead of waiting), and
 * workers, whose blocking calls need it, retry forever. An ioredis instance is used as is by the
 * queues (it stays yours to close); workers get connections of their own with its options.
 */
function connectionsOf (connection: unknown): Pick<Config, 'shared' | 'queueConnection' | 'workerConnection'> {
  if (typeof connection === 'string') {
    if (!/^rediss?:\/\//.test(connection)) throw invalid('backend.connection', 'a URL must start with redis:// or rediss://')
    return { shared: false, queueConnection: { url: connection, enableOfflineQueue: false }, workerConnection: { url: connection } }
  }
  if (typeof (connection as Redis | null)?.duplicate === 'function') {
    const instance = connection as Redis
    return { shared: true, queueConnection: instance, workerConnection: { ...instance.options, maxRetriesPerRequest: null } as ConnectionOptions }
  }
  const options = plainObject(connection, 'backend.connection', undefined, 'must be ioredis options, an ioredis instance or a redis:// URL')
  return { shared: false, queueConnection: { ...options, enableOfflineQueue: false }, workerConnection: options }
}

function text (value: unknown, path: string, fallback: string): string {
  if (value === undefined) return fallback
  if (typeof value !== 'string' || value === '') throw invalid(path, 'must be a non-empty string')
  return value
}
