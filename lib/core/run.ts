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
 * backoffs itself (`execute`); a job's queue decides when its next attempt starts (`beginAttempt`).
 */
export abstract class Run implements AttemptOwner {
  abstract readonly kind: 'task' | 'job'
  abstract readonly name: string
  attempt = 0
  #id: string | undefined
  #current: Attempt | undefined
  /** Told when the attempt in progress has ended, its scope disposed. */
  #attemptDone: AttemptDone<this> | undefined
  /** True while the handler is being called: an attempt that settles then leaves its outcome in #settledNow. */
  #starting = false
  #settledNow: Outcome | undefined
  #cancelled: Error | undefined
  #endWait: (() => void) | undefined

  /** Without `id`, the run's id is made when first read: a task run that no one asks about needs none. */
  constructor (
    readonly host: RunHost,
    readonly spec: WorkSpec,
    readonly parentLog: FastifyBaseLogger,
    id?: string
  ) {
    this.#id = id
  }

  get id (): string {
    this.#id ??= newId()
    return this.#id
  }

  /** The id if it has been made (or given); undefined while no one has read it. */
  get idIfMade (): string | undefined {
    return this.#id
  }

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

  /**
   * Runs attempts until one succeeds, the retries are spent, or the run is cancelled. The
   * outcome comes at once (no promise) when the first attempt settled synchronously and was the last.
   */
  execute (): Outcome | Promise<Outcome> {
    const first = this.attemptNow(1)
    return first instanceof Promise ? first.then(outcome => this.afterAttempt(outcome, 1)) : this.afterAttempt(first, 1)
  }

  /**
   * Runs one attempt, for BullMQ's worker: as `beginAttempt`, its end told by a promise. A job's
   * attempt ends the same way in either backend.
   */
  runAttempt (attempt: number): Promise<Outcome> {
    return new Promise(resolve => this.beginAttempt(attempt, (_, outcome) => resolve(outcome)))
  }

  /**
   * `runAttempt` without a promise, for a caller that is only told (the in-process queue): calls
   * `done(this, outcome)` once the attempt's scope is disposed, never before this returns, so
   * `done` may start the next attempt. One `done` can serve every run: no closure per attempt.
   * A job's queue starts no attempt after a cancel: `outcomeAfter` has answered 'cancelled'.
   */
  beginAttempt (attempt: number, done: AttemptDone<this>): void {
    const ctx = this.startAttempt(attempt).ctx
    this.whenEnded(ctx, this.takeSettledNow(), done)
  }

  /**
   * Runs one attempt of a task run. Its outcome comes at once when the handler returned
   * synchronously without touching ctx.scope (most do: then there is nothing to dispose, and no
   * promise to wait for); its context then ends at once, before the handler's microtasks run.
   */
  private attemptNow (attempt: number): Outcome | Promise<Outcome> {
    // A cancel that ended the wait for a retry: the retry does not run.
    if (this.#cancelled !== undefined) return { status: 'cancelled', error: this.#cancelled.message }
    const ctx = this.startAttempt(attempt).ctx
    const settled = this.takeSettledNow()
    if (settled !== undefined && !ctx.scoped) {
      ctx.end()
      return settled
    }
    return new Promise(resolve => this.whenEnded(ctx, settled, (_, outcome) => resolve(outcome)))
  }

  /** A fresh context, and the handler called: what it settles with before it returns is kept for `takeSettledNow`. */
  private startAttempt (attempt: number): Attempt {
    this.attempt = attempt
    const current = new Attempt(this, this.newContext(attempt))
    this.onAttemptStart()
    this.#current = current
    this.#starting = true
    current.start()
    this.#starting = false
    return current
  }

  /** The outcome of the attempt just started if its handler settled it synchronously, else undefined. */
  private takeSettledNow (): Outcome | undefined {
    const settled = this.#settledNow
    this.#settledNow = undefined
    return settled
  }

  /**
   * Tells `done` when the attempt just started has ended. One that settled synchronously
   * (`settled`) ends on a later microtask: its handler's microtasks still run inside it, as after an await.
   */
  private whenEnded (ctx: AttemptContext, settled: Outcome | undefined, done: AttemptDone<this>): void {
    this.#attemptDone = done
    if (settled !== undefined) queueMicrotask(() => this.endAttempt(ctx, settled))
  }

  /** From the attempt in progress, once it has settled. */
  attemptSettled (attempt: Attempt, outcome: Outcome): void {
    this.#current = undefined
    // Whoever started it decides when an attempt that settled synchronously ends (see whenEnded).
    if (this.#starting) this.#settledNow = outcome
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

  /** The run's outcome after attempt `attempt`, or the promise of the retries that follow it. */
  private afterAttempt (outcome: Outcome, attempt: number): Outcome | Promise<Outcome> {
    return this.outcomeAfter(outcome, attempt) ?? this.retry(attempt)
  }

  /** Waits out each backoff, then runs the next attempt, after attempt `attempt` failed. */
  private async retry (attempt: number): Promise<Outcome> {
    let outcome: Outcome | undefined
    do {
      const delayMs = retryDelay(this.spec, attempt)
      this.logRetry(attempt, delayMs)
      await this.waitOrCancel(delayMs)
      attempt++
      outcome = this.outcomeAfter(await this.attemptNow(attempt), attempt)
    } while (outcome === undefined)
    return outcome
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
