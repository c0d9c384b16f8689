import type { RepeatOptions } from 'bullmq'
import { Cron } from 'croner'

/**
 * Due times from cron patterns, computed by croner as in-process, so a pattern means the same
 * on either backend. BullMQ calls this on whichever replica creates the next job.
 */
export function cronStrategy (): (millis: number, opts: RepeatOptions) => number | undefined {
  const crons = new Map<string, Cron>()
  return (millis, opts) => {
    const key = `${opts.tz ?? ''} ${opts.pattern as string}`
    let cron = crons.get(key)
    if (cron === undefined) {
      cron = new Cron(opts.pattern as string, { paused: true, timezone: opts.tz, mode: '5-or-6-parts' })
      crons.set(key, cron)
    }
    return cron.nextRun(new Date(millis))?.getTime()
  }
}
