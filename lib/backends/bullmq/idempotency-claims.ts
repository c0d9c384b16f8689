import type { IdempotencyRecord } from '../../core/model'
import type { FleetStore } from './store'

// Idempotency keys in the store, so a retry that reaches another replica gets the same answer,
// and two replicas racing on one key make one job (the claim is one atomic step). A claim is kept
// while its job is queued or running (CLAIM_WAIT_MS at the most) and `ttl` after the job ended:
// the replica that ends the job sets that expiry then, through the link from the job to its claim.

/** How long a claim holds before its job ends: a job queued longer than this may be made twice. */
const CLAIM_WAIT_MS = 7 * 24 * 3_600_000

export class IdempotencyClaims {
  constructor (private readonly store: FleetStore) {}

  async claim (scope: string, key: string, record: IdempotencyRecord, ttlMs: number): Promise<IdempotencyRecord | undefined> {
    const held = await this.store.claim(claimOf(scope, key), record.id, JSON.stringify(record), ttlMs + CLAIM_WAIT_MS)
    return held === null ? undefined : JSON.parse(held)
  }

  release (scope: string, key: string): Promise<void> {
    return this.store.releaseClaim(claimOf(scope, key))
  }

  /** The job `id` ended: its claim, if it has one, is kept `ttlMs` from now. */
  settle (id: string, ttlMs: number): Promise<void> {
    return this.store.settleClaim(id, ttlMs)
  }
}

function claimOf (scope: string, key: string): string {
  return JSON.stringify([scope, key])
}
