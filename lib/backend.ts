import type { FastifyBaseLogger } from 'fastify'
import type { JobSpec, Settings, TaskSpec } from './options'
import type { RunHost } from './run'
import type { JobStats, JobStatus, RunResult } from './types'

// The one small interface both backends implement. The plugin talks only to this, so the code
// of an application and of the plugin is the same on one process and on many replicas.

/** What the plugin gives a backend when it opens. */
export interface BackendHost {
  /** `app.log`. */
  readonly log: FastifyBaseLogger
  readonly settings: Settings
  /** What running a job through the shared runner needs. */
  readonly runner: RunHost
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
  /** A due time skipped because a run is in progress elsewhere (another replica holds the task's overlap lock). */
  skip: (scheduledAt: number) => RunResult
  /** The next due time, for `TaskInfo.nextRunAt`; null when none is planned. */
  planned: (nextRunAt: number | null) => void
}

export interface Backend {
  /** Called once at registration, before anything else. */
  open: (host: BackendHost) => Promise<void>
  /**
   * Queues a job, or refuses it with a coded error: the id once the job is stored. A backend that
   * stores jobs in this process returns it (or throws) at once, so a 202 goes out without waiting
   * a turn; one that stores them elsewhere resolves (or rejects) once it knows.
   */
  enqueue: (request: JobRequest) => string | Promise<string>
  status: (id: string) => Promise<JobStatus | undefined>
  stats: () => Promise<JobStats>
  /** Resolves when nothing is queued or running. */
  drain: () => Promise<void>
  /** Starts firing a timed task at its due times (after `start`, or at once once started). */
  schedule: (task: ScheduledTask) => void
  /** Stops firing a timed task: it was paused, removed, or the app is closing. */
  unschedule: (task: ScheduledTask) => void
  /** onReady: jobs may run from now on. */
  start: () => Promise<void>
  /** preClose: refuse new jobs from now on. */
  stopAccepting: () => void
  /** onClose: finish queued and running jobs by `deadline` (ms since the epoch), then stop them; release resources. */
  close: (deadline: number) => Promise<void>
  /** Refuses task options the backend cannot honour, with FST_BACKGROUND_INVALID_OPTION. */
  checkTask?: (task: TaskSpec, path: string) => void
}
