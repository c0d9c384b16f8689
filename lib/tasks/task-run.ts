import type { FastifyBaseLogger } from 'fastify'
import { TaskAttemptContext, type AttemptContext } from '../core/context'
import type { RunHost, TaskSpec } from '../core/model'
import { Run } from '../core/run'

/** One run of a task: the runner's attempts, with the task's context and log fields. */
export class TaskRun extends Run {
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
