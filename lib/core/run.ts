import type { AwilixContainer } from 'awilix'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import type { TraceContext } from '../types'
import { Attempt } from './attempt'
import type { AttemptContext, AttemptOwner } from './context'
import { CancelledError } from './errors'
import { toError } from './failure'
import { newId } from './id'
import type { Outcome, RunHost, Tracer, WorkSpec } from './model'
import { LongTimer } from './timers'

/** What `beginAttempt` calls when the attempt has ended. */
export type AttemptDone<R> = (run: R, outcome: Outcome) => void

/** Why `app.background.cancel(id)` (or the status route's DELETE, or the dashboard) ended a job. */
export const CANCELLED_ON_REQUEST = 'cancelled on request'

/** The wait before attempt `attempt + 1`, after attempt `attempt` failed: `backoff · 2^(attempt-1)`. */
export function retryDelay (spec: WorkSpec, attempt: number): number {
  return spec.backoff * 2 ** (attempt - 1)
}

/**
 * One run of a task, or one job: the single path by which user code runs. Each attempt gets a
 * fresh context (scope, signal, logger), runs as an `Attempt` (timeout, tracing, failure
 * logging, the grace after an abort), and has its scope disposed. A task run waits out its
 * backoffs itself (`execute`); a job's queue decides when its next attempt starts (`runAttempt`).
 */
export abstract class Run implements AttemptOwner {
  abstract readonly kind: 'task' | 'job'
  abstract readonly name: string
  attempt = 0
  #current: Attempt | undefined
  /** Told when the attempt in progress has ended, its scope disposed. */
  #attemptDone: AttemptDone<this> | undefined
  /** True while the handler is being called: an attempt that settles then ends on a later microtask. */
  #starting = false
  #cancelled: Error | undefined
  #endWait: (() => void) | undefined

  constructor (
    readonly host: RunHost,
    readonly spec: WorkSpec,
    readonly parentLog: FastifyBaseLogger,
    readonly id: string = newId()
  ) {}

  get app (): FastifyInstance {
    return this.host.app
  }

  get container (): AwilixContainer {
    return this.host.container
  }

  get tracer (): Tracer {
    return this.host.tracers[this.kind]
  }

  traceContext (): TraceContext {
    return { kind: this.kind, name: this.name, id: this.id, attempt: this.attempt }
  }

  abstract logBindings (): Record<string, string>
  protected abstract newContext (attempt: number): AttemptContext
  /** Called as each attempt starts. */
  protected onAttemptStart (): void {}

  /** Runs attempts until one succeeds, the retries are spent, or the run is cancelled. */
  async execute (): Promise<Outcome> {
    let attempt = 1
    let outcome = this.outcomeAfter(await this.runAttempt(attempt), attempt)
    while (outcome === undefined) {
      const delayMs = retryDelay(this.spec, attempt)
      this.logRetry(attempt, delayMs)
      await this.waitOrCancel(delayMs)
      attempt++
      outcome = this.outcomeAfter(await this.runAttempt(attempt), attempt)
    }
    return outcome
  }

  /** Runs one attempt: a fresh context, scope and signal; resolves once its scope is disposed. */
  runAttempt (attempt: number): Promise<Outcome> {
    return new Promise(resolve => this.beginAttempt(attempt, (_, outcome) => resolve(outcome)))
  }

  /**
   * `runAttempt` without a promise, for a caller that is only told (the in-process queue): calls
   * `done(this, outcome)` once the attempt's scope is disposed, never before this returns, so
   * `done` may start the next attempt. One `done` can serve every run: no closure per attempt.
   */
  beginAttempt (attempt: number, done: AttemptDone<this>): void {
    if (this.#cancelled !== undefined) {
      const outcome: Outcome = { status: 'cancelled', error: this.#cancelled.message }
      queueMicrotask(() => done(this, outcome))
      return
    }
    this.attempt = attempt
    this.#attemptDone = done
    const current = new Attempt(this, this.newContext(attempt))
    this.onAttemptStart()
    this.#current = current
    this.#starting = true
    current.start()
    this.#starting = false
  }

  /** From the attempt in progress, once it has settled. */
  attemptSettled (attempt: Attempt, outcome: Outcome): void {
    this.#current = undefined
    // A synchronous handler's microtasks still run inside its attempt, as after an await.
    if (this.#starting) queueMicrotask(() => this.endAttempt(attempt.ctx, outcome))
    else this.endAttempt(attempt.ctx, outcome)
  }

  private endAttempt (ctx: AttemptContext, outcome: Outcome): void {
    const done = this.#attemptDone as AttemptDone<this>
    this.#attemptDone = undefined
    // Most jobs never touch ctx.scope: then there is nothing to dispose, and no promise to wait for.
    const disposing = ctx.end()
    if (disposing === undefined) done(this, outcome)
    // dispose() never rejects: it logs a disposer's failure.
    else this.dispose(ctx, disposing).then(() => done(this, outcome))
  }

  /**
   * What follows attempt `attempt`: undefined when it failed and a retry remains, else the run's
   * outcome. A retry that a cancel (while the attempt's scope was disposed) prevents is 'cancelled'.
   */
  outcomeAfter (outcome: Outcome, attempt: number): Outcome | undefined {
    if ((outcome.status !== 'failed' && outcome.status !== 'timeout') || attempt > this.spec.retries) return outcome
    return this.#cancelled === undefined ? undefined : { status: 'cancelled', error: this.#cancelled.message }
  }

  /** The one log line of a retry, for every kind of run and backend. */
  logRetry (attempt: number, delayMs: number | undefined, how = 'retrying'): void {
    this.parentLog.warn({ ...this.logBindings(), attempt, delayMs }, `${this.kind} attempt failed; ${how}`)
  }

  /** Aborts the attempt in progress (with its grace) or ends the wait before the next one. */
  cancel (reason: string): void {
    if (this.#cancelled !== undefined) return
    this.#cancelled = new CancelledError(reason)
    this.#current?.abort(this.#cancelled, 'cancelled')
    this.#endWait?.()
  }

  private async dispose (ctx: AttemptContext, disposing: Promise<void>): Promise<void> {
    try {
      await disposing
    } catch (error) {
      ctx.log.error({ err: toError(error), attempt: ctx.attempt }, `${this.kind} scope disposer failed`)
    }
  }

  private waitOrCancel (ms: number): Promise<void> {
    return new Promise(resolve => {
      const timer = new LongTimer(() => {
        this.#endWait = undefined
        resolve()
      }, ms)
      this.#endWait = () => {
        timer.clear()
        resolve()
      }
    })
  }
}
