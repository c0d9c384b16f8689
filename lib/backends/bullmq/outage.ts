import type { FastifyBaseLogger } from 'fastify'

/** While the store stays unreachable, one log line per this many ms. */
export const OUTAGE_LOG_EVERY_MS = 30_000

// BullMQ reports a lost store (Redis or PostgreSQL) as an 'error' event per connection and per
// retry: many a second. The app keeps serving meanwhile, so the log says it once, then now and
// then, then says it ended. Any other error of the store (a script that failed, a command or a
// statement it refused) is no outage: it is logged each time, with what failed.

/** The system error codes of a socket that cannot reach the store, or lost it. */
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN'])
/** ioredis' errors for commands it cannot send (too many retries; a Cluster with no node left). */
const CONNECTION_ERRORS = new Set(['MaxRetriesPerRequestError', 'ClusterAllFailedError'])
/**
 * PostgreSQL's SQLSTATEs of a connection lost or refused: class 08 (connection exception), and a
 * server shutting down, restarting or starting up (57P01 to 57P03).
 */
const POSTGRES_STATES = /^(08...|57P0[1-3])$/
/** The same codes in a message, and what ioredis, pg and BullMQ say of a connection down, closed, or still loading. */
const CONNECTION_MESSAGES = new RegExp([
  `\\b(${[...CONNECTION_CODES].join('|')})\\b`,
  'Connection is closed',
  "Stream isn't writeable",
  'Command timed out',
  'Socket timeout',
  'None of startup nodes is available',
  '^LOADING ',
  '^Connection terminated',
  'timeout exceeded when trying to connect',
  'is not queryable',
  'Cannot use a pool after calling end'
].join('|'))

/** Whether `error` says that the store cannot be reached (rather than that it refused a command). */
export function isConnectionError (error: Error): boolean {
  const { code } = error as { code?: unknown }
  if (typeof code === 'string' && (CONNECTION_CODES.has(code) || POSTGRES_STATES.test(code))) return true
  // Node reports a refused connection to a name with several addresses (localhost) as one error of each.
  if (error instanceof AggregateError) return error.errors.some(isConnectionError)
  return CONNECTION_ERRORS.has(error.name) || CONNECTION_MESSAGES.test(error.message)
}

/** Logs an outage of the store once, then at most once per OUTAGE_LOG_EVERY_MS, and its end. */
export class OutageLog {
  #since: number | undefined
  #lastLog = 0
  #suppressed = 0

  constructor (private readonly log: FastifyBaseLogger, private readonly store = 'Redis') {}

  readonly error = (error: Error): void => {
    const now = Date.now()
    if (this.#since !== undefined && now - this.#lastLog < OUTAGE_LOG_EVERY_MS) {
      this.#suppressed++
      return
    }
    const fields = { err: error, suppressed: this.#suppressed, downMs: now - (this.#since ?? now) }
    this.log.error(fields, this.#since === undefined
      ? `${this.store} error: background jobs and task schedules wait until ${this.store} answers again`
      : `${this.store} still failing`)
    this.#since ??= now
    this.#lastLog = now
    this.#suppressed = 0
  }

  /** A connection is ready again; true when that ends an outage. */
  readonly restored = (): boolean => {
    if (this.#since === undefined) return false
    this.log.info({ downMs: Date.now() - this.#since }, `${this.store} reachable again: background work resumes`)
    this.#since = undefined
    return true
  }
}

/** How often a store that says nothing when it is back (PostgreSQL) is asked, during an outage. */
const PROBE_MS = 1000

/**
 * Where every error of the store goes: a lost connection to the outage log, any other error to
 * the log, each time. Redis says when it is back (its clients' 'ready'); PostgreSQL is asked, by
 * `probe`, every PROBE_MS while it is away.
 */
export class StoreErrors {
  readonly #outage: OutageLog
  #probing: NodeJS.Timeout | undefined

  constructor (
    private readonly log: FastifyBaseLogger,
    /** The store's name, in the logs and messages. */
    readonly store: string,
    private readonly probe?: () => Promise<unknown>
  ) {
    this.#outage = new OutageLog(log, store)
  }

  /** `message` says what failed, `fields` (such as `{ task }`) what it failed for. */
  report (error: Error, message: string, fields?: Record<string, unknown>): void {
    if (!isConnectionError(error)) {
      this.log.error({ ...fields, err: error }, message)
      return
    }
    this.#outage.error(error)
    if (this.probe !== undefined) this.#probing ??= setInterval(() => this.ask(), PROBE_MS).unref()
  }

  /** A listener for the 'error' events of a BullMQ queue or worker. */
  listener (message: string): (error: Error) => void {
    return error => this.report(error, message)
  }

  /** A connection is ready again. */
  readonly restored = (): void => {
    this.#outage.restored()
  }

  /** Stops asking the store (at close). */
  close (): void {
    clearInterval(this.#probing)
    this.#probing = undefined
  }

  private ask (): void {
    this.probe?.().then(() => {
      this.close()
      this.restored()
    }, () => {})
  }
}
