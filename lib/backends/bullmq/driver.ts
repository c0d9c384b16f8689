import type { BackendFactory, ConnectionOptions, Queue, Worker } from 'bullmq'
import type { StoreErrors } from './outage'
import type { FleetStore } from './store'

/**
 * How the backend reaches its store (Redis or PostgreSQL): the connections BullMQ's queues and
 * workers are given, the store beside each queue, and what connecting and closing take.
 */
export interface StoreDriver {
  /** The store's name, in the logs and messages. */
  readonly name: string
  /** The last argument of BullMQ's Queue and Worker constructors: its backend for the store (undefined: Redis). */
  readonly factory: BackendFactory | undefined
  readonly queueConnection: ConnectionOptions
  readonly workerConnection: ConnectionOptions
  /** BullMQ's key prefix, where the store has one. */
  readonly prefix: string | undefined
  storeOf: (queue: Queue) => FleetStore
  /** Asks the store something cheap: for a store that says nothing when it is back from an outage. */
  readonly probe: (() => Promise<unknown>) | undefined
  /** Before the queues are built (BullMQ starts connecting as it builds one). */
  open: () => Promise<void>
  /** Resolves once `queue` answers; `reconnected` runs each time it reconnects after a loss. */
  connect: (queue: Queue, errors: StoreErrors, reconnected?: () => void) => Promise<void>
  /** What a worker needs before BullMQ may close it. */
  closable: (worker: Worker) => Promise<void>
  /** After BullMQ's queues have closed: cuts what is still open of the driver's own. */
  close: () => Promise<void>
}
