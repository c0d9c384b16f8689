import { randomUUID } from 'node:crypto'
import type { StoreErrors } from './outage'
import type { FleetStore } from './store'

// The per-task lock that makes `overlap: 'skip'` hold across replicas: a run of a task starts
// only while no replica holds its lock.

export interface Lock {
  release: () => Promise<void>
}

export class OverlapLocks {
  constructor (
    private readonly store: FleetStore,
    /** How long a lock outlives a replica that died holding it. */
    private readonly lockMs: number,
    private readonly errors: StoreErrors
  ) {}

  /** The lock of `task`, or undefined while a run of it holds the lock somewhere in the fleet. */
  async acquire (task: string): Promise<Lock | undefined> {
    const token = randomUUID()
    if (!await this.store.acquireLock(task, token, this.lockMs)) return undefined
    // Refreshed while the run lasts; if this replica dies, the lock expires within lockMs.
    const timer = setInterval(() => {
      this.store.refreshLock(task, token, this.lockMs)
        .catch(error => this.errors.report(error, 'task overlap lock could not be refreshed', { task }))
    }, Math.ceil(this.lockMs / 3))
    timer.unref()
    return {
      release: async () => {
        clearInterval(timer)
        await this.store.releaseLock(task, token)
          .catch(error => this.errors.report(error, 'task overlap lock could not be released', { task }))
      }
    }
  }
}
