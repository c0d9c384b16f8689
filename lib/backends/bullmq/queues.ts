import { Queue } from 'bullmq'
import { untilDeadline } from '../../core/shutdown'
import { cronStrategy } from './cron-strategy'
import type { StoreDriver } from './driver'
import type { StoreErrors } from './outage'

/**
 * This replica's two queues: named jobs in `<queueName>`, timed tasks' schedulers and runs in
 * `<queueName>.tasks`, on the driver's store.
 */
export class Queues {
  readonly jobs: Queue
  readonly tasks: Queue

  constructor (private readonly driver: StoreDriver, queueName: string, private readonly errors: StoreErrors) {
    const { queueConnection: connection, prefix, factory } = driver
    this.jobs = new Queue(queueName, { connection, prefix }, factory as undefined)
    this.tasks = new Queue(`${queueName}.tasks`, { connection, prefix, settings: { repeatStrategy: cronStrategy() } }, factory as undefined)
    this.jobs.on('error', errors.listener('the jobs queue failed'))
    this.tasks.on('error', errors.listener('the tasks queue failed'))
  }

  /** Connects; on each reconnection of the tasks queue, `reconnected` runs. */
  async connect (reconnected: () => void): Promise<void> {
    await this.driver.connect(this.jobs, this.errors)
    await this.driver.connect(this.tasks, this.errors, reconnected)
  }

  /** Closes the queues, by `deadline` (while the store is away they cannot close cleanly). */
  async close (deadline: number): Promise<void> {
    await Promise.all([this.jobs, this.tasks].map(queue =>
      untilDeadline(queue.close().catch(this.errors.listener('closing a queue failed')), deadline)))
    await this.driver.close()
  }
}
