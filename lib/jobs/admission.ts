import { ClosingError, QueueFullError } from '../core/errors'
import type { RefusalReason } from '../core/model'

/**
 * Whether a new job may be queued: the one rule both backends apply, so they cannot drift. A
 * closing app refuses with FST_BACKGROUND_CLOSING, a full queue with FST_BACKGROUND_QUEUE_FULL;
 * each refusal is counted (`stats().rejected`) through `onRefused`, which a backend keeps where
 * its stats live (in this process, or in the shared store).
 */
export class Admission {
  #closing = false

  constructor (
    private readonly maxQueued: number,
    private readonly onRefused: (reason: RefusalReason) => void
  ) {}

  /** preClose: every job asked for from now on is refused. */
  close (): void {
    this.#closing = true
  }

  /** Throws FST_BACKGROUND_CLOSING once the app is closing. */
  assertOpen (): void {
    if (this.#closing) throw this.refuse(new ClosingError(), 'closing')
  }

  /**
   * Throws FST_BACKGROUND_QUEUE_FULL when `queued` jobs wait already: every job not yet running
   * counts (delayed, or waiting for a retry, included), less `freeSlots` that a new job would
   * take at once.
   */
  assertRoom (queued: number, freeSlots = 0): void {
    if (queued >= this.maxQueued + freeSlots) throw this.refuse(new QueueFullError(queued), 'queue_full')
  }

  /** Both checks, for a backend that knows its count at once. */
  admit (queued: number, freeSlots = 0): void {
    this.assertOpen()
    this.assertRoom(queued, freeSlots)
  }

  private refuse (error: Error, reason: RefusalReason): Error {
    this.onRefused(reason)
    return error
  }
}
