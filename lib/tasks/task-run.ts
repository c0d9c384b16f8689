import type { FastifyBaseLogger } from 'fastify'
import { TaskAttemptContext, type AttemptContext } from '../core/context'
import type { RunHost, TaskSpec } from '../core/model'
import { Run } from '../core/run'
import type { RunResult } from '../types'

/**
 * One run of a task: the runner's attempts, with the task's context and log fields. Its id, its
 * `scheduledAt` Date and the promise of its result are made only when someone asks for them.
 */
export class TaskRun extends Run {
  /** The task's runs in progress are a list through their runs: no collection per task. */
  previous: TaskRun | undefined
  next: TaskRun | undefined
  /** Started while its task was paused (triggered): the task reads `running` while it lasts. */
  whilePaused = false
  startedAt = 0
  #scheduledAt: Date | undefined
  #result: Promise<RunResult> | undefined
  #resolve: ((result: RunResult) => void) | undefined

  constructor (host: RunHost, spec: TaskSpec, log: FastifyBaseLogger, readonly scheduledAtMs: number) {
    super(host, spec, log)
  }

  get kind (): 'task' {
    return 'task'
  }

  get name (): string {
    return (this.spec as TaskSpec).name
  }

  get scheduledAt (): Date {
    this.#scheduledAt ??= new Date(this.scheduledAtMs)
    return this.#scheduledAt
  }

  /** Whether someone waits for `result()`. */
  get awaited (): boolean {
    return this.#result !== undefined
  }

  /** Resolves with the run's result once it has ended (see `ended`). */
  result (): Promise<RunResult> {
    this.#result ??= new Promise(resolve => { this.#resolve = resolve })
    return this.#result
  }

  /** The run has ended, and someone waits for `result()` (see `awaited`): it resolves with `result`. */
  ended (result: RunResult): void {
    (this.#resolve as (result: RunResult) => void)(result)
  }

  logBindings (): Record<string, string> {
    return { task: this.name, runId: this.id }
  }

  protected newContext (attempt: number): AttemptContext {
    return new TaskAttemptContext(this, attempt)
  }
}
