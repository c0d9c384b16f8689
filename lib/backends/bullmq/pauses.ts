import type { Queue } from 'bullmq'

/**
 * The fleet-wide pauses of timed tasks, kept in Redis (a hash of task name → when it was paused,
 * beside the tasks queue), so that a pause outlasts a replica's reconnect and restart, and any
 * replica may lift it.
 */
export class FleetPauses {
  readonly #key: string

  constructor (private readonly queue: Queue) {
    this.#key = queue.toKey('paused-tasks')
  }

  async pause (task: string): Promise<void> {
    await (await this.queue.backend.client).hset(this.#key, { [task]: Date.now() })
  }

  async resume (task: string): Promise<void> {
    await (await this.queue.backend.client).hdel(this.#key, task)
  }

  /** The names of every task paused fleet-wide. */
  async all (): Promise<Set<string>> {
    return new Set(Object.keys(await (await this.queue.backend.client).hgetall(this.#key)))
  }

  async isPaused (task: string): Promise<boolean> {
    return await (await this.queue.backend.client).hexists(this.#key, task) === 1
  }
}
