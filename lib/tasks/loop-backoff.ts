/** The first restart of a loop that ended early waits this long, doubling up to LOOP_BACKOFF_MAX_MS. */
export const LOOP_BACKOFF_MIN_MS = 1000
export const LOOP_BACKOFF_MAX_MS = 60_000
/** A loop that ran this long before ending counts as healthy: its backoff starts over. */
export const LOOP_HEALTHY_MS = 60_000

/** The delays before restarting a `loop` task that threw or returned before close. */
export class LoopBackoff {
  #next = LOOP_BACKOFF_MIN_MS

  /** The delay before the next restart, given how long the run that just ended lasted. */
  after (ranMs: number): number {
    if (ranMs >= LOOP_HEALTHY_MS) this.#next = LOOP_BACKOFF_MIN_MS
    const delay = this.#next
    this.#next = Math.min(delay * 2, LOOP_BACKOFF_MAX_MS)
    return delay
  }
}
