// The fleet's count of queued jobs, for `maxQueued`, without a round trip to the store per
// enqueue. The store is asked again when the count read last is older than FRESH_MS, and on every
// enqueue once it reaches half the limit: so a job is refused only on a count just read, and
// one admitted on a count up to FRESH_MS old had room for half the limit of other replicas'
// jobs meanwhile. Concurrent enqueues share one read, each counting those admitted since.

/** How long a count read from the store serves while far from the limit. */
export const FRESH_MS = 100

export class QueuedCount {
  #count = 0
  #readAt = -Infinity
  #reading: Promise<void> | undefined

  constructor (
    private readonly limit: number,
    /** Reads the count from the store. */
    private readonly read: () => Promise<number>
  ) {}

  /** Reads the count from the store, unless the last read still serves. */
  async update (): Promise<void> {
    if (this.#count * 2 < this.limit && Date.now() - this.#readAt < FRESH_MS) return
    this.#reading ??= this.refresh()
    await this.#reading
  }

  /**
   * Admits one more job by `check` (which throws to refuse it), on the count as it is at this
   * moment, and counts it in: synchronous, so enqueues that shared a read see each other.
   */
  admit (check: (queued: number) => void): void {
    check(this.#count)
    this.#count++
  }

  private async refresh (): Promise<void> {
    try {
      this.#count = await this.read()
      this.#readAt = Date.now()
    } finally {
      this.#reading = undefined
    }
  }
}
