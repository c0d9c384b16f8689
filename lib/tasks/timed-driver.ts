import type { ScheduleCause, TaskScheduler, UnscheduleCause } from '../core/model'
import type { DrivenTask, TaskDriver } from './driver'

/** Drives the `every`/`cron` tasks of a registry: the backend fires them at their due times. */
export class TimedDriver implements TaskDriver {
  /** A triggered run ends by itself, and leaves the schedule as it was. */
  readonly triggerableWhilePaused = true

  constructor (private readonly scheduler: TaskScheduler) {}

  start (task: DrivenTask, cause: ScheduleCause): void {
    this.scheduler.schedule(task, cause)
  }

  /** A run in progress goes on: close waits for it, and `remove()` cancels it. */
  halt (task: DrivenTask, _reason: string, cause: UnscheduleCause): void {
    this.scheduler.unschedule(task, cause)
  }
}
