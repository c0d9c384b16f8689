import type { AwilixContainer } from 'awilix'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import type { BackgroundCradle, JobContext, TaskContext } from './types'
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

  constructor (protected readonly owner: AttemptOwner, readonly attempt: number) {}

  get scope (): AwilixContainer<BackgroundCradle> {
    this.#scope ??= this.owner.container.createScope<BackgroundCradle>()
    return this.#scope
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

  /** True once `scope` (or `cradle`) has been read. */
  get hasScope (): boolean {
    return this.#scope !== undefined
  }

  /** Disposes the scope if one was made; resolves once its disposers have run. */
  dispose (): Promise<void> | undefined {
    return this.#scope?.dispose()
  }
}

export class TaskAttemptContext extends AttemptContext implements TaskContext {
  constructor (owner: AttemptOwner, attempt: number, readonly scheduledAt: Date) {
    super(owner, attempt)
  }

  get runId (): string {
    return this.owner.id
  }
}

export class JobAttemptContext extends AttemptContext implements JobContext {
  constructor (owner: AttemptOwner, attempt: number, readonly data: unknown) {
    super(owner, attempt)
  }

  get id (): string {
    return this.owner.id
  }
}
