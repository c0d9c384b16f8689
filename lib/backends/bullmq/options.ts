import { isPgPool, type PgPool, type WorkerOptions } from 'bullmq'
import type { Redis, RedisOptions } from 'ioredis'
import { invalid, plainObject } from '../../core/option-values'
import { postgresConnections, POSTGRES_URL, type PostgresConnections } from './postgres/connection'
import { redisConnections, type RedisConnections } from './redis/connection'

// What `bullmqBackend(options)` is given, checked once at registration, and the connections
// it means for the queues and for the workers.

export interface BullmqBackendOptions {
  /**
   * Redis: ioredis options, an ioredis instance, or a `redis://` / `rediss://` URL.
   * PostgreSQL: a `postgres://` / `postgresql://` URL, or a `pg.Pool` (which stays yours to close).
   */
  connection: RedisOptions | Redis | string | PgPool
  /** Redis key prefix. Default 'bull'. Not on PostgreSQL, where `schema` places the tables. */
  prefix?: string
  /** PostgreSQL with a URL: the schema of BullMQ's tables and the plugin's. Default BullMQ's, 'bullmq'. */
  schema?: string
  /** PostgreSQL: run BullMQ's migrations (and create the plugin's table) at start. Default true. */
  migrate?: boolean
  /** The jobs queue; timed tasks use `<queueName>.tasks`. Default 'fastify-background'. */
  queueName?: string
  /** Merged over `{ lockDuration: 15000, stalledInterval: 10000, concurrency: <plugin concurrency> }`. */
  workerOptions?: Partial<Omit<WorkerOptions, 'connection' | 'prefix'>>
}

export const BULLMQ_DEFAULTS = Object.freeze({
  prefix: 'bull',
  queueName: 'fastify-background',
  lockDuration: 15_000,
  stalledInterval: 10_000
})

const OPTION_KEYS = ['connection', 'prefix', 'schema', 'migrate', 'queueName', 'workerOptions']

/** bullmqBackend's options, checked. */
export interface Config {
  /** The store, and the connections to it. */
  readonly store: RedisConnections | PostgresConnections
  readonly prefix: string
  readonly queueName: string
  readonly workerOptions: Partial<WorkerOptions>
}

export function readConfig (input: unknown): Config {
  const options = plainObject(input, 'backend', OPTION_KEYS, 'bullmqBackend needs an object { connection, prefix?, schema?, migrate?, queueName?, workerOptions? }')
  const workerOptions = plainObject(options.workerOptions ?? {}, 'backend.workerOptions', undefined, 'must be an object of BullMQ Worker options')
  const misplaced = ['connection', 'prefix'].find(key => key in workerOptions)
  if (misplaced !== undefined) throw invalid(`backend.workerOptions.${misplaced}`, `set it on bullmqBackend({ ${misplaced} }) instead`)
  const queueName = text(options.queueName, 'backend.queueName', BULLMQ_DEFAULTS.queueName)
  if (queueName.includes(':')) throw invalid('backend.queueName', 'cannot contain ":"')
  return {
    store: storeOf(options),
    prefix: text(options.prefix, 'backend.prefix', BULLMQ_DEFAULTS.prefix),
    queueName,
    workerOptions: workerOptions as Partial<WorkerOptions>
  }
}

/** The options of this replica's workers: the backend's defaults, then the user's `workerOptions`. */
export function workerOptionsOf (config: Config, concurrency: number): Omit<WorkerOptions, 'connection'> {
  return {
    lockDuration: BULLMQ_DEFAULTS.lockDuration,
    stalledInterval: BULLMQ_DEFAULTS.stalledInterval,
    // Keeps the fleet's lifetime totals of completed and failed jobs, for stats().
    metrics: { maxDataPoints: 60 },
    concurrency,
    ...config.workerOptions
  }
}

/** PostgreSQL for a postgres:// URL or a pg.Pool; Redis for anything else. */
function storeOf (options: Record<string, unknown>): RedisConnections | PostgresConnections {
  const { connection } = options
  const postgres = isPgPool(connection) || (typeof connection === 'string' && POSTGRES_URL.test(connection))
  if (!postgres) {
    const misplaced = ['schema', 'migrate'].find(key => options[key] !== undefined)
    if (misplaced !== undefined) throw invalid(`backend.${misplaced}`, 'is for PostgreSQL: the connection is not a postgres:// URL or a pg.Pool')
    return redisConnections(connection)
  }
  if (options.prefix !== undefined) throw invalid('backend.prefix', 'is for Redis: on PostgreSQL, schema places the tables')
  if (options.migrate !== undefined && typeof options.migrate !== 'boolean') throw invalid('backend.migrate', 'must be a boolean')
  const schema = options.schema === undefined ? undefined : text(options.schema, 'backend.schema', '')
  return postgresConnections(connection as string | PgPool, schema, options.migrate !== false)
}

function text (value: unknown, path: string, fallback: string): string {
  if (value === undefined) return fallback
  if (typeof value !== 'string' || value === '') throw invalid(path, 'must be a non-empty string')
  return value
}
