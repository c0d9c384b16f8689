import type { Cron } from 'croner'
import type { TaskSpec } from '../core/model'
import type { TaskSchedule } from '../types'

/** The server's time zone: a cron task without `timezone` follows it. */
const SERVER_TIME_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone

/** The due times of a timed task. */
export interface Schedule {
  /** The first due time strictly after `after` (ms since the epoch), or null when there is none. */
  next: (after: number) => number | null
}

/**
 * Due times for a task anchored at `anchor` (ready + delay in-process; the Unix epoch for a
 * fleet): `every` runs at anchor + k·every, k ≥ 1 (k ≥ 0 with `immediate`), so neither slow
 * runs nor late timers shift later runs; cron runs at the pattern's times from `anchor` on, after
 * one run at `anchor` itself with `immediate`.
 */
export function scheduleOf (spec: TaskSpec, anchor: number): Schedule {
  if (spec.every !== undefined) return new EverySchedule(spec.every, anchor, spec.immediate ? 0 : 1)
  return new CronSchedule(spec.cron as Cron, anchor, spec.immediate)
}

/** Classes rather than closures: one small object per scheduled task, its methods shared. */
class EverySchedule implements Schedule {
  constructor (private readonly every: number, private readonly anchor: number, private readonly firstK: number) {}

  next (after: number): number {
    const k = Math.max(this.firstK, Math.floor((after - this.anchor) / this.every) + 1)
    return this.anchor + k * this.every
  }
}

class CronSchedule implements Schedule {
  constructor (private readonly cron: Cron, private readonly anchor: number, private readonly immediate: boolean) {}

  next (after: number): number | null {
    if (this.immediate && after < this.anchor) return this.anchor
    return this.cron.nextRun(new Date(Math.max(after, this.anchor - 1)))?.getTime() ?? null
  }
}

/** How the task's schedule is shown: its `every`, or its cron pattern and the zone it is read in. */
export function scheduleInfo (spec: TaskSpec): TaskSchedule {
  if (spec.every !== undefined) return { every: spec.every }
  if (spec.cron === undefined) return { loop: true }
  return { cron: spec.cron.getPattern() as string, timezone: spec.timezone ?? SERVER_TIME_ZONE }
}
