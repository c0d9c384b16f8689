import type { FastifyBaseLogger } from 'fastify'

/** While Redis stays unreachable, one log line per this many ms. */
export const OUTAGE_LOG_EVERY_MS = 30_000

// BullMQ reports a lost Redis as an 'error' event per connection and per retry: many a second.
// The app keeps serving meanwhile, so the log says it once, then now and then, then says it ended.
// Any other Redis error (a script that failed, a command Redis refused) is no outage: it is
// logged each time, with what failed.

/** The system error codes of a socket that cannot reach Redis, or lost it. */
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN'])
/** ioredis' errors for commands it cannot send (too many retries; a Cluster with no node left). */
const CONNECTION_ERRORS = new Set(['MaxRetriesPerRequestError', 'ClusterAllFailedError'])
/** The same codes in a message, and what ioredis and BullMQ say of a connection down, closed, or still loading. */
const CONNECTION_MESSAGES = new RegExp([
  `\\b(${[...CONNECTION_CODES].join('|')})\\b`,
  'Connection is closed',
  "Stream isn't writeable",
  'Command timed out',
  'Socket timeout',
  'None of startup nodes is available',
  '^LOADING '
].join('|'))

/** Whether `error` says that Redis cannot be reached (rather than that it refused a command). */
export function isConnectionError (error: Error): boolean {
  const { code } = error as { code?: unknown }
  if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true
  return CONNECTION_ERRORS.has(error.name) || CONNECTION_MESSAGES.test(error.message)
}

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

/** Where every Redis error of the backend goes: a lost connection to the outage log, any other error to the log, each time. */
export class RedisErrors {
  readonly #outage: OutageLog

  constructor (private readonly log: FastifyBaseLogger) {
    this.#outage = new OutageLog(log)
  }

  /** `message` says what failed, `fields` (such as `{ task }`) what it failed for. */
  report (error: Error, message: string, fields?: Record<string, unknown>): void {
    if (isConnectionError(error)) this.#outage.error(error)
    else this.log.error({ ...fields, err: error }, message)
  }

  /** A listener for the 'error' events of a BullMQ queue or worker. */
  listener (message: string): (error: Error) => void {
    return error => this.report(error, message)
  }

  /** A connection is ready again. */
  readonly restored = (): void => {
    this.#outage.restored()
  }
}
