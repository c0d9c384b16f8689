import { createHash } from 'node:crypto'
import { IdempotencyInProgressError, IdempotencyMismatchError, InvalidIdempotencyKeyError } from '../core/errors'
import type { Enqueued, IdempotencyRecord, IdempotencySettings, JobBackend, JobRequest } from '../core/model'
import { newId } from '../core/id'
import { sleep } from '../core/timers'

const MAX_KEY_LENGTH = 255

/** How often, and for how long at most, a repeat looks again at a claim whose job is not made yet. */
export const CLAIM_POLL_MS = 10
export const CLAIM_WAIT_MS = 1000

/**
 * Enqueues `request` at most once per `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header):
 * the first request claims the key for the job it makes; a repeat with the same data answers
 * that job; the same key with other data is refused (422), a malformed key too (400).
 */
export async function enqueueOnce (
  backend: JobBackend,
  settings: IdempotencySettings,
  header: string | string[] | undefined,
  request: JobRequest
): Promise<Enqueued> {
  if (header === undefined) return await backend.enqueue(request)
  // Node joins a header sent twice into one value (set-cookie aside): the key is a string.
  const key = String(header)
  if (key.length === 0 || key.length > MAX_KEY_LENGTH) throw new InvalidIdempotencyKeyError(settings.header)
  // Function jobs carry no data to compare: the key alone decides.
  const mine: IdempotencyRecord = { id: newId(), fingerprint: request.named ? fingerprintOf(request.data) : '' }
  let answer = await claimOrAnswer(backend, settings, key, request, mine)
  // Undefined: the first request claimed the key and is enqueueing its job this moment, or was
  // refused and gives the key up. Look again, so a repeat never answers a job that never was.
  for (let waited = 0; answer === undefined && waited < CLAIM_WAIT_MS; waited += CLAIM_POLL_MS) {
    await sleep(CLAIM_POLL_MS)
    answer = await claimOrAnswer(backend, settings, key, request, mine)
  }
  if (answer === undefined) throw new IdempotencyInProgressError()
  return answer
}

/** The job this request makes when it claims the key, else the first request's job once it exists. */
async function claimOrAnswer (
  backend: JobBackend,
  settings: IdempotencySettings,
  key: string,
  request: JobRequest,
  mine: IdempotencyRecord
): Promise<Enqueued | undefined> {
  const first = await backend.claim(request.name, key, mine, settings.ttl)
  if (first === undefined) return await enqueueClaimed(backend, request, key, mine.id)
  if (first.fingerprint !== mine.fingerprint) throw new IdempotencyMismatchError()
  const status = await backend.status(first.id)
  return status === undefined ? undefined : { id: first.id, duplicate: true, status: status.status }
}

/** Enqueues the job of the claim just made; a refusal gives the key up, so a retry may make the job. */
async function enqueueClaimed (backend: JobBackend, request: JobRequest, key: string, id: string): Promise<Enqueued> {
  try {
    return await backend.enqueue({ ...request, id })
  } catch (error) {
    await backend.release(request.name, key)
    throw error
  }
}

/** The same data as JSON gives the same fingerprint. */
function fingerprintOf (data: unknown): string {
  return createHash('sha256').update(JSON.stringify(data) ?? 'undefined').digest('base64url')
}
