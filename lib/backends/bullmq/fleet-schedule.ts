import { createHash } from 'node:crypto'
import { WaitingError, type Job, type Queue, type RepeatOptions } from 'bullmq'
import type { FastifyBaseLogger } from 'fastify'
import { LocalClock, type ClockTask } from '../../tasks/local-clock'
import type { ScheduleCause, ScheduledTask, TaskSpec, UnscheduleCause } from '../../core/model'
import { sleep } from '../../core/timers'
import type { RunResult } from '../../types'
import type { OverlapLocks } from './locks'
import type { StoreErrors } from './outage'
import type { FleetStore } from './store'
import type { Workers } from './workers'

// Timed tasks on BullMQ job schedulers: the store holds one scheduler per task, BullMQ makes one job
// per due time, and whichever replica takes that job runs the task through its own Task object.
// A pause holds for the whole fleet: the store keeps it until a replica resumes the task.

/** Task runs of one replica at once; tasks are few and, in-process, never wait for a slot either. */
const TASK_CONCURRENCY = 64
/** Task jobs carry no history worth keeping: the Task records its runs. */
const TASK_JOB = { removeOnComplete: true, removeOnFail: { count: 100 } }
/** An `immediate` job keeps its id this long, so replicas starting together add it once. */
const IMMEDIATE_KEEP_S = 3600

export interface FleetParts {
  readonly queue: Queue
  readonly log: FastifyBaseLogger
  readonly workers: Workers
  readonly locks: OverlapLocks
  /** The store beside the tasks queue, which keeps the fleet's pauses. */
  readonly store: FleetStore
  readonly errors: StoreErrors
}

/** The fleet's schedule of this process's timed tasks, and the runs that land here. */
export class FleetSchedule {
  /** The timed tasks this replica schedules, paused ones included: the runs that land here find them. */
  readonly #tasks = new Map<string, ScheduledTask>()
  /** Those of them paused fleet-wide, as far as this replica has seen. */
  readonly #paused = new Set<ScheduledTask>()
  /** Local timers that only keep `nextRunAt` current on every replica; BullMQ does the firing. */
  readonly #plans = new Map<ScheduledTask, ClockTask>()
  readonly #clock = new LocalClock()
  /** Per task, the last change sent to the store; settled ones are dropped. */
  readonly #pending = new Map<string, Promise<void>>()
  /** 'taking' once the worker on the tasks queue runs (from the first task scheduled). */
  #state: 'open' | 'taking' | 'closing' = 'open'

  constructor (private readonly parts: FleetParts) {}

  /** At start: removes the schedulers that these options do not declare (or declare disabled). */
  async sweep (declared: TaskSpec[]): Promise<void> {
    const { queue, log } = this.parts
    const keep = new Set(declared.filter(task => task.kind !== 'loop' && task.enabled).map(task => task.name))
    for (const scheduler of await queue.getJobSchedulers(0, -1)) {
      if (keep.has(scheduler.key)) continue
      await queue.removeJobScheduler(scheduler.key)
      log.info({ task: scheduler.key }, `task schedule removed from ${this.parts.errors.store}: the options no longer declare it`)
    }
  }

  /** At start (or `add()`) the task is fired across the fleet unless the fleet has it paused; a resume lifts that pause. */
  schedule (task: ScheduledTask, cause?: ScheduleCause): void {
    this.startTaking()
    this.#tasks.set(task.spec.name, task)
    this.plan(task)
    this.change(task, cause === 'resume' ? () => this.resumeFleetWide(task) : () => this.assert(task))
  }

  /** A pause or a removal stops the task for the whole fleet; closing one replica leaves the schedule alone. */
  unschedule (task: ScheduledTask, cause?: UnscheduleCause): void {
    this.unplan(task)
    if (cause !== 'pause') this.forget(task)
    if (this.#state === 'closing') return
    this.change(task, cause === 'pause' ? () => this.pauseFleetWide(task) : () => this.remove(task.spec.name))
  }

  /**
   * After a reconnection: writes the schedulers of this replica's tasks again (Redis may have
   * restarted empty), unless paused fleet-wide. A closing replica has none left: they stopped.
   */
  reassert (): void {
    for (const task of this.#tasks.values()) {
      if (!this.#paused.has(task)) this.change(task, () => this.assert(task))
    }
  }

  stopAccepting (): void {
    this.#state = 'closing'
  }

  /**
   * Brings every task's state in line with the fleet's pauses in one read, after this replica's
   * own changes have reached the store. A task with a change made meanwhile is left as it is: that
   * change is newer than what the store says.
   */
  async sync (): Promise<void> {
    await this.settled()
    let paused: Set<string>
    try {
      paused = new Set(await this.parts.store.pauses())
    } catch (error) {
      // A reader such as the dashboard still answers, with what this replica saw last.
      this.parts.errors.report(error as Error, `task pauses could not be read from ${this.parts.errors.store}: tasks show as this replica last saw them`)
      return
    }
    for (const [name, task] of this.#tasks) {
      if (!this.#pending.has(name)) this.align(task, paused.has(name))
    }
  }

  /** Resolves when the schedule changes asked for so far have reached the store (or failed, logged). */
  async settled (): Promise<void> {
    await Promise.all(this.#pending.values())
  }

  private startTaking (): void {
    if (this.#state !== 'open') return
    this.#state = 'taking'
    this.parts.workers.start(this.parts.queue.name, (job, token) => this.take(job, token), { concurrency: TASK_CONCURRENCY })
  }

  /** A due time landed here: a failure to reach the store for it is logged, not left as a failed BullMQ job nobody reads. */
  private async take (job: Job, token: string | undefined): Promise<void> {
    try {
      await this.parts.workers.track(job, this.process(job, token))
    } catch (error) {
      if (error instanceof WaitingError) throw error
      this.parts.errors.report(error as Error, `task run not started: ${this.parts.errors.store} failed`, { task: job.name })
    }
  }

  /** Runs (or skips) the due time that `job` stands for. */
  private async process (job: Job, token: string | undefined): Promise<RunResult | undefined> {
    const task = this.#tasks.get(job.name)
    if (task === undefined) {
      this.parts.log.warn({ task: job.name, jobId: job.id }, 'task run not started: the task is not scheduled on this replica')
      return undefined
    }
    if (await this.inOrder(task, () => this.synced(task))) return undefined
    const { jitter, overlap, name } = task.spec
    if (jitter > 0) {
      const { closing } = this.parts.workers
      await sleep(Math.floor(Math.random() * (jitter + 1)), closing)
      // This replica started closing meanwhile: the run goes back to the queue, for another replica.
      if (closing.aborted) return this.parts.workers.handBack(job, token)
    }
    const scheduledAt = dueTime(job)
    if (overlap === 'allow') return await task.fire(scheduledAt)
    const lock = await this.parts.locks.acquire(name)
    if (lock === undefined) return task.skip(scheduledAt)
    try {
      return await task.fire(scheduledAt)
    } finally {
      await lock.release()
    }
  }

  /** The task's scheduler, unless the fleet has the task paused. */
  private async assert (task: ScheduledTask): Promise<void> {
    if (!await this.synced(task)) await this.upsert(task.spec)
  }

  private async pauseFleetWide (task: ScheduledTask): Promise<void> {
    const { queue, store, log } = this.parts
    this.#paused.add(task)
    await store.addPause(task.spec.name)
    await queue.removeJobScheduler(task.spec.name)
    log.info({ task: task.spec.name }, `task paused fleet-wide: its schedule is removed from ${this.parts.errors.store} until a replica resumes it`)
  }

  private async resumeFleetWide (task: ScheduledTask): Promise<void> {
    this.#paused.delete(task)
    await this.parts.store.removePause(task.spec.name)
    await this.upsert(task.spec)
  }

  private async remove (name: string): Promise<void> {
    await this.parts.queue.removeJobScheduler(name)
    this.parts.log.info({ task: name }, `task schedule removed from ${this.parts.errors.store}: no replica runs it until one adds it or starts with it`)
  }

  /**
   * Whether the fleet has `task` paused, as the store says. Another replica may have paused or
   * resumed it since this one last looked: the task's state here is brought in line.
   */
  private async synced (task: ScheduledTask): Promise<boolean> {
    const paused = await this.parts.store.isPaused(task.spec.name)
    this.align(task, paused)
    return paused
  }

  private align (task: ScheduledTask, paused: boolean): void {
    if (paused === this.#paused.has(task)) return
    if (paused) {
      this.#paused.add(task)
      this.unplan(task)
    } else {
      this.#paused.delete(task)
      this.plan(task)
    }
    task.fleetPaused(paused)
    this.parts.log.info({ task: task.spec.name }, paused
      ? 'task paused fleet-wide by another replica: not run until a replica resumes it'
      : 'task resumed fleet-wide by another replica')
  }

  private async upsert (spec: TaskSpec): Promise<void> {
    const { queue, log } = this.parts
    const signature = JSON.stringify(spec.every !== undefined ? { every: spec.every } : { cron: spec.cron?.getPattern(), tz: spec.timezone })
    const existing = await queue.getJobScheduler(spec.name)
    // A scheduler BullMQ wrote always has a template; one written by hand may not.
    /* c8 ignore next */
    if (existing?.template?.data?.signature === signature) return
    const data = { signature }
    await queue.upsertJobScheduler(spec.name, repeatOf(spec), { name: spec.name, data, opts: TASK_JOB })
    log.info({ task: spec.name }, `task schedule ${existing === undefined ? 'created' : 'updated'} in ${this.parts.errors.store}`)
    if (!spec.immediate) return
    // One id per task and schedule: replicas that start together add one immediate run between them.
    const jobId = 'immediate-' + createHash('sha1').update(`${spec.name}\n${signature}`).digest('hex')
    const keep = { age: IMMEDIATE_KEEP_S }
    await queue.add(spec.name, data, { jobId, removeOnComplete: keep, removeOnFail: keep })
  }

  /** A stand-in on the local clock keeps the task's `nextRunAt` on the epoch-anchored grid. */
  private plan (task: ScheduledTask): void {
    this.unplan(task)
    const plan = planOnly(task)
    this.#plans.set(task, plan)
    this.#clock.schedule(plan)
  }

  private unplan (task: ScheduledTask): void {
    const plan = this.#plans.get(task)
    if (plan !== undefined) this.#clock.unschedule(plan)
    this.#plans.delete(task)
  }

  private forget (task: ScheduledTask): void {
    if (this.#tasks.get(task.spec.name) === task) this.#tasks.delete(task.spec.name)
    this.#paused.delete(task)
  }

  /** Sends a change of one task's schedule to the store after the ones before it; a failure is logged. */
  private change (task: ScheduledTask, change: () => Promise<void>): void {
    this.inOrder(task, change)
      .catch(error => this.parts.errors.report(error, `task schedule could not be updated in ${this.parts.errors.store}`, { task: task.spec.name }))
  }

  /** Runs what touches one task's state in the store one step after the other, so a quick pause cannot overtake the write it undoes. */
  private inOrder<T> (task: ScheduledTask, step: () => Promise<T>): Promise<T> {
    const name = task.spec.name
    const result = (this.#pending.get(name) ?? Promise.resolve()).then(step)
    const done: Promise<void> = result.then(() => {}, () => {}).then(() => {
      if (this.#pending.get(name) === done) this.#pending.delete(name)
    })
    this.#pending.set(name, done)
    return result
  }
}

/**
 * `every` due times are multiples of `every` from the Unix epoch: an offset of one whole period
 * makes BullMQ align the first one (and, offset being kept, every later one) to that grid.
 */
function repeatOf (spec: TaskSpec): Omit<RepeatOptions, 'key'> {
  if (spec.every !== undefined) return { every: spec.every, offset: spec.every }
  return { pattern: spec.cron?.getPattern() as string, tz: spec.timezone }
}

/** The nominal due time: encoded in a scheduler job's id; for an `immediate` job, when it was added. */
function dueTime (job: Job): number {
  const id = job.id as string
  return id.startsWith('repeat:') ? Number(id.slice(id.lastIndexOf(':') + 1)) : job.timestamp
}

/** A stand-in that lets the local clock keep a task's `nextRunAt` on the epoch-anchored grid, without firing it. */
function planOnly (task: ScheduledTask): ClockTask {
  return {
    spec: { ...task.spec, immediate: false, jitter: 0 },
    anchor: 0,
    since: Date.now(),
    fireAndForget: (_due, now) => now,
    planned: next => task.planned(next),
    clockEntry: undefined
  }
}
