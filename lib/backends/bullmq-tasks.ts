import { createHash, randomUUID } from 'node:crypto'
import type { Job, Queue, RepeatOptions } from 'bullmq'
import { Cron } from 'croner'
import type { FastifyBaseLogger } from 'fastify'
import type { ScheduledTask } from '../backend'
import { LocalClock } from '../local-clock'
import type { TaskSpec } from '../options'
import { sleep } from '../timers'
import type { RunResult } from '../types'

// Timed tasks on BullMQ job schedulers: Redis holds one scheduler per task, BullMQ makes one job
// per due time, and whichever replica takes that job runs the task through its own Task object.

/** Lua for the per-task lock that makes `overlap: 'skip'` hold across replicas. */
export const LOCK_COMMANDS = {
  fbgLockAcquire: "return redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX')",
  fbgLockRefresh: "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0",
  fbgLockRelease: "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
}

/** Task jobs carry no history worth keeping: the Task records its runs. */
const TASK_JOB = { removeOnComplete: true, removeOnFail: { count: 100 } }
/** An `immediate` job keeps its id this long, so replicas starting together add it once. */
const IMMEDIATE_KEEP_S = 3600

/**
 * Due times from cron patterns, computed by croner as in-process, so a pattern means the same
 * on either backend. BullMQ calls this on whichever replica creates the next job.
 */
export function cronStrategy (): (millis: number, opts: RepeatOptions) => number | undefined {
  const crons = new Map<string, Cron>()
  return (millis, opts) => {
    const key = `${opts.tz ?? ''} ${opts.pattern as string}`
    let cron = crons.get(key)
    if (cron === undefined) {
      cron = new Cron(opts.pattern as string, { paused: true, timezone: opts.tz, mode: '5-or-6-parts' })
      crons.set(key, cron)
    }
    return cron.nextRun(new Date(millis))?.getTime()
  }
}

interface Lock {
  release: () => Promise<void>
}

/** The fleet's schedule of this process's timed tasks, and the runs that land here. */
export class FleetSchedule {
  readonly #tasks = new Map<string, ScheduledTask>()
  /** Local timers that only keep `nextRunAt` current on every replica; BullMQ does the firing. */
  readonly #plans = new Map<ScheduledTask, ScheduledTask>()
  readonly #clock = new LocalClock()
  /** Per task, the last schedule change sent to Redis; settled ones are dropped. */
  readonly #pending = new Map<string, Promise<void>>()
  #closing = false

  constructor (
    private readonly queue: Queue,
    private readonly log: FastifyBaseLogger,
    private readonly lockMs: number,
    private readonly onRedisError: (error: Error) => void
  ) {}

  /** At start: removes the schedulers that these options do not declare (or declare disabled). */
  async sweep (declared: TaskSpec[]): Promise<void> {
    const keep = new Set(declared.filter(task => task.kind !== 'loop' && task.enabled).map(task => task.name))
    for (const scheduler of await this.queue.getJobSchedulers(0, -1)) {
      if (keep.has(scheduler.key)) continue
      await this.queue.removeJobScheduler(scheduler.key)
      this.log.info({ task: scheduler.key }, 'task schedule removed from Redis: the options no longer declare it')
    }
  }

  schedule (task: ScheduledTask): void {
    this.#tasks.set(task.spec.name, task)
    const plan = planOnly(task)
    this.#plans.set(task, plan)
    this.#clock.schedule(plan)
    this.inOrder(task.spec.name, () => this.upsert(task.spec))
  }

  /** Pause and removal stop the task for the whole fleet; closing one replica leaves the schedule alone. */
  unschedule (task: ScheduledTask): void {
    if (this.#tasks.get(task.spec.name) === task) this.#tasks.delete(task.spec.name)
    const plan = this.#plans.get(task)
    if (plan !== undefined) this.#clock.unschedule(plan)
    this.#plans.delete(task)
    if (this.#closing) return
    this.inOrder(task.spec.name, async () => {
      await this.queue.removeJobScheduler(task.spec.name)
      this.log.info({ task: task.spec.name }, 'task schedule removed from Redis: no replica runs it until it is resumed or a replica starts with it')
    })
  }

  /** Writes the schedulers of this replica's tasks again (a no-op for those Redis still holds unchanged). */
  reassert (): void {
    for (const task of this.#tasks.values()) this.inOrder(task.spec.name, () => this.upsert(task.spec))
  }

  stopAccepting (): void {
    this.#closing = true
  }

  /** Resolves when the schedule changes asked for so far have reached Redis (or failed, logged). */
  async settled (): Promise<void> {
    await Promise.all(this.#pending.values())
  }

  /** Runs (or skips) the due time that `job` stands for. */
  async process (job: Job): Promise<RunResult | undefined> {
    const task = this.#tasks.get(job.name)
    if (task === undefined) {
      this.log.warn({ task: job.name, jobId: job.id }, 'task run not started: the task is not scheduled on this replica')
      return undefined
    }
    const scheduledAt = dueTime(job)
    const jitter = task.spec.jitter
    if (jitter > 0) await sleep(Math.floor(Math.random() * (jitter + 1)))
    if (task.spec.overlap === 'allow') return await task.fire(scheduledAt)
    const lock = await this.lock(task.spec.name)
    if (lock === undefined) return task.skip(scheduledAt)
    try {
      return await task.fire(scheduledAt)
    } finally {
      await lock.release()
    }
  }

  private async upsert (spec: TaskSpec): Promise<void> {
    const signature = JSON.stringify(spec.every !== undefined ? { every: spec.every } : { cron: spec.cron?.getPattern(), tz: spec.timezone })
    const existing = await this.queue.getJobScheduler(spec.name)
    // A scheduler BullMQ wrote always has a template; one written by hand may not.
    /* c8 ignore next */
    if (existing?.template?.data?.signature === signature) return
    const data = { signature }
    await this.queue.upsertJobScheduler(spec.name, repeatOf(spec), { name: spec.name, data, opts: TASK_JOB })
    this.log.info({ task: spec.name }, `task schedule ${existing === undefined ? 'created' : 'updated'} in Redis`)
    if (!spec.immediate) return
    // One id per task and schedule: replicas that start together add one immediate run between them.
    const jobId = 'immediate-' + createHash('sha1').update(`${spec.name}\n${signature}`).digest('hex')
    const keep = { age: IMMEDIATE_KEEP_S }
    await this.queue.add(spec.name, data, { jobId, removeOnComplete: keep, removeOnFail: keep })
  }

  private async lock (name: string): Promise<Lock | undefined> {
    const client = await this.queue.backend.client
    const key = this.queue.toKey(`overlap:${name}`)
    const token = randomUUID()
    if (await client.runCommand('fbgLockAcquire', [key, token, this.lockMs]) !== 'OK') return undefined
    // Refreshed while the run lasts; if this replica dies, the lock expires within lockMs.
    const timer = setInterval(() => {
      client.runCommand('fbgLockRefresh', [key, token, this.lockMs]).catch(this.onRedisError)
    }, Math.ceil(this.lockMs / 3))
    timer.unref()
    return {
      release: async () => {
        clearInterval(timer)
        await client.runCommand('fbgLockRelease', [key, token]).catch(this.onRedisError)
      }
    }
  }

  /** Runs the schedule changes of one task one after the other, so a quick pause cannot overtake the write it undoes. */
  private inOrder (name: string, change: () => Promise<void>): void {
    const previous = this.#pending.get(name) ?? Promise.resolve()
    const next = previous.then(change)
      .catch(error => this.log.error({ err: error, task: name }, 'task schedule could not be updated in Redis'))
      .finally(() => { if (this.#pending.get(name) === next) this.#pending.delete(name) })
    this.#pending.set(name, next)
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
function planOnly (task: ScheduledTask): ScheduledTask {
  return {
    spec: { ...task.spec, immediate: false, jitter: 0 },
    anchor: 0,
    since: Date.now(),
    fire: () => Promise.resolve(undefined as unknown as RunResult),
    skip: task.skip.bind(task),
    planned: next => task.planned(next)
  }
}
