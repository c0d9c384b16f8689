import type { JobQuery, JobRequest } from '../../core/model'
import { jobStatus } from '../../jobs/job-status'
import type { JobDetail, JobProgress, JobState, JobStatus } from '../../types'
import { IdColumn } from './id-column'
import type { JobRecord } from './job-record'

/** In `#pending`: the job was added, finished, and is no longer kept. */
const EVICTED = -1

/** A finished job as the store keeps it. */
export interface FinishedJob {
  readonly id: string
  readonly finishedAt: number
  /** What `retry()` queues again: kept for failed and cancelled jobs only (see `finish`). */
  readonly request: JobRequest | undefined
}

/**
 * The statuses of in-process jobs: every queued or running job, and finished ones as long as
 * `retention` says (at most `max`, none older than `ttl`), so memory stays bounded.
 *
 * Finished statuses live in a ring of `max` slots, one column per field, oldest at `#head`: a
 * job that finishes allocates no object to be retained, so a steady stream of jobs does not
 * fill the old generation with statuses for the garbage collector to sweep.
 *
 * The index by id is brought up to date when it is read, not as each job comes and goes: a Map
 * keyed by a new id for every job (set when queued, set again when finished, deleted when
 * evicted) was a third of a job's cost, and most jobs are never looked up. Jobs added since the
 * index was last read wait in `#pending`, by their place in the log of adds: the job while it
 * is queued or running, its ring slot once finished, EVICTED once that slot is given up. Reading
 * the index adds those still kept, in that order, so it holds what it would have held all along.
 */
export class JobStore {
  /** The job itself while it is queued or running; its ring slot once it has finished. In enqueue order. */
  readonly #byId = new Map<string, JobRecord | number>()
  /**
   * The jobs added since the index was read, from log place `#indexed` on, at `#pendingHead` on:
   * a ring of `maxPending` cells, made once and written in place, so that a steady stream of jobs
   * makes no array for the garbage collector to copy.
   */
  readonly #pending: Array<JobRecord | number> = []
  #pendingHead = 0
  /** Jobs added so far (each job's log place is the count before it); `#byId` holds those below `#indexed`. */
  #added = 0
  #indexed = 0
  /** The log place of each ring slot's job. */
  readonly #places: number[] = []
  readonly #ids: IdColumn
  readonly #states: JobState[] = []
  readonly #enqueuedAt: number[] = []
  /** NaN: the job never started. */
  readonly #startedAt: number[] = []
  readonly #finishedAt: number[] = []
  readonly #errors: Array<string | undefined> = []
  readonly #names: string[] = []
  readonly #attempts: number[] = []
  readonly #progress: Array<JobProgress | undefined> = []
  readonly #results: unknown[] = []
  /** The job's data, for the dashboard's detail view. */
  readonly #data: unknown[] = []
  /** Name, data and spec of a failed or cancelled job: what `retry()` needs to queue it again. */
  readonly #requests: Array<JobRequest | undefined> = []
  #head = 0
  #count = 0

  /** `maxPending`: past this many jobs waiting to be indexed, the log is trimmed (see trimPending). */
  constructor (
    private readonly retention: { readonly ttl: number, readonly max: number },
    private readonly maxPending = Math.max(4 * retention.max, 4096)
  ) {
    this.#ids = new IdColumn(retention.max)
  }

  /**
   * A job enqueued, or queued `again` by `retry()`: it becomes the newest (a Map keeps a key where
   * it was first set, so a retried id is deleted first, once the index has caught up; retries are few).
   */
  add (job: JobRecord, again: boolean): void {
    if (again) {
      this.catchUp()
      this.#byId.delete(job.id)
    }
    if (this.#added - this.#indexed === this.maxPending) this.trimPending()
    job.logPlace = this.#added
    this.#pending[this.cellOf(this.#added++)] = job
  }

  /** The job, while it is queued or running. */
  active (id: string): JobRecord | undefined {
    const entry = this.index().get(id)
    return typeof entry === 'object' ? entry : undefined
  }

  /** The job, once it has finished and while it is kept. */
  finished (id: string): FinishedJob | undefined {
    this.evictExpired()
    const slot = this.index().get(id)
    if (typeof slot !== 'number') return undefined
    return { id, finishedAt: this.#finishedAt[slot], request: this.#requests[slot] }
  }

  /** Moves a job that has finished to the retained statuses, dropping its handler. */
  finish (job: JobRecord): void {
    const max = this.retention.max
    if (max === 0) {
      this.place(job.logPlace, job.id, EVICTED)
      return
    }
    // The queue read the clock for its end a moment ago.
    this.evictExpired(job.finishedAt)
    if (this.#count === max) this.evictOldest()
    const slot = (this.#head + this.#count++) % max
    this.#ids.set(slot, job.id)
    this.#states[slot] = job.status
    this.#enqueuedAt[slot] = job.enqueuedAt
    this.#startedAt[slot] = job.startedAt ?? NaN
    this.#finishedAt[slot] = job.finishedAt as number
    this.#errors[slot] = job.error
    this.#names[slot] = job.name
    this.#attempts[slot] = job.attempt
    this.#progress[slot] = job.progress
    this.#results[slot] = job.result
    this.#data[slot] = job.request.data
    // A succeeded job cannot be retried: its request is not kept, so the plain path retains no
    // object per status (ten thousand request objects would live on into the old generation).
    this.#requests[slot] = job.status === 'succeeded' ? undefined : job.request
    this.#places[slot] = job.logPlace
    this.place(job.logPlace, job.id, slot)
  }

  get (id: string): JobStatus | undefined {
    this.evictExpired()
    const entry = this.index().get(id)
    return entry === undefined ? undefined : this.statusOf(id, entry)
  }

  /** The job's status with its data. */
  detail (id: string): JobDetail | undefined {
    this.evictExpired()
    const entry = this.index().get(id)
    if (entry === undefined) return undefined
    const data = typeof entry === 'object' ? entry.request.data : this.#data[entry]
    return { ...this.statusOf(id, entry), data }
  }

  /** Kept jobs, newest (last enqueued) first. */
  list (query: JobQuery): JobStatus[] {
    this.evictExpired()
    const ids = [...this.index().keys()]
    const page: JobStatus[] = []
    let skip = query.offset
    for (let index = ids.length - 1; index >= 0 && page.length < query.limit; index--) {
      const entry = this.#byId.get(ids[index]) as JobRecord | number
      if (query.status !== undefined && this.stateOf(entry) !== query.status) continue
      if (skip > 0) skip--
      else page.push(this.statusOf(ids[index], entry))
    }
    return page
  }

  private stateOf (entry: JobRecord | number): JobState {
    return typeof entry === 'object' ? entry.status : this.#states[entry]
  }

  private statusOf (id: string, entry: JobRecord | number): JobStatus {
    if (typeof entry === 'object') {
      return jobStatus({
        id,
        name: entry.name,
        status: entry.status,
        enqueuedAt: entry.enqueuedAt,
        startedAt: entry.startedAt,
        error: entry.error,
        attempt: entry.attempt,
        progress: entry.progress,
        runAt: entry.status === 'queued' && entry.runAt > Date.now() ? entry.runAt : undefined
      })
    }
    const startedAt = this.#startedAt[entry]
    return jobStatus({
      id,
      name: this.#names[entry],
      status: this.#states[entry],
      enqueuedAt: this.#enqueuedAt[entry],
      startedAt: Number.isNaN(startedAt) ? undefined : startedAt,
      finishedAt: this.#finishedAt[entry],
      error: this.#errors[entry],
      attempt: this.#attempts[entry],
      progress: this.#progress[entry],
      result: this.#results[entry]
    })
  }

  private evictExpired (now = Date.now()): void {
    const oldest = now - this.retention.ttl
    while (this.#count > 0 && this.#finishedAt[this.#head] <= oldest) this.evictOldest()
  }

  private evictOldest (): void {
    const head = this.#head
    const place = this.#places[head]
    if (place >= this.#indexed) {
      this.#pending[this.cellOf(place)] = EVICTED
    } else {
      const id = this.#ids.get(head)
      // A job queued again by retry() is active under its id now: that entry is not this slot's.
      if (this.#byId.get(id) === head) this.#byId.delete(id)
    }
    this.#ids.clear(head)
    this.#errors[head] = undefined
    this.#progress[head] = undefined
    this.#results[head] = undefined
    this.#data[head] = undefined
    this.#requests[head] = undefined
    this.#head = (head + 1) % this.retention.max
    this.#count--
  }

  /** Where the job added at log place `place` is now: a ring slot, or EVICTED. */
  private place (place: number, id: string, entry: number): void {
    if (place >= this.#indexed) this.#pending[this.cellOf(place)] = entry
    else if (entry === EVICTED) this.#byId.delete(id)
    else this.#byId.set(id, entry)
  }

  /** The index by id, caught up. */
  private index (): Map<string, JobRecord | number> {
    this.catchUp()
    return this.#byId
  }

  /**
   * Past `maxPending`: the jobs evicted before any read (most of them, at the front) leave the
   * log unindexed, as catching up would skip them; when they are fewer than half, catches up.
   */
  private trimPending (): void {
    const waiting = this.#added - this.#indexed
    let evicted = 0
    while (evicted < waiting && this.#pending[this.cellOf(this.#indexed + evicted)] === EVICTED) evicted++
    if (evicted * 2 < waiting) return this.catchUp()
    this.#pendingHead = this.cellOf(this.#indexed + evicted)
    this.#indexed += evicted
  }

  /** The cell of `#pending` that holds the job added at log place `place` (not yet indexed). */
  private cellOf (place: number): number {
    const cell = this.#pendingHead + place - this.#indexed
    return cell < this.maxPending ? cell : cell - this.maxPending
  }

  /** Indexes the jobs added since the index was last read, those still kept, in the order they were added. */
  private catchUp (): void {
    const pending = this.#pending
    for (let place = this.#indexed; place < this.#added; place++) {
      const cell = this.cellOf(place)
      const entry = pending[cell]
      if (typeof entry === 'object') this.#byId.set(entry.id, entry)
      else if (entry !== EVICTED) this.#byId.set(this.#ids.get(entry), entry)
      // The cell no longer holds the job: it would keep a record alive until written again.
      pending[cell] = EVICTED
    }
    this.#pendingHead = this.cellOf(this.#added)
    this.#indexed = this.#added
  }
}
