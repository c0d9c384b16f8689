import type { JobType } from 'bullmq'
import type { JobState } from '../../types'

// The port between the backend and the store BullMQ runs on (Redis or PostgreSQL). BullMQ's own
// API serves both; what the backend keeps beside BullMQ's jobs (the overlap locks, the fleet's
// pauses, idempotency claims, cancel marks, the refusal counter) and the one-step reads of a job
// goes through here, so that nothing else branches on the store. Each operation is one atomic
// step on the store: a Lua script on Redis, one statement on PostgreSQL.

/**
 * The name a cancel gives a job it finds queued, in the same step as its mark, so that the worker
 * that takes the job knows at once, without asking the store, to drop it. No declared job can
 * have it (names start with a letter, digit or "_"); the mark keeps the job's own name.
 */
export const CANCELLED_JOB = '(cancelled)'

/** What a cancel found: nothing to cancel, a job that will never start, or one running somewhere. */
export type CancelFound = 'unknown' | 'finished' | 'queued' | 'running'

/** A job as the store has it, read in one step, so its state and its fields are of one moment. */
export interface StoredJob {
  readonly state: Exclude<JobState, 'cancelled'>
  /** When a delayed job (its delay, or a retry's backoff) may run. */
  readonly runAt?: number
  /** The job's cancel mark: `<ms>:queued:<the job's name>` or `<ms>:running`. */
  readonly mark?: string
  readonly name: string
  readonly enqueuedAt: number
  readonly startedAt?: number
  readonly finishedAt?: number
  readonly failedReason?: string
  readonly attempt?: number
  readonly progress?: unknown
  /** What the processor returned (null when it returned nothing). */
  readonly result?: unknown
}

export interface ListedJob {
  readonly id: string
  readonly enqueuedAt: number
}

/** The store beside one BullMQ queue. */
export interface FleetStore {
  /** The lock `name` for `ms`, unless another token holds it. */
  acquireLock: (name: string, token: string, ms: number) => Promise<boolean>
  /** Keeps the lock `ms` longer, if `token` still holds it. */
  refreshLock: (name: string, token: string, ms: number) => Promise<void>
  releaseLock: (name: string, token: string) => Promise<void>

  /** Fleet-wide pauses of timed tasks, kept until a replica lifts them. */
  addPause: (task: string) => Promise<void>
  removePause: (task: string) => Promise<void>
  pauses: () => Promise<string[]>
  isPaused: (task: string) => Promise<boolean>

  /**
   * Claims `claim` for `record` (JSON) and job `id`, for `ms`, unless it is held: then answers
   * the record that holds it, else null.
   */
  claim: (claim: string, id: string, record: string, ms: number) => Promise<string | null>
  /** The claim of job `id`, if it has one, is kept `ms` from now. */
  settleClaim: (id: string, ms: number) => Promise<void>
  releaseClaim: (claim: string) => Promise<void>

  /**
   * Marks job `id` cancelled (kept `ms`) if it is queued (then renames it CANCELLED_JOB) or
   * running, atomic with BullMQ's moves.
   */
  markCancelled: (id: string, at: number, ms: number) => Promise<CancelFound>
  /** Which of `ids` carry a cancel mark. */
  cancelMarks: (ids: readonly string[]) => Promise<boolean[]>
  /** Takes the mark away, and gives a job renamed by it its name back. */
  unmarkCancelled: (id: string) => Promise<void>

  /** The job, or undefined when the store has no such job. */
  job: (id: string) => Promise<StoredJob | undefined>
  /** The jobs in any of BullMQ's states `types`, each once, with when each was enqueued: read at one moment. */
  listed: (types: readonly JobType[]) => Promise<ListedJob[]>

  /** One more job refused, in the fleet's count. */
  countRefusal: () => Promise<void>
  refusals: () => Promise<number>
}
