import type { ConnectionOptions } from 'bullmq'
import type { Redis } from 'ioredis'
import { invalid, plainObject } from '../../../core/option-values'

/** The connections for Redis: the queues', and the workers'. */
export interface RedisConnections {
  readonly kind: 'redis'
  /** The queues use an ioredis instance of the caller's, which stays the caller's to close. */
  readonly shared: boolean
  readonly queueConnection: ConnectionOptions
  readonly workerConnection: ConnectionOptions
}

/**
 * Queue calls fail fast while Redis is away (so a request gets a 503 instead of waiting), and
 * workers, whose blocking calls need it, retry forever. An ioredis instance is used as is by the
 * queues (it stays yours to close); workers get connections of their own with its options.
 */
export function redisConnections (connection: unknown): RedisConnections {
  if (typeof connection === 'string') {
    if (!/^rediss?:\/\//.test(connection)) throw invalid('backend.connection', 'a URL must start with redis://, rediss://, postgres:// or postgresql://')
    return { kind: 'redis', shared: false, queueConnection: { url: connection, enableOfflineQueue: false }, workerConnection: { url: connection } }
  }
  if (typeof (connection as Redis | null)?.duplicate === 'function') {
    const instance = connection as Redis
    return { kind: 'redis', shared: true, queueConnection: instance, workerConnection: { ...instance.options, maxRetriesPerRequest: null } as ConnectionOptions }
  }
  const options = plainObject(connection, 'backend.connection', undefined, 'must be ioredis options, an ioredis instance, a redis:// URL, a postgres:// URL or a pg.Pool')
  return { kind: 'redis', shared: false, queueConnection: { ...options, enableOfflineQueue: false }, workerConnection: options }
}
