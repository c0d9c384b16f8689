import type { AwilixContainer } from 'awilix'
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

/**
 * What `ctx.cradle` resolves: empty until you declare your registrations, as @fastify/awilix's
 * `Cradle` is, so a misspelt name is a type error:
 * `declare module 'fastify-background' { interface BackgroundCradle { users: UserService } }`
 */
export interface BackgroundCradle {}

/** What every run of a task or job gets: its own scope, signal and logger. */
export interface WorkContext {
  /** Which attempt this is, 1-based; each attempt gets a fresh context, scope and signal. */
  readonly attempt: number
  /** An awilix scope of the root container, created for this attempt and disposed when it ends. */
  readonly scope: AwilixContainer<BackgroundCradle>
  /** `scope.cradle`. */
  readonly cradle: BackgroundCradle
  /** Aborts on timeout, on close, and when the task is removed. */
  readonly signal: AbortSignal
  readonly app: FastifyInstance
  /** Resolves after `ms`, or as soon as `signal` aborts. */
  sleep: (ms: number) => Promise<void>
}

export interface TaskContext extends WorkContext {
  readonly name: string
  /** Unique per run; the attempts of one run share it. */
  readonly runId: string
  /** The nominal due time (before jitter); for `trigger()` and `immediate`, when the run was asked for. */
  readonly scheduledAt: Date
  /** A child of `app.log` with `{ task, runId }`. */
  readonly log: FastifyBaseLogger
}

export interface JobContext<Data = unknown> extends WorkContext {
  /** A random UUID. */
  readonly id: string
  /** The declared job name, or `opts.name`, or `'anonymous'` for a function job. */
  readonly name: string
  readonly data: Data
  /** A child of the request's logger (so it carries `reqId`) with `{ jobId }`; of `app.log` outside a request. */
  readonly log: FastifyBaseLogger
  /** Records how far the job got (`status(id).progress`); resolves once stored. */
  progress: (value: JobProgress) => Promise<void>
}

export type TaskHandler = (ctx: TaskContext) => unknown
export type JobHandler<Data = any> = (ctx: JobContext<Data>) => unknown

/** A number of milliseconds, or a string such as `'250ms'`, `'30s'`, `'5m'`, `'1h'`, `'1d'`. */
export type Duration = number | `${number}${'ms' | 's' | 'm' | 'h' | 'd'}`

interface TaskOptionsBase {
  /** Unique, non-empty; letters, digits and `_ . : @ / -`. */
  name: string
  handler: TaskHandler
  /** false: registered, paused. Default true. */
  enabled?: boolean
  /** Added to the start: `every` runs are due at ready + delay + k·every, cron never fires before ready + delay, a loop starts after it. Default 0. */
  delay?: Duration
}

interface ScheduledTaskOptions extends TaskOptionsBase {
  /** Also run once right after ready (after `delay`). Default false. */
  immediate?: boolean
  /** Up to this much added at random to each run time. Default 0. */
  jitter?: Duration
  /** The limit of each attempt: the signal aborts and the attempt counts as 'timeout'. */
  timeout?: Duration
  /** 'skip' (default): a due run is skipped while one runs; 'allow': runs may overlap. */
  overlap?: 'skip' | 'allow'
  /** Failed attempts retried this many times. Default 0. */
  retries?: number
  /** The wait before the first retry, doubling each time. Default 1000 (ms). */
  backoff?: Duration
}

export interface EveryTaskOptions extends ScheduledTaskOptions {
  /** Fixed rate, anchored to ready + delay. */
  every: Duration
  cron?: never
  timezone?: never
  loop?: never
}

export interface CronTaskOptions extends ScheduledTaskOptions {
  /** 5 or 6 fields (seconds first when 6). */
  cron: string
  /** An IANA time zone such as 'Europe/Rome'. Default: the process's. */
  timezone?: string
  every?: never
  loop?: never
}

export interface LoopTaskOptions extends TaskOptionsBase {
  /** Started once when ready and meant to run until `ctx.signal` aborts; restarted with backoff if it ends early. */
  loop: true
  every?: never
  cron?: never
}

export type TaskDefinition = EveryTaskOptions | CronTaskOptions | LoopTaskOptions

export interface JobOptions<Data = any> {
  handler: JobHandler<Data>
  /** Failed attempts retried this many times. Default 0. */
  retries?: number
  /** The wait before the first retry, doubling each time. Default 1000 (ms). */
  backoff?: Duration
  /** The limit of each attempt: the signal aborts and the attempt counts as 'timeout'. */
  timeout?: Duration
  /** The status route shows the job's result (it may hold data: off by default). Default false. */
  exposeResult?: boolean
}

export type JobDefinition<Data = any> = JobHandler<Data> | JobOptions<Data>

export interface RetentionOptions {
  /** How long a finished job's status is kept. Default 3_600_000 (ms, one hour). */
  ttl?: Duration
  /** Finished job statuses kept at most. Default 10_000. */
  max?: number
}

export interface StatusRouteOptions {
  /** With exactly one `:param`, e.g. '/jobs/:id'. */
  path: string
  /** `DELETE <path>` cancels the job. Default false. */
  cancel?: boolean
}

export interface IdempotencyOptions {
  /** The request header that carries the key. Default 'idempotency-key'. */
  header?: string
  /** How long after its job finished a key is remembered. Default: `retention.ttl`. */
  ttl?: Duration
}

/**
 * Who may use the dashboard: an `onRequest`-style hook run on every dashboard route (page,
 * assets, API). Throw, or send a reply, to refuse.
 */
export type DashboardGuard = (request: FastifyRequest, reply: FastifyReply) => unknown

export interface DashboardOptions {
  /** Where the page is served, e.g. '/background'; its JSON API is under `<path>/api`. */
  path: string
  /** Decides alone who is served. Default: loopback clients only (403 FST_BACKGROUND_FORBIDDEN otherwise). */
  guard?: DashboardGuard
  /** No buttons; every POST answers 403. Default false. */
  readOnly?: boolean
}

/**
 * Where the metrics are registered: a prom-client `Registry` (only what the plugin uses is
 * named here, so these types do not need prom-client).
 */
export interface MetricsRegistry {
  readonly contentType: string
  metrics: () => Promise<string>
  getSingleMetric: (name: string) => unknown
  removeSingleMetric: (name: string) => void
  registerMetric: (metric: never) => void
}

export interface MetricsOptions {
  /** Default: prom-client's global `register`. Two apps in one process each need their own. */
  registry?: MetricsRegistry
  /** Serves the registry there (`GET`, Prometheus text format), e.g. '/metrics'. Default: not served. */
  path?: string
}

export interface FastifyBackgroundOptions {
  /** The root awilix container. Default: `app.diContainer` (@fastify/awilix), else a new container. */
  container?: AwilixContainer
  tasks?: TaskDefinition[]
  jobs?: Record<string, JobDefinition>
  /** Accepted jobs running at once. Default 10. */
  concurrency?: number
  /** Accepted jobs waiting; beyond that `reply.accepted` answers 503. Default 1000. */
  maxQueued?: number
  /** How long close waits for running work before aborting it. Default 10_000 (ms). */
  shutdownTimeout?: Duration
  /** A path with exactly one `:param`, e.g. '/jobs/:id', for Location headers and a GET status route. Default false. */
  statusRoute?: string | false | StatusRouteOptions
  retention?: RetentionOptions
  /** Honour the `Idempotency-Key` header on `reply.accepted`. Default false. */
  idempotency?: boolean | IdempotencyOptions
  /** A page to see and steer tasks and jobs, e.g. '/background'. Default false. */
  dashboard?: string | false | DashboardOptions
  /** Prometheus metrics on prom-client (an optional peer: `npm install prom-client`). Default false. */
  metrics?: boolean | MetricsOptions
  /** Default: in-process. `bullmqBackend({...})` from 'fastify-background/bullmq' for many replicas. */
  backend?: Backend
}

/**
 * A backend for the `backend` option, as `bullmqBackend()` makes it. Its methods are internal
 * and change as the plugin grows (see "Backends" in the README): this type only names the value.
 */
export interface Backend {
  /** Which store it runs on, for logs: 'memory', 'bullmq'. */
  readonly kind: string
}

/** What subscribers of the `fastify-background:task` and `fastify-background:job` channels receive. */
export interface TraceContext {
  kind: 'task' | 'job'
  name: string
  /** The runId of a task run, or the id of a job. */
  id: string
  attempt: number
  result?: unknown
  error?: unknown
}

export type TaskKind = 'every' | 'cron' | 'loop'
export type TaskState = 'idle' | 'running' | 'paused' | 'stopped'
export type RunStatus = 'succeeded' | 'failed' | 'timeout' | 'skipped' | 'cancelled'

export interface RunResult {
  runId: string
  status: RunStatus
  startedAt: Date
  finishedAt: Date
  durationMs: number
  /** The message of what the handler threw, or why it timed out or was cancelled. */
  error?: string
}

export interface TaskInfo {
  name: string
  kind: TaskKind
  state: TaskState
  nextRunAt: Date | null
  /** Runs in progress. */
  running: number
  /** Finished runs, `trigger()` included. */
  runs: number
  /** Runs that ended 'failed' or 'timeout'. */
  failures: number
  /** Due runs skipped because one was running (`overlap: 'skip'`). */
  skips: number
  lastRun: RunResult | null
}

/** A task's schedule, as the dashboard shows it: `every` in ms, or a cron pattern with its time zone. */
export type TaskSchedule =
  | { every: number }
  | { cron: string, /** The task's `timezone`, else the server's. */ timezone: string }
  | { loop: true }

/**
 * A task in the dashboard's overview (`GET <dashboard>/api/overview`): its `TaskInfo` with the
 * times in ms since the epoch (a page reads 10,000 tasks every 2 s, and writing numbers is many
 * times cheaper than ISO strings), and its schedule.
 */
export interface DashboardTask extends Omit<TaskInfo, 'nextRunAt' | 'lastRun'> {
  nextRunAt: number | null
  lastRun: DashboardRun | null
  schedule: TaskSchedule
}

/** A task's last run in the overview: its `RunResult` with the times in ms since the epoch. */
export interface DashboardRun extends Omit<RunResult, 'startedAt' | 'finishedAt'> {
  startedAt: number
  finishedAt: number
}

/** `GET <dashboard>/api/overview`: the counts of `stats()` and every task. */
export interface DashboardOverview {
  stats: JobStats
  tasks: DashboardTask[]
}

/** `GET <dashboard>/api/jobs/:id`: a job's status with its data and result, for the people the dashboard serves. */
export interface JobDetail extends JobStatus {
  data?: unknown
}

export interface TaskRegistry {
  list: () => TaskInfo[]
  get: (name: string) => TaskInfo | undefined
  /** Validated like the options; starts at once when the app is ready. */
  add: (definition: TaskDefinition) => TaskInfo
  /** Stops the schedule, aborts a running run and waits for it. false: no such task. */
  remove: (name: string) => Promise<boolean>
  /** false: no such task. */
  pause: (name: string) => boolean
  /** false: no such task. */
  resume: (name: string) => boolean
  /** Runs it now, outside the schedule; `{ status: 'skipped' }` while a run is in progress and overlap is 'skip'. */
  trigger: (name: string) => Promise<RunResult>
}

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled'

/** What `ctx.progress(value)` records: a finite number (a percentage, a count) or a JSON object. */
export type JobProgress = number | Record<string, unknown>

export interface JobStatus {
  id: string
  name: string
  status: JobState
  enqueuedAt: Date
  startedAt?: Date
  finishedAt?: Date
  /** The message only, never a stack. */
  error?: string
  /** The last attempt started, 1-based; absent before the first. */
  attempt?: number
  /** The last value given to `ctx.progress()`, kept after the job ends. */
  progress?: JobProgress
  /** What the handler resolved with, as JSON (the status route shows it only with `exposeResult: true`). */
  result?: unknown
  /** A queued job that is delayed or waiting for a retry: when it may start. */
  runAt?: Date
}

export interface JobStats {
  queued: number
  running: number
  succeeded: number
  failed: number
  /** Refusals because the queue was full or the app closing. */
  rejected: number
}

export interface EnqueueOptions {
  /** Labels a function job in logs and statuses. Default 'anonymous'. */
  name?: string
  /** The job is queued now and may start once this has passed. Not with `runAt`. */
  delay?: Duration
  /** The job may start from then (a past date: at once). Not with `delay`. */
  runAt?: Date
  /** 0 (the default, the highest) … 2_097_151: lower runs sooner; equal priorities in enqueue order. */
  priority?: number
  /** 1–200 characters: while a job of the same name and key is queued or running, enqueueing another answers that job. */
  key?: string
}

/** What `enqueue` resolves with: the job's id, and `duplicate: true` when `key` matched a job already queued or running. */
export interface Enqueued {
  id: string
  duplicate?: true
}

export interface JobListQuery {
  /** Only jobs in this state. */
  status?: JobState
  /** 1–1000. Default 50. */
  limit?: number
  /** Jobs to skip, newest first. Default 0. */
  offset?: number
}

export interface AcceptedOptions extends EnqueueOptions {
  /** Replaces the default body `{ id, status: 'queued', statusUrl? }`. */
  body?: unknown
  headers?: Record<string, string | number | string[]>
}

export interface Background {
  enqueue: {
    (fn: JobHandler, opts?: EnqueueOptions): Promise<Enqueued>
    (name: string, data?: unknown, opts?: Omit<EnqueueOptions, 'name'>): Promise<Enqueued>
  }
  status: (id: string) => Promise<JobStatus | undefined>
  /** true when the job was queued or running and is now cancelled; resolves once a running handler has settled (or its grace ran out). */
  cancel: (id: string) => Promise<boolean>
  /** A failed or cancelled job is queued again under the same id, attempts counted from 1; false otherwise. */
  retry: (id: string) => Promise<boolean>
  /** Kept jobs, newest (last enqueued) first. */
  list: (query?: JobListQuery) => Promise<JobStatus[]>
  /** Resolves when nothing is queued or running. */
  drain: () => Promise<void>
  stats: () => Promise<JobStats>
  /** The root awilix container in use. */
  readonly container: AwilixContainer<BackgroundCradle>
}
