import type { JobType } from 'bullmq'
import { CANCELLED_JOB, type CancelFound, type FleetStore, type ListedJob, type StoredJob } from '../store'
import * as sql from './sql'

// The store beside a queue on PostgreSQL: rows of one table in BullMQ's schema, reached through
// the pool of BullMQ's connection (so they share its search_path, its schema and its lifetime).

/** What the store needs of a pg.Pool. */
export interface Queryable {
  query: (text: string, values?: unknown[]) => Promise<{ rows: Array<Record<string, unknown>> }>
}

/** BullMQ's job states, as this plugin names them. */
const STATES: Record<string, StoredJob['state']> = {
  completed: 'succeeded',
  failed: 'failed',
  active: 'running',
  waiting: 'queued',
  'waiting-children': 'queued',
  delayed: 'queued'
}

/** BullMQ's types that are no state of a row here: a prioritized job is a waiting one. */
const STATE_OF: Partial<Record<JobType, string>> = { prioritized: 'waiting', wait: 'waiting' }

export class PostgresStore implements FleetStore {
  constructor (private readonly pool: Queryable, private readonly queue: string) {}

  async acquireLock (name: string, token: string, ms: number): Promise<boolean> {
    return (await this.rows(sql.LOCK_ACQUIRE, name, token, ms)).length === 1
  }

  async refreshLock (name: string, token: string, ms: number): Promise<void> {
    await this.rows(sql.LOCK_REFRESH, name, token, ms)
  }

  async releaseLock (name: string, token: string): Promise<void> {
    await this.rows(sql.LOCK_RELEASE, name, token)
  }

  async addPause (task: string): Promise<void> {
    await this.rows(sql.PAUSE_ADD, task)
  }

  async removePause (task: string): Promise<void> {
    await this.rows(sql.PAUSE_REMOVE, task)
  }

  async pauses (): Promise<string[]> {
    return (await this.rows(sql.PAUSES)).map(row => row.key as string)
  }

  /** Asked at every run of a task: its own row, not every pause. */
  async isPaused (task: string): Promise<boolean> {
    return (await this.rows(sql.IS_PAUSED, task)).length === 1
  }

  async claim (claim: string, id: string, record: string, ms: number): Promise<string | null> {
    const [row] = await this.rows(sql.CLAIM, claim, id, record, ms)
    return row.held as string | null
  }

  async settleClaim (id: string, ms: number): Promise<void> {
    await this.rows(sql.CLAIM_SETTLE, id, ms)
  }

  async releaseClaim (claim: string): Promise<void> {
    await this.rows(sql.CLAIM_RELEASE, claim)
  }

  async markCancelled (id: string, at: number, ms: number): Promise<CancelFound> {
    const [row] = await this.rows(sql.CANCEL, id, at, ms, CANCELLED_JOB)
    return row.found as CancelFound
  }

  async cancelMarks (ids: readonly string[]): Promise<boolean[]> {
    const marked = new Set((await this.rows(sql.CANCEL_MARKS, ids)).map(row => row.key))
    return ids.map(id => marked.has(id))
  }

  async unmarkCancelled (id: string): Promise<void> {
    await this.rows(sql.UNMARK, id, CANCELLED_JOB)
  }

  async job (id: string): Promise<StoredJob | undefined> {
    const [row] = await this.rows(sql.JOB, id)
    if (row === undefined) return undefined
    return {
      state: STATES[row.state as string],
      runAt: row.state === 'delayed' ? numberOf(row.process_at_ms) : undefined,
      mark: row.mark ?? undefined,
      name: row.name as string,
      enqueuedAt: Number(row.added_at_ms),
      startedAt: numberOf(row.processed_at_ms),
      finishedAt: numberOf(row.finished_at_ms),
      failedReason: row.failed_reason ?? undefined,
      attempt: Number(row.attempts_started) || undefined,
      progress: row.progress ?? undefined,
      result: row.return_value
    } as StoredJob
  }

  /** One statement, so a job moving between states meanwhile is listed once (BullMQ's getRanges reads state by state). */
  async listed (types: readonly JobType[]): Promise<ListedJob[]> {
    const states = [...new Set(types.map(type => STATE_OF[type] ?? type))]
    return (await this.rows(sql.LISTED, states)).map(row => ({ id: row.id, enqueuedAt: Number(row.added_at_ms) }))
  }

  async countRefusal (): Promise<void> {
    await this.rows(sql.COUNT_REFUSAL)
  }

  async refusals (): Promise<number> {
    const [row] = await this.rows(sql.REFUSALS)
    return Number(row?.value ?? 0)
  }

  private async rows (statement: string, ...values: unknown[]): Promise<Array<Record<string, any>>> {
    return (await this.pool.query(statement, [this.queue, ...values])).rows
  }
}

/** pg answers a bigint as a string; null is a time not reached. */
function numberOf (value: unknown): number | undefined {
  return value === null || value === undefined ? undefined : Number(value)
}
