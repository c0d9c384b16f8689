import type { ScheduleCause, ScheduledTask, UnscheduleCause } from '../core/model'
import type { RunResult } from '../types'

/** What a driver asks of the task it drives. */
export interface DrivenTask extends ScheduledTask {
  /** Started, and neither paused nor stopped: its driver keeps it going. */
  readonly driven: boolean
  /** How many runs are in progress. */
  readonly running: number
  /** Starts a run now, whatever the overlap rule says: the driver has checked. */
  run: (scheduledAt: number) => Promise<RunResult>
  /** Aborts every run in progress; each still gets its grace to settle. */
  cancelRuns: (reason: string) => void
}

/**
 * How a task is driven: fired at due times by the backend (every, cron: one driver for all the
 * registry's timed tasks), or kept running here (loop: a driver of its own, with its timer and backoff).
 */
export interface TaskDriver {
  /** Whether `trigger()` may run the task while it is paused. */
  readonly triggerableWhilePaused: boolean
  /** The task starts, or resumes: drive it. */
  start: (task: DrivenTask, cause: ScheduleCause) => void
  /** The task is paused, or stopped (removed, or the app is closing; `reason` says which): stop driving it. */
  halt: (task: DrivenTask, reason: string, cause: UnscheduleCause) => void
  /** A run of the task (scheduled or triggered) is about to start. */
  onRunStarting?: () => void
  onRunEnded?: (result: RunResult) => void
}
