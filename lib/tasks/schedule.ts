import type { Cron } from 'croner'
import type { TaskSpec } from '../core/model'
import type { TaskSchedule } from '../types'

/** The server's time zone: a cron task without `timezone` follows it. */
const SERVER_TIME_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone

/**
 * The first due time strictly after `after` (ms since the epoch) of a task anchored at `anchor`
 * (ready + delay in-process; the Unix epoch for a fleet), or null when there is none: `every`
 * runs at anchor + k·every, k ≥ 1 (k ≥ 0 with `immediate`), so neither slow runs nor late timers
 * shift later runs; cron runs at the pattern's times from `anchor` on, after one run at `anchor`
 * itself with `immediate`. A function of the spec, not an object per task: 100,000 tasks keep none.
 */
export function nextDue (spec: TaskSpec, anchor: number, after: number): number | null {
  if (spec.every !== undefined) {
    const k = Math.max(spec.immediate ? 0 : 1, Math.floor((after - anchor) / spec.every) + 1)
    return anchor + k * spec.every
  }
  if (spec.immediate && after < anchor) return anchor
  return (spec.cron as Cron).nextRun(new Date(Math.max(after, anchor - 1)))?.getTime() ?? null
}

/** How the task's schedule is shown: its `every`, or its cron pattern and the zone it is read in. */
export function scheduleInfo (spec: TaskSpec): TaskSchedule {
  if (spec.every !== undefined) return { every: spec.every }
  if (spec.cron === undefined) return { loop: true }
  return { cron: spec.cron.getPattern() as string, timezone: spec.timezone ?? SERVER_TIME_ZONE }
}
