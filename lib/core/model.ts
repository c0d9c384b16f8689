import type { TracingChannel } from 'node:diagnostics_channel'
import type { AwilixContainer } from 'awilix'
import type { Cron } from 'croner'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import type { Backend, DashboardGuard, MetricsRegistry, JobDetail, JobListQuery, JobProgress, JobState, JobStats, JobStatus, RunResult, TaskKind, TraceContext } from '../types'

// The plugin's internal model: what the option reader produces, and what the runner, the task
// registry, the job API and the backends pass between them. It imports nothing internal, so
// every other module may import it and the dependency graph points one way.

/** The parts of a task or job definition that say how to run it. */
export interface WorkSpec {
  readonly handler: (ctx: any) => unknown
  readonly retries: number
  readonly backoff: number
  readonly timeout: number | undefined
}

export interface TaskSpec extends WorkSpec {
  readonly name: string
  readonly kind: TaskKind
  /** ms, for kind 'every'. */
  readonly every?: number
  readonly cron?: Cron
  readonly timezone?: string
  readonly immediate: boolean
  readonly delay: number
  readonly jitter: number
  readonly overlap: 'skip' | 'allow'
  readonly enabled: boolean
}

export interface JobSpec extends WorkSpec {
  /** The status route shows the job's result. */
  readonly exposeResult: boolean
}

/** The plugin options, checked and with their defaults. */
export interface Settings {
  readonly container: AwilixContainer | undefined
  readonly tasks: TaskSpec[]
  readonly jobs: ReadonlyMap<string, JobSpec>
  readonly concurrency: number
  readonly maxQueued: number
  readonly shutdownTimeout: number
  readonly statusRoute: StatusRouteSettings | false
  readonly retention: { readonly ttl: number, readonly max: number }
  readonly idempotency: IdempotencySettings | false
  readonly dashboard: DashboardSettings | false
  readonly metrics: MetricsSettings | false
  readonly backend: Backend | undefined
}

export interface StatusRouteSettings {
  /** With exactly one `:param`. */
  readonly path: string
  /** `DELETE <path>` cancels the job. */
  readonly cancel: boolean
}

/** The `idempotency` option, read: which header carries the key, and how long after its job ends a key is kept. */
export interface IdempotencySettings {
  /** Lower case, as Node names request headers. */
  readonly header: string
  readonly ttl: number
}

/** The `metrics` option, read. */
export interface MetricsSettings {
  /** undefined: prom-client's global `register`. */
  readonly registry: MetricsRegistry | undefined
  /** Where the registry is served; undefined: not served. */
  readonly path: string | undefined
}

/** The `dashboard` option, read. */
export interface DashboardSettings {
  /** Static, without a trailing slash. */
  readonly path: string
  /** Decides alone who is served; without it, loopback clients only. */
  readonly guard: DashboardGuard | undefined
  /** No buttons, and every POST refused. */
  readonly readOnly: boolean
}

export type OutcomeStatus = 'succeeded' | 'failed' | 'timeout' | 'cancelled'

/** How one attempt, or one run of attempts, ended. */
export interface Outcome {
  readonly status: OutcomeStatus
  readonly error?: string
  /** What a handler that succeeded resolved with. */
  readonly result?: unknown
}

export type Tracer = TracingChannel<TraceContext>

/** What running user code needs from the plugin instance. */
export interface RunHost {
  readonly app: FastifyInstance
  readonly container: AwilixContainer
  readonly tracers: Readonly<Record<'task' | 'job', Tracer>>
  readonly events: WorkEvents
}

export type RefusalReason = 'queue_full' | 'closing' | 'unavailable'

/**
 * What happens to the work of this process, as the task registry and the backends tell it: what
 * metrics count. Label values are names, statuses and reasons, never ids. The default does nothing.
 */
export interface WorkEvents {
  /** A task run ended (or a due run was skipped for overlap). */
  taskRun: (task: string, status: RunResult['status'], durationMs: number) => void
  /** An attempt of a job started `waitMs` after it could have (its enqueue, runAt or backoff). */
  jobStarted: (job: string, waitMs: number) => void
  /** A job ended; `durationMs` from its first start, undefined when it never started. */
  jobEnded: (job: string, status: 'succeeded' | 'failed' | 'cancelled', durationMs: number | undefined) => void
  /** A job was refused. */
  jobRefused: (reason: RefusalReason) => void
}

/** When and in what order a job may start, and what makes it unique (the enqueue options, checked). */
export interface JobPlacement {
  /** ms since the epoch from which the job may start; 0: at once. */
  readonly runAt: number
  /** 0 … 2^21 − 1, lower first. */
  readonly priority: number
  /** At most one queued or running job per name and key. */
  readonly key: string | undefined
}

/** A job asked for by `reply.accepted` or `app.background.enqueue`. */
export interface JobRequest {
  readonly name: string
  readonly data: unknown
  readonly spec: JobSpec
  /** Declared in `options.jobs` (so it can be persisted by name); false for a function job. */
  readonly named: boolean
  /** The parent of the job's logger: the request's logger, or `app.log`. */
  readonly log: FastifyBaseLogger
  readonly placement: JobPlacement
  /** The id the job must have (an idempotent request claims one first); a new one when undefined. */
  readonly id?: string
}

/** A job the backend holds now: a new one, or with `duplicate` the queued or running job of the same key. */
export interface Enqueued {
  readonly id: string
  readonly duplicate: boolean
  readonly status: JobState
}

/** `list()`'s query, checked and with its defaults. */
export interface JobQuery extends JobListQuery {
  readonly limit: number
  readonly offset: number
}

/** What an idempotent request leaves behind: the job it made, and the fingerprint of its data. */
export interface IdempotencyRecord {
  readonly id: string
  readonly fingerprint: string
}

/** What the job API (`app.background`, `reply.accepted`, the status route) asks of a backend. */
export interface JobBackend {
  /**
   * Queues a job, or refuses it with a coded error: the id once the job is stored. A backend that
   * stores jobs in this process returns it (or throws) at once, so a 202 goes out without waiting
   * a turn; one that stores them elsewhere resolves (or rejects) once it knows.
   */
  enqueue: (request: JobRequest) => Enqueued | Promise<Enqueued>
  status: (id: string) => Promise<JobStatus | undefined>
  /** The status with the job's data (and its result, whether or not the job exposes it). */
  detail: (id: string) => Promise<JobDetail | undefined>
  stats: () => Promise<JobStats>
  /** Resolves when nothing is queued or running. */
  drain: () => Promise<void>
  /** A queued job never starts; a running one is aborted (reason FST_BACKGROUND_CANCELLED); false when unknown or finished. */
  cancel: (id: string) => Promise<boolean>
  /** A failed or cancelled job queued again under its id; false otherwise. */
  retry: (id: string) => Promise<boolean>
  list: (query: JobQuery) => Promise<JobStatus[]>
  /**
   * Claims an idempotency key (`scope` is the job name) for `record` unless it is claimed already:
   * undefined when this call claimed it, else what the first claim left. A claim lasts `ttlMs`
   * after its job finished.
   */
  claim: (scope: string, key: string, record: IdempotencyRecord, ttlMs: number) => Promise<IdempotencyRecord | undefined>
  /** Gives up a claim whose job could not be enqueued. */
  release: (scope: string, key: string) => Promise<void>
}

/** Where a running job's `ctx.progress(value)` goes, once checked: its backend's store. */
export interface ProgressSink {
  storeProgress: (value: JobProgress) => Promise<void>
}

/** A timed (`every`/`cron`) task, as the backend that fires it sees it. */
export interface ScheduledTask {
  readonly spec: TaskSpec
  /** ms since the epoch the in-process schedule is anchored at: ready (or `add`) + delay. */
  readonly anchor: number
  /** ms since the epoch of the first due time to fire: the anchor at ready, the moment of `resume()` after a pause. */
  readonly since: number
  /** A due time arrived: run it, or skip it while a run is in progress and overlap is 'skip'. */
  fire: (scheduledAt: number) => Promise<RunResult>
  /**
   * As `fire`, when no one waits for the result (the in-process clock): a run no one observes
   * costs less. `now` is a `Date.now()` reading taken just before; it returns one taken once the
   * run's synchronous part is over (`now` when nothing ran), so that runs fired one after another
   * read the clock once each.
   */
  fireAndForget: (scheduledAt: number, now: number) => number
  /** A due time skipped because a run is in progress elsewhere (another replica holds the task's overlap lock). */
  skip: (scheduledAt: number) => RunResult
  /** The next due time, for `TaskInfo.nextRunAt`; null when none is planned. */
  planned: (nextRunAt: number | null) => void
  /**
   * The in-process clock that fires the task keeps its place for it here (a task is in one clock
   * at most), so a clock of 100,000 tasks needs no map of them; undefined while in none.
   */
  clockEntry: unknown
  /**
   * A backend whose store keeps pauses for many processes learned that another one paused
   * (true) or resumed (false) the task: its state shows so. Nothing else changes (the backend
   * already fires it, or not).
   */
  fleetPaused: (paused: boolean) => void
}

/** Why a task is to be fired: it starts (the app is ready, or it was added), or it was resumed. */
export type ScheduleCause = 'start' | 'resume'
/** Why a task is no longer to be fired: it was paused, or stopped (removed, or the app closes). */
export type UnscheduleCause = 'pause' | 'stop'

/** What the task registry asks of a backend: firing timed tasks at their due times. */
export interface TaskScheduler {
  /** Starts firing a timed task at its due times (after `start`, or at once once started); `cause` defaults to 'start'. */
  schedule: (task: ScheduledTask, cause?: ScheduleCause) => void
  /** Stops firing a timed task: it was paused, removed, or the app is closing; `cause` defaults to 'stop'. */
  unschedule: (task: ScheduledTask, cause?: UnscheduleCause) => void
  /** Refuses task options the backend cannot honour, with FST_BACKGROUND_INVALID_OPTION. */
  checkTask?: (task: TaskSpec, path: string) => void
  /**
   * A store shared by many processes: brings the tasks' states in line with the pauses and
   * resumes other processes made since this one last looked (before a reader shows or steers them).
   */
  syncTasks?: () => Promise<void>
}
