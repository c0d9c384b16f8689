import type { Queue, RedisClient } from 'bullmq'
import type { StoreDriver } from '../driver'
import type { StoreErrors } from '../outage'
import type { RedisConnections } from './connection'
import { RedisStore } from './store'

/** Redis, through BullMQ's default backend. */
export class RedisDriver implements StoreDriver {
  readonly name = 'Redis'
  readonly factory = undefined
  readonly probe = undefined
  readonly queueConnection
  readonly workerConnection
  /** The queues' clients once connected; listened to through BullMQ, never on the client itself (it may be the caller's). */
  readonly #clients: RedisClient[] = []
  readonly #listening: Array<[Queue, () => void]> = []

  constructor (private readonly connections: RedisConnections, readonly prefix: string) {
    this.queueConnection = connections.queueConnection
    this.workerConnection = connections.workerConnection
  }

  /** BullMQ connects to Redis itself. */
  async open (): Promise<void> {}

  storeOf (queue: Queue): RedisStore {
    return new RedisStore(queue)
  }

  async connect (queue: Queue, errors: StoreErrors, reconnected?: () => void): Promise<void> {
    this.#clients.push(await queue.backend.client)
    const listener = (): void => {
      errors.restored()
      reconnected?.()
    }
    queue.backend.on('ready', listener)
    this.#listening.push([queue, listener])
  }

  /** BullMQ closes a Redis worker at any moment. */
  async closable (): Promise<void> {}

  async close (): Promise<void> {
    for (const [queue, listener] of this.#listening) queue.backend.off('ready', listener)
    // During an outage BullMQ cannot send QUIT and its client would go on reconnecting: cut it.
    // An ioredis instance given as `connection` stays open: it is the caller's.
    if (!this.connections.shared) for (const client of this.#clients) client.disconnect()
  }
}
