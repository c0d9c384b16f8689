import type { IdempotencyRecord } from '../../core/model'
import type { JobStore } from './job-store'

interface Claim {
  readonly record: IdempotencyRecord
  readonly claimedAt: number
  readonly ttlMs: number
}

/**
 * The idempotency keys of this process: each remembers the job its first request made while
 * that job is queued or running, and for `ttlMs` after it finished. Claims are checked and made
 * in one synchronous step, so two requests racing on one key make one job.
 */
export class IdempotencyKeys {
  /** In the order they were claimed, so expired claims are found at the front. */
  readonly #claims = new Map<string, Claim>()

  constructor (private readonly store: JobStore) {}

  claim (scope: string, key: string, record: IdempotencyRecord, ttlMs: number): IdempotencyRecord | undefined {
    this.prune()
    const name = `${scope}\n${key}`
    const held = this.#claims.get(name)
    if (held !== undefined && this.holds(held)) return held.record
    this.#claims.delete(name)
    this.#claims.set(name, { record, claimedAt: Date.now(), ttlMs })
    return undefined
  }

  release (scope: string, key: string): void {
    this.#claims.delete(`${scope}\n${key}`)
  }

  /** Drops the claims that have lapsed, oldest first, up to the first that holds. */
  private prune (): void {
    for (const [name, claim] of this.#claims) {
      if (this.holds(claim)) return
      this.#claims.delete(name)
    }
  }

  /**
   * A claim holds while its job is queued or running, and `ttlMs` after it finished; a job not
   * known (not yet enqueued, or no longer kept) holds it `ttlMs` after the claim.
   */
  private holds (claim: Claim): boolean {
    const id = claim.record.id
    if (this.store.active(id) !== undefined) return true
    const since = this.store.finished(id)?.finishedAt ?? claim.claimedAt
    return Date.now() < since + claim.ttlMs
  }
}
