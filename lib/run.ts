import { randomUUID } from 'node:crypto'
import type { AwilixContainer } from 'awilix'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import type { AttemptContext, AttemptOwner } from './context'
import { CancelledError, TimeoutError } from './errors'
import { describeError, toError } from './failure'
import { isThenable, traced, type TraceContext, type Tracer } from './tracing'
import { LongTimer } from './timers'

/** After a run's signal aborts, its handler has this long to settle before the run is recorded without it. */
export const ABORT_GRACE_MS = 1000

/** What running user code needs from the plugin instance. */
export interface RunHost {
  readonly app: FastifyInstance
  readonly container: AwilixContainer
  readonly tracers: Readonly<Record<'task' | 'job', Tracer>>
}

/** The parts of a task or job definition that say how to run it. */
export interface WorkSpec {
  readonly handler: (ctx: any) => unknown
  readonly retries: number
  readonly backoff: number
  readonly timeout: number | undefined
}

export type OutcomeStatus = 'succeeded' | 'failed' | 'timeout' | 'cancelled'

export interface Outcome {
  status: OutcomeStatus
  error?: string
}

const SUCCEEDED: Outcome = Object.freeze({ status: 'succeeded' })

/**
 * A random UUID, flattened: Node builds it by concatenation, a rope of 14 strings (~490 bytes)
 * that V8 keeps as long as the id lives; reading one character flattens it to one (~60 bytes).
 */
export function newId (): string {
  const id = randomUUID()
  id.charCodeAt(0)
  return id
}

/**
 * One run of a task, or one job: the single path by which user code runs. It makes each
 * attempt's context, arms the timeout, traces, logs failures, gives an aborted handler its grace,
 * disposes the scope, and waits out the backoff between attempts.
 */
export abstract class Run implements AttemptOwner {
  abstract readonly kind: 'task' | 'job'
  abstract readonly name: string
  attempt = 0
  #current: ((reason: Error, status: OutcomeStatus) => void) | undefined
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

  abstract logBindings (): Record<string, string>
  protected abstract newContext (attempt: number): AttemptContext
  /** Called as each attempt starts. */
  protected onAttemptStart (): void {}
  /** Called when a failed attempt will be retried after `delayMs`. */
  protected onRetryWait (_delayMs: number): void {}

  /** Runs attempts until one succeeds, the retries are spent, or the run is cancelled. */
  async execute (): Promise<Outcome> {
    let attempt = 1
    let outcome = await this.runAttempt(attempt)
    while (outcome.status !== 'succeeded' && outcome.status !== 'cancelled' && attempt <= this.spec.retries) {
      const delayMs = this.spec.backoff * 2 ** (attempt - 1)
      this.parentLog.warn({ ...this.logBindings(), attempt, delayMs }, `${this.kind} attempt failed; retrying`)
      this.onRetryWait(delayMs)
      await this.waitOrCancel(delayMs)
      outcome = await this.runAttempt(++attempt)
    }
    return outcome
  }

  /** Runs one attempt: a fresh context, scope and signal. */
  async runAttempt (attempt: number): Promise<Outcome> {
    if (this.#cancelled !== undefined) return { status: 'cancelled', error: this.#cancelled.message }
    this.attempt = attempt
    const ctx = this.newContext(attempt)
    this.onAttemptStart()
    const outcome = await this.settle(ctx)
    this.#current = undefined
    // Most jobs never touch ctx.scope: then there is nothing to dispose, and no promise to wait for.
    if (ctx.hasScope) await this.dispose(ctx)
    return outcome
  }

  /** Aborts the attempt in progress (with its grace) or ends the wait before the next one. */
  cancel (reason: string): void {
    if (this.#cancelled !== undefined) return
    this.#cancelled = new CancelledError(reason)
    this.#current?.(this.#cancelled, 'cancelled')
    this.#endWait?.()
  }

  private settle (ctx: AttemptContext): Promise<Outcome> {
    return new Promise<Outcome>(resolve => {
      let settled = false
      let abortStatus: OutcomeStatus | undefined
      let timeout: LongTimer | undefined
      let grace: NodeJS.Timeout | undefined
      const finish = (outcome: Outcome): void => {
        if (settled) return
        settled = true
        timeout?.clear()
        clearTimeout(grace)
        resolve(outcome)
      }
      const abort = (reason: Error, status: OutcomeStatus): void => {
        if (abortStatus !== undefined || settled) return
        abortStatus = status
        ctx.abort(reason)
        grace = setTimeout(() => {
          ctx.log.warn({ attempt: ctx.attempt, graceMs: ABORT_GRACE_MS },
            `${this.kind} abandoned: its handler did not settle after abort (${reason.message})`)
          finish({ status, error: reason.message })
        }, ABORT_GRACE_MS)
      }
      this.#current = abort
      const limit = this.spec.timeout
      // A timeout may be longer than Node's timer limit (2^31-1 ms), which would fire it at once.
      if (limit !== undefined) timeout = new LongTimer(() => abort(new TimeoutError(limit), 'timeout'), limit)

      // Reading `then` and calling it run user code too (a thenable's `then` may throw): inside the try.
      try {
        const result = traced(this.tracer, () => this.traceContext(), this.spec.handler, ctx)
        // A synchronous handler cannot have been aborted: no timer fires while it runs.
        if (!isThenable(result)) return finish(SUCCEEDED)
        result.then(
          // Settling after an abort does not undo it: the run timed out, or was cancelled.
          () => finish(abortStatus === undefined ? SUCCEEDED : this.failure(ctx, abortStatus, undefined)),
          error => settled ? this.lateRejection(ctx, error) : finish(this.failure(ctx, abortStatus, error))
        )
      } catch (error) {
        finish(this.failure(ctx, abortStatus, error))
      }
    })
  }

  /** The outcome of a handler that threw or rejected (or finished after its timeout), logged. */
  private failure (ctx: AttemptContext, abortStatus: OutcomeStatus | undefined, error: unknown): Outcome {
    const attempt = ctx.attempt
    if (abortStatus === 'timeout') {
      const error = new TimeoutError(this.spec.timeout as number)
      ctx.log.error({ attempt, timeoutMs: this.spec.timeout }, `${this.kind} ${error.message}`)
      return { status: 'timeout', error: error.message }
    }
    if (abortStatus === 'cancelled') {
      // Expected at close for a loop; an abandoned run is logged at warn by whoever gave up on it.
      const reason = (this.#cancelled as Error).message
      ctx.log.info({ attempt }, `${this.kind} cancelled: ${reason}`)
      return { status: 'cancelled', error: reason }
    }
    ctx.log.error({ err: toError(error), attempt }, `${this.kind} failed`)
    return { status: 'failed', error: describeError(error) }
  }

  private lateRejection (ctx: AttemptContext, error: unknown): void {
    ctx.log.warn({ err: toError(error), attempt: ctx.attempt }, `${this.kind} rejected after it was abandoned; ignored`)
  }

  private async dispose (ctx: AttemptContext): Promise<void> {
    try {
      await ctx.dispose()
    } catch (error) {
      ctx.log.error({ err: toError(error), attempt: ctx.attempt }, `${this.kind} scope disposer failed`)
    }
  }

  private waitOrCancel (ms: number): Promise<void> {
    return new Promise(resolve => {
      // Cancelled while the attempt's scope was being disposed: no wait.
      if (this.#cancelled !== undefined) return resolve()
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

  private get tracer (): Tracer {
    return this.host.tracers[this.kind]
  }

  private traceContext (): TraceContext {
    return { kind: this.kind, name: this.name, id: this.id, attempt: this.attempt }
  }
}
