import type { AwilixContainer } from 'awilix'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import type { BackgroundCradle, JobContext, JobProgress, TaskContext } from '../types'
import { AttemptEndedError, InvalidDataError } from './errors'
import { jsonProblem } from './json'
import type { ProgressSink } from './model'
import { sleep } from './timers'

/** What an attempt needs from the run it belongs to. */
export interface AttemptOwner {
  readonly id: string
  readonly name: string
  readonly app: FastifyInstance
  readonly container: AwilixContainer
  readonly parentLog: FastifyBaseLogger
  logBindings: () => Record<string, string>
}

/**
 * The `ctx` of one attempt. Scope, signal, logger and `sleep` are made on first use, so a job
 * that never touches them costs no scope, no AbortController and no child logger.
 */
export class AttemptContext {
  #scope: AwilixContainer<BackgroundCradle> | undefined
  #controller: AbortController | undefined
  #log: FastifyBaseLogger | undefined
  #sleep: ((ms: number) => Promise<void>) | undefined
  #abortReason: Error | undefined
  #ended = false

  constructor (protected readonly owner: AttemptOwner, readonly attempt: number) {}

  get scope (): AwilixContainer<BackgroundCradle> {
    if (this.#scope !== undefined) return this.#scope
    // A scope made now would never be disposed: its attempt has ended, and with it the disposal.
    if (this.#ended) throw new AttemptEndedError(this.owner.name)
    this.#scope = this.owner.container.createScope<BackgroundCradle>()
    return this.#scope
  }

  /** Whether ctx.scope was made: its disposal is then to be waited for. */
  get scoped (): boolean {
    return this.#scope !== undefined
  }

  get cradle (): BackgroundCradle {
    return this.scope.cradle
  }

  get signal (): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController()
      if (this.#abortReason !== undefined) this.#controller.abort(this.#abortReason)
    }
    return this.#controller.signal
  }

  get log (): FastifyBaseLogger {
    this.#log ??= this.owner.parentLog.child(this.owner.logBindings())
    return this.#log
  }

  get name (): string {
    return this.owner.name
  }

  get app (): FastifyInstance {
    return this.owner.app
  }

  get sleep (): (ms: number) => Promise<void> {
    this.#sleep ??= (ms: number) => sleep(ms, this.signal)
    return this.#sleep
  }

  /** Aborts the signal (now, or when it is first read). The run calls this at most once per attempt. */
  abort (reason: Error): void {
    this.#abortReason = reason
    this.#controller?.abort(reason)
  }

  /**
   * The attempt has settled: no scope may be made from now on. Disposes the scope if one was
   * made, and returns the promise of its disposers (undefined when there is none to wait for).
   */
  end (): Promise<void> | undefined {
    this.#ended = true
    return this.#scope?.dispose()
  }
}

/** A task run, as its attempts' contexts see it. */
export interface TaskAttemptOwner extends AttemptOwner {
  readonly scheduledAt: Date
}

export class TaskAttemptContext extends AttemptContext implements TaskContext {
  declare protected readonly owner: TaskAttemptOwner

  /** The run's Date, made when first read (most handlers never do). */
  get scheduledAt (): Date {
    return this.owner.scheduledAt
  }

  get runId (): string {
    return this.owner.id
  }
}

export class JobAttemptContext extends AttemptContext implements JobContext {
  constructor (owner: AttemptOwner, attempt: number, readonly data: unknown, private readonly sink: ProgressSink) {
    super(owner, attempt)
  }

  get id (): string {
    return this.owner.id
  }

  progress (value: JobProgress): Promise<void> {
    const problem = progressProblem(value)
    if (problem !== undefined) return Promise.reject(new InvalidDataError(JSON.stringify(this.owner.name), problem))
    return this.sink.storeProgress(value)
  }
}

/** Why `value` is no progress: a finite number or a plain object that JSON carries as it is. */
function progressProblem (value: unknown): string | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : `progress is ${value}`
  const proto = typeof value === 'object' && value !== null ? Object.getPrototypeOf(value) : undefined
  if (proto !== Object.prototype && proto !== null) return 'progress must be a finite number or a plain object'
  return jsonProblem(value, 'progress')
}
