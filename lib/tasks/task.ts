import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { ClosingError, NotReadyError, TaskPausedError } from '../core/errors'
import type { Outcome, RunHost, ScheduleCause, ScheduledTask, TaskScheduler, TaskSpec } from '../core/model'
import type { DrivenTask, TaskDriver } from './driver'
import { Lifecycle } from './lifecycle'
import { LoopDriver } from './loop-driver'
import { TaskRun } from './task-run'
import { TimedDriver } from './timed-driver'
import type { DashboardTask, RunResult, TaskInfo, TaskSchedule, TaskState } from '../types'
import { scheduleInfo } from './schedule'

/** What a task needs from the plugin instance. */
export interface TaskEnv {
  readonly runner: RunHost
  /** Fires `every`/`cron` tasks; loops are always driven here, in each process. */
  readonly backend: TaskScheduler
  readonly log: FastifyBaseLogger
}

/**
 * A task is registered, then started at ready; pause and resume move it between started and
 * paused. Paused before ready, it waits as paused-before-start and becomes paused at ready.
 * Close or removal stops it, for good, from any state.
 */
type TaskLifecycle = 'registered' | 'paused-before-start' | 'started' | 'paused' | 'stopped'

const TRANSITIONS: Record<TaskLifecycle, readonly TaskLifecycle[]> = {
  registered: ['started', 'paused-before-start', 'stopped'],
  'paused-before-start': ['registered', 'paused', 'stopped'],
  started: ['paused', 'stopped'],
  paused: ['started', 'stopped'],
  stopped: []
}

/** One registered task: its lifecycle, counters and runs; its driver decides when it runs. */
export class Task implements ScheduledTask, DrivenTask {
  #anchor = 0
  #since = 0
  #nextRunAt: number | null = null
  readonly #lifecycle: Lifecycle<TaskLifecycle>
  readonly #driver: TaskDriver
  #runs = 0
  #failures = 0
  #skips = 0
  #lastRun: RunResult | null = null
  readonly #active = new Map<TaskRun, Promise<RunResult>>()
  /** Runs triggered while paused: the task reads `running`, not `paused`, while they last. */
  readonly #triggeredWhilePaused = new Set<TaskRun>()
  readonly #schedule: TaskSchedule

  constructor (readonly spec: TaskSpec, private readonly env: TaskEnv) {
    this.#lifecycle = new Lifecycle<TaskLifecycle>(spec.enabled ? 'registered' : 'paused-before-start', TRANSITIONS)
    this.#driver = spec.kind === 'loop' ? new LoopDriver(this, env.log) : new TimedDriver(this, env.backend)
    this.#schedule = Object.freeze(scheduleInfo(spec))
  }

  get anchor (): number {
    return this.#anchor
  }

  get since (): number {
    return this.#since
  }

  get driven (): boolean {
    return this.#lifecycle.current === 'started'
  }

  get running (): number {
    return this.#active.size
  }

  /** What info() holds, as the dashboard sends it: times as numbers, and the schedule (see DashboardTask). */
  overview (): DashboardTask {
    const last = this.#lastRun
    return {
      name: this.spec.name,
      kind: this.spec.kind,
      state: this.state(),
      nextRunAt: this.#nextRunAt,
      running: this.#active.size,
      runs: this.#runs,
      failures: this.#failures,
      skips: this.#skips,
      lastRun: last === null ? null : { ...last, startedAt: last.startedAt.getTime(), finishedAt: last.finishedAt.getTime() },
      schedule: this.#schedule
    }
  }

  info (): TaskInfo {
    return {
      name: this.spec.name,
      kind: this.spec.kind,
      state: this.state(),
      nextRunAt: this.#nextRunAt === null ? null : new Date(this.#nextRunAt),
      running: this.#active.size,
      runs: this.#runs,
      failures: this.#failures,
      skips: this.#skips,
      lastRun: this.#lastRun === null ? null : { ...this.#lastRun }
    }
  }

  /** The app is ready (or the task was added to a ready app): start firing, anchored at `now` + delay. */
  start (now: number): void {
    this.#anchor = now + this.spec.delay
    this.#since = this.#anchor
    if (this.#lifecycle.current === 'paused-before-start') this.#lifecycle.moveTo('paused')
    else this.drive('start')
  }

  pause (): void {
    const state = this.#lifecycle.current
    if (state === 'registered') return this.#lifecycle.moveTo('paused-before-start')
    if (state !== 'started') return
    this.#lifecycle.moveTo('paused')
    this.#driver.halt('paused', 'pause')
  }

  resume (): void {
    const state = this.#lifecycle.current
    if (state === 'paused-before-start') return this.#lifecycle.moveTo('registered')
    if (state !== 'paused') return
    // Due times that passed while paused are not run late, and `immediate` does not run again.
    this.#since = Math.max(this.#anchor, Date.now())
    this.drive('resume')
  }

  /** Nothing new starts from now on (close or removal); a loop's run is aborted at once. */
  stop (reason: string): void {
    if (this.#lifecycle.current === 'stopped') return
    this.#lifecycle.moveTo('stopped')
    this.#driver.halt(reason, 'stop')
  }

  cancelRuns (reason: string, warning?: string): void {
    for (const run of this.#active.keys()) {
      if (warning !== undefined) this.env.log.warn(run.logBindings(), warning)
      run.cancel(reason)
    }
  }

  /** Resolves when no run is in progress. */
  async settled (): Promise<void> {
    await Promise.all(this.#active.values())
  }

  planned (nextRunAt: number | null): void {
    this.#nextRunAt = nextRunAt
  }

  /** Another replica paused or resumed the task fleet-wide: its state shows so; the backend fires it, or not, already. */
  fleetPaused (paused: boolean): void {
    const state = this.#lifecycle.current
    if (paused && state === 'started') this.#lifecycle.moveTo('paused')
    else if (!paused && state === 'paused') this.#lifecycle.moveTo('started')
  }

  fire (scheduledAt: number): Promise<RunResult> {
    if (!this.driven) return Promise.resolve(skipped())
    if (this.spec.overlap === 'skip' && this.#active.size > 0) return Promise.resolve(this.skip(scheduledAt))
    return this.run(scheduledAt)
  }

  skip (scheduledAt: number): RunResult {
    this.#skips++
    this.env.log.debug({ task: this.spec.name, scheduledAt: new Date(scheduledAt) }, 'task run skipped: the previous run is still in progress')
    const result = skipped()
    this.env.runner.events.taskRun(this.spec.name, result)
    return result
  }

  trigger (): Promise<RunResult> {
    const refusal = this.triggerRefusal()
    if (refusal !== undefined) return Promise.reject(refusal)
    if (this.spec.overlap === 'skip' && this.#active.size > 0) return Promise.resolve(skipped())
    return this.run(Date.now())
  }

  run (scheduledAt: number): Promise<RunResult> {
    this.#driver.onRunStarting?.()
    const run = new TaskRun(this.env.runner, this.spec, this.env.log, new Date(scheduledAt))
    if (this.#lifecycle.current === 'paused') this.#triggeredWhilePaused.add(run)
    const startedAt = Date.now()
    const done = run.execute().then(outcome => this.record(run, outcome, startedAt))
    this.#active.set(run, done)
    return done
  }

  private triggerRefusal (): Error | undefined {
    switch (this.#lifecycle.current) {
      case 'stopped':
        return new ClosingError()
      case 'registered':
      case 'paused-before-start':
        return new NotReadyError(this.spec.name)
      case 'paused':
        return this.#driver.triggerableWhilePaused ? undefined : new TaskPausedError(this.spec.name)
      case 'started':
        return undefined
    }
  }

  /** Paused wins over a run that was in progress when the task was paused, not over one triggered since. */
  private state (): TaskState {
    switch (this.#lifecycle.current) {
      case 'stopped':
        return 'stopped'
      case 'paused':
      case 'paused-before-start':
        return this.#triggeredWhilePaused.size > 0 ? 'running' : 'paused'
      default:
        return this.#active.size > 0 ? 'running' : 'idle'
    }
  }

  private drive (cause: ScheduleCause): void {
    this.#lifecycle.moveTo('started')
    this.#driver.start(cause)
  }

  private record (run: TaskRun, outcome: Outcome, startedAt: number): RunResult {
    this.#active.delete(run)
    this.#triggeredWhilePaused.delete(run)
    const finishedAt = Date.now()
    const result: RunResult = {
      runId: run.id,
      status: outcome.status,
      startedAt: new Date(startedAt),
      finishedAt: new Date(finishedAt),
      durationMs: finishedAt - startedAt
    }
    if (outcome.error !== undefined) result.error = outcome.error
    this.#runs++
    if (outcome.status === 'failed' || outcome.status === 'timeout') this.#failures++
    this.#lastRun = result
    this.#driver.onRunEnded?.(result)
    this.env.runner.events.taskRun(this.spec.name, result)
    return result
  }
}

function skipped (): RunResult {
  const now = new Date()
  return { runId: randomUUID(), status: 'skipped', startedAt: now, finishedAt: now, durationMs: 0 }
}
