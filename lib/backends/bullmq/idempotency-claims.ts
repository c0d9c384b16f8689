import type { Queue } from 'bullmq'
import type { IdempotencyRecord } from '../../core/model'
import { clientWith } from './scripts'

// Idempotency keys in Redis, so a retry that reaches another replica gets the same answer, and
// two replicas racing on one key make one job (the claim is one SET NX). A claim is kept while its
// job is queued or running (CLAIM_WAIT_MS at the most) and `ttl` after the job ended: the replica
// that ends the job sets that expiry then, through a second key from the job to its claim.

/** How long a claim holds before its job ends: a job queued longer than this may be made twice. */
const CLAIM_WAIT_MS = 7 * 24 * 3_600_000

const CLAIM_LUA = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[3]) then
  redis.call('SET', KEYS[2], KEYS[1], 'PX', ARGV[3])
  return false
end
return redis.call('GET', KEYS[1])`

const SETTLE_LUA = `
local claim = redis.call('GET', KEYS[1])
if not claim then return 0 end
redis.call('PEXPIRE', claim, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`

const SCRIPTS = {
  fbgClaim: { keys: 2, lua: CLAIM_LUA },
  fbgClaimSettle: { keys: 1, lua: SETTLE_LUA }
}

export class IdempotencyClaims {
  constructor (private readonly queue: Queue) {}

  async claim (scope: string, key: string, record: IdempotencyRecord, ttlMs: number): Promise<IdempotencyRecord | undefined> {
    const keys = [this.claimKey(scope, key), this.ofJob(record.id)]
    const held: string | null = await (await clientWith(this.queue, SCRIPTS)).runCommand('fbgClaim', [...keys, JSON.stringify(record), record.id, ttlMs + CLAIM_WAIT_MS])
    return held === null ? undefined : JSON.parse(held)
  }

  async release (scope: string, key: string): Promise<void> {
    const client = await this.queue.backend.client
    await client.del(this.claimKey(scope, key))
  }

  /** The job `id` ended: its claim, if it has one, is kept `ttlMs` from now. */
  async settle (id: string, ttlMs: number): Promise<void> {
    await (await clientWith(this.queue, SCRIPTS)).runCommand('fbgClaimSettle', [this.ofJob(id), ttlMs])
  }

  private claimKey (scope: string, key: string): string {
    return this.queue.toKey(`idempotency:${JSON.stringify([scope, key])}`)
  }

  private ofJob (id: string): string {
    return this.queue.toKey(`idempotency-of:${id}`)
  }
}
