import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { Backend, ScheduledTask } from './backend'
import { TaskAttemptContext, type AttemptContext } from './context'
import { ClosingError, NotReadyError } from './errors'
import { LoopBackoff } from './loop-backoff'
import type { TaskSpec } from './options'
import { Run, type Outcome, type RunHost } from './run'
import { LongTimer } from './timers'
import type { RunResult, TaskInfo, TaskState } from './types'

/** What a task needs from the plugin instance. */
export interface TaskEnv {
  readonly runner: RunHost
  /** Fires `every`/`cron` tasks; loops are always driven here, in each process. */
  readonly backend: Backend
  readonly log: FastifyBaseLogger
}

class TaskRun extends Run {
  constructor (host: RunHost, readonly task: TaskSpec, log: FastifyBaseLogger, readonly scheduledAt: Date) {
    super(host, task, log)
  }

  get kind (): 'task' {
    return 'task'
  }

  get name (): string {
    return this.task.name
  }

  logBindings (): Record<string, string> {
    return { task: this.task.name, runId: this.id }
  }

  protected newContext (attempt: number): AttemptContext {
    return new TaskAttemptContext(this, attempt, this.scheduledAt)
  }
}

/** One registered task: its state, counters and runs. */
export class Task implements ScheduledTask {
  anchor = 0
  since = 0
  #nextRunAt: number | null = null
  #paused: boolean
  #started = false
  #stopped = false
  #runs = 0
  #failures = 0
  #skips = 0
  #lastRun: RunResult | null = null
  readonly #active = new Map<TaskRun, Promise<RunResult>>()
  #loopTimer: LongTimer | undefined
  readonly #loopBackoff = new LoopBackoff()

  constructor (readonly spec: TaskSpec, private readonly env: TaskEnv) {
    this.#paused = !spec.enabled
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
    this.#started = true
    this.anchor = now + this.spec.delay
    this.since = this.anchor
    if (!this.#paused) this.drive()
  }

  pause (): void {
    if (this.#paused || this.#stopped) return
    this.#paused = true
    this.halt()
    // A loop runs until its signal aborts, so pausing one ends its run.
    if (this.spec.kind === 'loop') this.cancelRuns('paused')
  }

  resume (): void {
    if (!this.#paused || this.#stopped) return
    this.#paused = false
    // Due times that passed while paused are not run late, and `immediate` does not run again.
    this.since = Math.max(this.anchor, Date.now())
    if (this.#started) this.drive()
  }

  /** Nothing new starts from now on (close or removal); a loop's run is aborted at once. */
  stop (reason: string): void {
    if (this.#stopped) return
    this.#stopped = true
    this.halt()
    if (this.spec.kind === 'loop') this.cancelRuns(reason)
  }

  /** Aborts every run in progress; each still gets its grace to settle. */
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

  fire (scheduledAt: number): Promise<RunResult> {
    if (this.#paused || this.#stopped) return Promise.resolve(skipped())
    if (this.spec.overlap === 'skip' && this.#active.size > 0) return Promise.resolve(this.skip(scheduledAt))
    return this.execute(scheduledAt)
  }

  skip (scheduledAt: number): RunResult {
    this.#skips++
    this.env.log.debug({ task: this.spec.name, scheduledAt: new Date(scheduledAt) }, 'task run skipped: the previous run is still in progress')
    return skipped()
  }

  trigger (): Promise<RunResult> {
    if (this.#stopped) return Promise.reject(new ClosingError())
    if (!this.#started) return Promise.reject(new NotReadyError(this.spec.name))
    if (this.spec.overlap === 'skip' && this.#active.size > 0) return Promise.resolve(skipped())
    return this.execute(Date.now())
  }

  private state (): TaskState {
    if (this.#stopped) return 'stopped'
    if (this.#paused) return 'paused'
    return this.#active.size > 0 ? 'running' : 'idle'
  }

  private drive (): void {
    if (this.spec.kind === 'loop') this.startLoopIn(this.anchor - Date.now())
    else this.env.backend.schedule(this)
  }

  private halt (): void {
    if (this.spec.kind === 'loop') {
      this.#loopTimer?.clear()
      this.#nextRunAt = null
    } else {
      this.env.backend.unschedule(this)
    }
  }

  private execute (scheduledAt: number): Promise<RunResult> {
    // A loop runs once at a time: a triggered run replaces a pending (re)start.
    if (this.spec.kind === 'loop') this.halt()
    const run = new TaskRun(this.env.runner, this.spec, this.env.log, new Date(scheduledAt))
    const startedAt = Date.now()
    const done = run.execute().then(outcome => this.record(run, outcome, startedAt))
    this.#active.set(run, done)
    return done
  }

  private record (run: TaskRun, outcome: Outcome, startedAt: number): RunResult {
    this.#active.delete(run)
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
    if (this.spec.kind === 'loop') this.restartLoop(result)
    return result
  }

  private startLoopIn (delayMs: number): void {
    this.#nextRunAt = Date.now() + Math.max(0, delayMs)
    this.#loopTimer = new LongTimer(() => { this.startLoop() }, delayMs)
  }

  /** A loop runs once at a time: while a paused run is still ending, its end starts the loop again. */
  private startLoop (): void {
    if (this.#active.size > 0) this.#nextRunAt = null
    else this.execute(Date.now())
  }

  /** A loop that threw or returned before close is restarted after a backoff. */
  private restartLoop (result: RunResult): void {
    if (this.#paused || this.#stopped) return
    // Cancelled yet neither paused nor stopped: it was paused and resumed while it ended. Not a crash.
    if (result.status === 'cancelled') return this.startLoopIn(0)
    const restartInMs = this.#loopBackoff.after(result.durationMs)
    const fields = { task: this.spec.name, runId: result.runId, restartInMs }
    // A failure was logged with its error by the run already; this line says what happens next.
    const how = result.status === 'succeeded' ? 'returned' : `ended ${result.status}`
    this.env.log.warn(fields, `loop task ${how} before close; restarting it`)
    this.startLoopIn(restartInMs)
  }
}

function skipped (): RunResult {
  const now = new Date()
  return { runId: randomUUID(), status: 'skipped', startedAt: now, finishedAt: now, durationMs: 0 }
}
