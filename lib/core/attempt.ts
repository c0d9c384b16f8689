import type { AttemptContext } from './context'
import { TimeoutError } from './errors'
import { describeError, toError } from './failure'
import type { Outcome, OutcomeStatus, Tracer, WorkSpec } from './model'
import { LongTimer } from './timers'
import { isThenable, traced, type TraceSource } from './tracing'

/** After an attempt's signal aborts, its handler has this long to settle before the attempt is recorded without it. */
export const ABORT_GRACE_MS = 1000

const SUCCEEDED: Outcome = Object.freeze({ status: 'succeeded' })

/** A handler's value is kept as its result (a job's); most resolve with nothing, and share one outcome. */
function succeeded (result: unknown): Outcome {
  return result === undefined ? SUCCEEDED : { status: 'succeeded', result }
}

/**
 * running: the handler may still settle by itself; aborting: its signal aborted (timeout or
 * cancel) and it has ABORT_GRACE_MS to settle; settled: the outcome is known, and whatever the
 * handler does later is ignored (a late rejection is logged).
 */
export type AttemptState = 'running' | 'aborting' | 'settled'

/** What an attempt needs from the run it belongs to. */
export interface AttemptRun extends TraceSource {
  readonly kind: 'task' | 'job'
  readonly spec: WorkSpec
  readonly tracer: Tracer
  /** Told exactly once, when the attempt has settled (during `start()` for a synchronous handler). */
  attemptSettled: (attempt: Attempt, outcome: Outcome) => void
}

/**
 * One attempt of user code: calls the handler with its context, arms the timeout, and settles
 * exactly once: when the handler settles, or when the grace after an abort runs out. It tells
 * its run through a call, not a promise: a job that nobody awaits makes no promise of its own.
 */
export class Attempt {
  #state: AttemptState = 'running'
  #abort: { readonly status: OutcomeStatus, readonly reason: Error } | undefined
  #timeout: LongTimer | undefined
  #grace: NodeJS.Timeout | undefined

  constructor (private readonly run: AttemptRun, readonly ctx: AttemptContext) {}

  /** Aborts the signal with `reason`; the attempt ends `status` unless the handler settles first. */
  abort (reason: Error, status: OutcomeStatus): void {
    if (this.#state !== 'running') return
    this.#state = 'aborting'
    this.#abort = { status, reason }
    this.ctx.abort(reason)
    this.#grace = setTimeout(() => {
      this.ctx.log.warn({ attempt: this.ctx.attempt, graceMs: ABORT_GRACE_MS },
        `${this.run.kind} abandoned: its handler did not settle after abort (${reason.message})`)
      this.settle({ status, error: reason.message })
    }, ABORT_GRACE_MS)
  }

  /** Calls the handler; its timeout is armed once the handler's synchronous part has returned. */
  start (): void {
    const limit = this.run.spec.timeout
    const started = limit === undefined ? 0 : Date.now()
    // Reading `then` and calling it run user code too (a thenable's `then` may throw): inside the try.
    try {
      const result = traced(this.run.tracer, this.run, this.run.spec.handler, this.ctx)
      // A synchronous handler cannot have been aborted: no timer fires while it runs. Nor does it
      // need its timeout, which is armed only for a handler still running, from when it was called.
      if (!isThenable(result)) return this.settle(succeeded(result))
      // A timeout may be longer than Node's timer limit (2^31-1 ms), which would fire it at once.
      if (limit !== undefined) this.#timeout = new LongTimer(() => this.abort(new TimeoutError(limit), 'timeout'), limit - (Date.now() - started))
      result.then(value => this.fulfilled(value), error => this.rejected(error))
    } catch (error) {
      this.rejected(error)
    }
  }

  private fulfilled (value: unknown): void {
    // Settling after an abort does not undo it: the attempt timed out, or was cancelled.
    if (this.#state === 'running') this.settle(succeeded(value))
    else if (this.#state === 'aborting') this.settle(this.aborted())
  }

  private rejected (error: unknown): void {
    if (this.#state === 'settled') {
      this.ctx.log.warn({ err: toError(error), attempt: this.ctx.attempt }, `${this.run.kind} rejected after it was abandoned; ignored`)
    } else if (this.#state === 'aborting') {
      this.settle(this.aborted())
    } else {
      this.ctx.log.error({ err: toError(error), attempt: this.ctx.attempt }, `${this.run.kind} failed`)
      this.settle({ status: 'failed', error: describeError(error) })
    }
  }

  /** The outcome of a handler that settled after its signal aborted, logged. */
  private aborted (): Outcome {
    const { status, reason } = this.#abort as { status: OutcomeStatus, reason: Error }
    const attempt = this.ctx.attempt
    if (status === 'timeout') {
      this.ctx.log.error({ attempt, timeoutMs: this.run.spec.timeout }, `${this.run.kind} ${reason.message}`)
    } else {
      // Expected at close for a loop; an abandoned run is logged at warn by whoever gave up on it.
      this.ctx.log.info({ attempt }, `${this.run.kind} cancelled: ${reason.message}`)
    }
    return { status, error: reason.message }
  }

  private settle (outcome: Outcome): void {
    this.#state = 'settled'
    this.#timeout?.clear()
    clearTimeout(this.#grace)
    this.run.attemptSettled(this, outcome)
  }
}
