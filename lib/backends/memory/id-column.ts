/** The length of a UUID, the id of every in-process job (see core/id.ts). */
const UUID_LENGTH = 36

/**
 * The ids of the job store's ring, one a slot, kept off the JavaScript heap: a UUID as its 36
 * one-byte characters in a byte array. Kept as strings, ten thousand ids were ten thousand young
 * objects a second for the scavenger to copy and promote (every finished status outlives a
 * scavenge), which cost more than the rest of the job. Any other id is kept as it is.
 */
export class IdColumn {
  #chars = new Uint8Array(0)
  /** Ids that are not 36 one-byte characters; none, in practice. */
  readonly #others: Array<string | undefined> = []

  /** `slots`: how many slots there will be at most; the bytes grow as slots are used. */
  constructor (private readonly slots: number) {}

  set (slot: number, id: string): void {
    const start = slot * UUID_LENGTH
    if (id.length === UUID_LENGTH) {
      if (start + UUID_LENGTH > this.#chars.length) this.grow(slot)
      const chars = this.#chars
      let all = 0
      for (let i = 0; i < UUID_LENGTH; i++) {
        const code = id.charCodeAt(i)
        all |= code
        chars[start + i] = code
      }
      if (all <= 0xff) return
    }
    this.#others[slot] = id
  }

  get (slot: number): string {
    const start = slot * UUID_LENGTH
    return this.#others[slot] ?? String.fromCharCode(...this.#chars.subarray(start, start + UUID_LENGTH))
  }

  /** The slot's job is no longer kept. */
  clear (slot: number): void {
    this.#others[slot] = undefined
  }

  private grow (slot: number): void {
    const bigger = new Uint8Array(Math.min(this.slots, Math.max(1024, 2 * (slot + 1))) * UUID_LENGTH)
    bigger.set(this.#chars)
    this.#chars = bigger
  }
}
