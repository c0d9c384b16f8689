import type { ScheduleCause, ScheduledTask, TaskScheduler, UnscheduleCause } from '../core/model'
import type { TaskDriver } from './driver'

/** Drives an `every`/`cron` task: the backend fires it at its due times. */
export class TimedDriver implements TaskDriver {
  /** A triggered run ends by itself, and leaves the schedule as it was. */
  readonly triggerableWhilePaused = true

  constructor (private readonly task: ScheduledTask, private readonly scheduler: TaskScheduler) {}

  start (cause: ScheduleCause): void {
    this.scheduler.schedule(this.task, cause)
  }

  /** A run in progress goes on: close waits for it, and `remove()` cancels it. */
  halt (_reason: string, cause: UnscheduleCause): void {
    this.scheduler.unschedule(this.task, cause)
  }
}
