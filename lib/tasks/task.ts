import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { ClosingError, NotReadyError, TaskPausedError } from '../core/errors'
import type { Outcome, OutcomeStatus, RunHost, ScheduleCause, ScheduledTask, TaskScheduler, TaskSpec } from '../core/model'
import { newId } from '../core/id'
import type { DrivenTask, TaskDriver } from './driver'
import { transition } from './lifecycle'
import { LoopDriver } from './loop-driver'
import { TaskRun } from './task-run'
import type { DashboardTask, RunResult, TaskInfo, TaskState } from '../types'
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

/**
 * The last run of a task, kept as plain values in one object per task, reused run after run: the
 * RunResult (its Dates, and its id when no one read it while it ran) is made only when read.
 */
class LastRun {
  runId: string | undefined = undefined
  status: OutcomeStatus = 'succeeded'
  error: string | undefined = undefined
  startedAt = 0
  finishedAt = 0

  result (): RunResult {
    this.runId ??= newId()
    const result: RunResult = { runId: this.runId, status: this.status, startedAt: new Date(this.startedAt), finishedAt: new Date(this.finishedAt), durationMs: this.finishedAt - this.startedAt }
    if (this.error !== undefined) result.error = this.error
    return result
  }
}

/** One registered task: its lifecycle, counters and runs; its driver decides when it runs. */
export class Task implements ScheduledTask, DrivenTask {
  #anchor = NaN
  #since = NaN
  clockEntry: unknown = undefined
  /** NaN for none: a number field is rewritten in place, where one that may hold null boxes each new time. */
  #nextRunAt = NaN
  #state: TaskLifecycle
  readonly #driver: TaskDriver
  #runs = 0
  #failures = 0
  #skips = 0
  #lastRun: LastRun | undefined
  /**
   * The runs in progress, newest first, linked through the runs; a run whose handler returned
   * synchronously has ended before it would be listed, and never is.
   */
  #active: TaskRun | undefined
  #running = 0
  /** Runs triggered while paused: the task reads `running`, not `paused`, while they last. */
  #triggeredWhilePaused = 0

  /** `timed` drives every `every`/`cron` task of the registry: one object for all of them. */
  constructor (readonly spec: TaskSpec, private readonly env: TaskEnv, timed: TaskDriver) {
    this.#state = spec.enabled ? 'registered' : 'paused-before-start'
    this.#driver = spec.kind === 'loop' ? new LoopDriver(this, env.log) : timed
  }

  get anchor (): number {
    return this.#anchor
  }

  get since (): number {
    return this.#since
  }

  get driven (): boolean {
    return this.#state === 'started'
  }

  get running (): number {
    return this.#running
  }

  /** What info() holds, as the dashboard sends it: times as numbers, and the schedule (see DashboardTask). */
  overview (): DashboardTask {
    const last = this.#lastRun?.result()
    return {
      name: this.spec.name,
      kind: this.spec.kind,
      state: this.state(),
      nextRunAt: Number.isNaN(this.#nextRunAt) ? null : this.#nextRunAt,
      running: this.#running,
      runs: this.#runs,
      failures: this.#failures,
      skips: this.#skips,
      lastRun: last === undefined ? null : { ...last, startedAt: last.startedAt.getTime(), finishedAt: last.finishedAt.getTime() },
      schedule: Object.freeze(scheduleInfo(this.spec))
    }
  }

  info (): TaskInfo {
    return {
      name: this.spec.name,
      kind: this.spec.kind,
      state: this.state(),
      nextRunAt: Number.isNaN(this.#nextRunAt) ? null : new Date(this.#nextRunAt),
      running: this.#running,
      runs: this.#runs,
      failures: this.#failures,
      skips: this.#skips,
      lastRun: this.#lastRun === undefined ? null : this.#lastRun.result()
    }
  }

  /** The app is ready (or the task was added to a ready app): start firing, anchored at `now` + delay. */
  start (now: number): void {
    this.#anchor = now + this.spec.delay
    this.#since = this.#anchor
    if (this.#state === 'paused-before-start') this.moveTo('paused')
    else this.drive('start')
  }

  pause (): void {
    const state = this.#state
    if (state === 'registered') return this.moveTo('paused-before-start')
    if (state !== 'started') return
    this.moveTo('paused')
    this.#driver.halt(this, 'paused', 'pause')
  }

  resume (): void {
    const state = this.#state
    if (state === 'paused-before-start') return this.moveTo('registered')
    if (state !== 'paused') return
    // Due times that passed while paused are not run late, and `immediate` does not run again.
    this.#since = Math.max(this.#anchor, Date.now())
    this.drive('resume')
  }

  /** Nothing new starts from now on (close or removal); a loop's run is aborted at once. */
  stop (reason: string): void {
    if (this.#state === 'stopped') return
    this.moveTo('stopped')
    this.#driver.halt(this, reason, 'stop')
  }

  cancelRuns (reason: string, warning?: string): void {
    for (let run = this.#active; run !== undefined; run = run.next) {
      if (warning !== undefined) this.env.log.warn(run.logBindings(), warning)
      run.cancel(reason)
    }
  }

  /** Resolves when no run is in progress. */
  async settled (): Promise<void> {
    const results: Array<Promise<RunResult>> = []
    for (let run = this.#active; run !== undefined; run = run.next) results.push(run.result())
    await Promise.all(results)
  }

  planned (nextRunAt: number | null): void {
    this.#nextRunAt = nextRunAt ?? NaN
  }

  /** Another replica paused or resumed the task fleet-wide: its state shows so; the backend fires it, or not, already. */
  fleetPaused (paused: boolean): void {
    const state = this.#state
    if (paused && state === 'started') this.moveTo('paused')
    else if (!paused && state === 'paused') this.moveTo('started')
  }

  fire (scheduledAt: number): Promise<RunResult> {
    const notRun = this.notToRun(scheduledAt)
    return notRun === undefined ? this.run(scheduledAt) : Promise.resolve(notRun)
  }

  fireAndForget (scheduledAt: number, now: number): number {
    return this.notToRun(scheduledAt) === undefined ? this.execute(this.begin(scheduledAt), now) : now
  }

  /** The result of a due time that does not run (the task is not driven, or overlap skips it); undefined when it runs. */
  private notToRun (scheduledAt: number): RunResult | undefined {
    if (!this.driven) return skipped()
    if (this.spec.overlap === 'skip' && this.#running > 0) return this.skip(scheduledAt)
    return undefined
  }

  skip (scheduledAt: number): RunResult {
    this.#skips++
    this.env.log.debug({ task: this.spec.name, scheduledAt: new Date(scheduledAt) }, 'task run skipped: the previous run is still in progress')
    this.env.runner.events.taskRun(this.spec.name, 'skipped', 0)
    return skipped()
  }

  trigger (): Promise<RunResult> {
    const refusal = this.triggerRefusal()
    if (refusal !== undefined) return Promise.reject(refusal)
    if (this.spec.overlap === 'skip' && this.#running > 0) return Promise.resolve(skipped())
    return this.run(Date.now())
  }

  run (scheduledAt: number): Promise<RunResult> {
    const run = this.begin(scheduledAt)
    const result = run.result()
    this.execute(run, Date.now())
    return result
  }

  private begin (scheduledAt: number): TaskRun {
    this.#driver.onRunStarting?.()
    const run = new TaskRun(this.env.runner, this.spec, this.env.log, scheduledAt)
    if (this.#state === 'paused') {
      run.whilePaused = true
      this.#triggeredWhilePaused++
    }
    return run
  }

  /**
   * Runs `run`, started at `now` (a `Date.now()` reading); returns a reading taken once its
   * synchronous part is over. A handler that returns synchronously is recorded at once, with no
   * promise made.
   */
  private execute (run: TaskRun, now: number): number {
    run.startedAt = now
    const outcome = run.execute()
    if (!(outcome instanceof Promise)) return this.record(run, outcome)
    this.link(run)
    outcome.then(outcome => {
      this.unlink(run)
      this.record(run, outcome)
    })
    return Date.now()
  }

  private triggerRefusal (): Error | undefined {
    switch (this.#state) {
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
    switch (this.#state) {
      case 'stopped':
        return 'stopped'
      case 'paused':
      case 'paused-before-start':
        return this.#triggeredWhilePaused > 0 ? 'running' : 'paused'
      default:
        return this.#running > 0 ? 'running' : 'idle'
    }
  }

  private moveTo (next: TaskLifecycle): void {
    this.#state = transition(TRANSITIONS, this.#state, next)
  }

  private drive (cause: ScheduleCause): void {
    this.moveTo('started')
    this.#driver.start(this, cause)
  }

  private link (run: TaskRun): void {
    this.#running++
    run.next = this.#active
    if (this.#active !== undefined) this.#active.previous = run
    this.#active = run
  }

  private unlink (run: TaskRun): void {
    this.#running--
    if (run.previous === undefined) this.#active = run.next
    else run.previous.next = run.next
    if (run.next !== undefined) run.next.previous = run.previous
  }

  /** A run ended: counted and kept as the last run; its result object is made only for whoever asks. Returns when it ended. */
  private record (run: TaskRun, outcome: Outcome): number {
    if (run.whilePaused) this.#triggeredWhilePaused--
    const last = this.#lastRun ??= new LastRun()
    last.runId = run.idIfMade
    last.status = outcome.status
    last.error = outcome.error
    last.startedAt = run.startedAt
    last.finishedAt = Date.now()
    this.#runs++
    if (outcome.status === 'failed' || outcome.status === 'timeout') this.#failures++
    const result = run.awaited || this.#driver.onRunEnded !== undefined ? last.result() : undefined
    if (result !== undefined) this.#driver.onRunEnded?.(result)
    this.env.runner.events.taskRun(this.spec.name, outcome.status, last.finishedAt - last.startedAt)
    if (run.awaited) run.ended(result as RunResult)
    return last.finishedAt
  }
}

function skipped (): RunResult {
  const now = new Date()
  return { runId: randomUUID(), status: 'skipped', startedAt: now, finishedAt: now, durationMs: 0 }
}
