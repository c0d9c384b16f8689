import type { FastifyBaseLogger } from 'fastify'

/** While Redis stays unreachable, one log line per this many ms. */
export const OUTAGE_LOG_EVERY_MS = 30_000

// BullMQ reports a lost Redis as an 'error' event per connection and per retry: many a second.
// The app keeps serving meanwhile, so the log says it once, then now and then, then says it ended.

/** Logs a Redis outage once, then at most once per OUTAGE_LOG_EVERY_MS, and its end. */
export class OutageLog {
  #since: number | undefined
  #lastLog = 0
  #suppressed = 0

  constructor (private readonly log: FastifyBaseLogger) {}

  readonly error = (error: Error): void => {
    const now = Date.now()
    if (this.#since !== undefined && now - this.#lastLog < OUTAGE_LOG_EVERY_MS) {
      this.#suppressed++
      return
    }
    const fields = { err: error, suppressed: this.#suppressed, downMs: now - (this.#since ?? now) }
    this.log.error(fields, this.#since === undefined
      ? 'Redis error: background jobs and task schedules wait until Redis answers again'
      : 'Redis still failing')
    this.#since ??= now
    this.#lastLog = now
    this.#suppressed = 0
  }

  /** A connection is ready again; true when that ends an outage. */
  readonly restored = (): boolean => {
    if (this.#since === undefined) return false
    this.log.info({ downMs: Date.now() - this.#since }, 'Redis reachable again: background work resumes')
    this.#since = undefined
    return true
  }
}
