import { Queue, type RedisClient } from 'bullmq'
import { untilDeadline } from '../../core/shutdown'
import { cronStrategy } from './cron-strategy'
import type { Config } from './options'
import type { RedisErrors } from './outage'

/**
 * This replica's two queues: named jobs in `<queueName>`, timed tasks' schedulers and runs in
 * `<queueName>.tasks`. Their connections are the caller's ioredis instance, or of their own.
 */
export class Queues {
  readonly jobs: Queue
  readonly tasks: Queue
  /** The queues' clients once connected; listened to through BullMQ, never on the client itself (it may be the caller's). */
  readonly #clients: RedisClient[] = []
  readonly #listening: Array<[Queue, () => void]> = []

  constructor (private readonly config: Config, private readonly errors: RedisErrors) {
    const { queueConnection: connection, prefix, queueName } = config
    this.jobs = new Queue(queueName, { connection, prefix })
    this.tasks = new Queue(`${queueName}.tasks`, { connection, prefix, settings: { repeatStrategy: cronStrategy() } })
    this.jobs.on('error', errors.listener('the jobs queue failed'))
    this.tasks.on('error', errors.listener('the tasks queue failed'))
  }

  /** Connects; on each reconnection of the tasks queue, `reconnected` runs. */
  async connect (reconnected: () => void): Promise<void> {
    for (const queue of [this.jobs, this.tasks]) this.#clients.push(await queue.backend.client)
    this.listen(this.jobs, this.errors.restored)
    this.listen(this.tasks, () => {
      this.errors.restored()
      reconnected()
    })
  }

  /** Closes the queues, by `deadline` (while Redis is away they cannot send QUIT). */
  async close (deadline: number): Promise<void> {
    for (const [queue, listener] of this.#listening) queue.backend.off('ready', listener)
    await Promise.all([this.jobs, this.tasks].map(queue =>
      untilDeadline(queue.close().catch(this.errors.listener('closing a queue failed')), deadline)))
    // During an outage BullMQ cannot send QUIT and its client would go on reconnecting: cut it.
    // An ioredis instance given as `connection` stays open: it is the caller's.
    if (!this.config.shared) for (const client of this.#clients) client.disconnect()
  }

  private listen (queue: Queue, listener: () => void): void {
    queue.backend.on('ready', listener)
    this.#listening.push([queue, listener])
  }
}
