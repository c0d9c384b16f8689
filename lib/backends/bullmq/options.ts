import type { ConnectionOptions, WorkerOptions } from 'bullmq'
import type { Redis, RedisOptions } from 'ioredis'
import { invalid, plainObject } from '../../core/option-values'

// What `bullmqBackend(options)` is given, checked once at registration, and the connections
// it means for the queues and for the workers.

export interface BullmqBackendOptions {
  /** ioredis options, an ioredis instance, or a `redis://` / `rediss://` URL. */
  connection: RedisOptions | Redis | string
  /** Redis key prefix. Default 'bull'. */
  prefix?: string
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

const OPTION_KEYS = ['connection', 'prefix', 'queueName', 'workerOptions']

/** bullmqBackend's options, checked. */
export interface Config {
  /** The queues use an ioredis instance of the caller's, which stays the caller's to close. */
  readonly shared: boolean
  readonly queueConnection: ConnectionOptions
  readonly workerConnection: ConnectionOptions
  readonly prefix: string
  readonly queueName: string
  readonly workerOptions: Partial<WorkerOptions>
}

export function readConfig (input: unknown): Config {
  const options = plainObject(input, 'backend', OPTION_KEYS, 'bullmqBackend needs an object { connection, prefix?, queueName?, workerOptions? }')
  const workerOptions = plainObject(options.workerOptions ?? {}, 'backend.workerOptions', undefined, 'must be an object of BullMQ Worker options')
  const misplaced = ['connection', 'prefix'].find(key => key in workerOptions)
  if (misplaced !== undefined) throw invalid(`backend.workerOptions.${misplaced}`, `set it on bullmqBackend({ ${misplaced} }) instead`)
  const queueName = text(options.queueName, 'backend.queueName', BULLMQ_DEFAULTS.queueName)
  if (queueName.includes(':')) throw invalid('backend.queueName', 'cannot contain ":"')
  return {
    ...connectionsOf(options.connection),
    prefix: text(options.prefix, 'backend.prefix', BULLMQ_DEFAULTS.prefix),
    queueName,
    workerOptions: workerOptions as Partial<WorkerOptions>
  }
}

/** The options of this replica's workers: the backend's defaults, then the user's `workerOptions`. */
export function workerOptionsOf (config: Config, concurrency: number): WorkerOptions {
  return {
    lockDuration: BULLMQ_DEFAULTS.lockDuration,
    stalledInterval: BULLMQ_DEFAULTS.stalledInterval,
    // Keeps the fleet's lifetime totals of completed and failed jobs, for stats().
    metrics: { maxDataPoints: 60 },
    concurrency,
    ...config.workerOptions,
    connection: config.workerConnection,
    prefix: config.prefix
  }
}

/**
 * Queue calls fail fast while Redis is away (so a request gets a 503 instead of waiting), and
 * workers, whose blocking calls need it, retry forever. An ioredis instance is used as is by the
 * queues (it stays yours to close); workers get connections of their own with its options.
 */
function connectionsOf (connection: unknown): Pick<Config, 'shared' | 'queueConnection' | 'workerConnection'> {
  if (typeof connection === 'string') {
    if (!/^rediss?:\/\//.test(connection)) throw invalid('backend.connection', 'a URL must start with redis:// or rediss://')
    return { shared: false, queueConnection: { url: connection, enableOfflineQueue: false }, workerConnection: { url: connection } }
  }
  if (typeof (connection as Redis | null)?.duplicate === 'function') {
    const instance = connection as Redis
    return { shared: true, queueConnection: instance, workerConnection: { ...instance.options, maxRetriesPerRequest: null } as ConnectionOptions }
  }
  const options = plainObject(connection, 'backend.connection', undefined, 'must be ioredis options, an ioredis instance or a redis:// URL')
  return { shared: false, queueConnection: { ...options, enableOfflineQueue: false }, workerConnection: options }
}

function text (value: unknown, path: string, fallback: string): string {
  if (value === undefined) return fallback
  if (typeof value !== 'string' || value === '') throw invalid(path, 'must be a non-empty string')
  return value
}
