import t from 'tap'
import { IdempotencyKeys } from '../lib/backends/memory/idempotency-keys'
import { JobStore } from '../lib/backends/memory/job-store'
import { installClock } from './helpers/tasks'

// The in-process claims alone: what a claim holds before its job exists, and once its status is gone.

t.test('a claim whose job is not enqueued yet holds for ttl, so a request racing the first gets its answer', async t => {
  const clock = installClock()
  t.teardown(() => clock.uninstall())
  const keys = new IdempotencyKeys(new JobStore({ ttl: 60_000, max: 10 }))
  const first = { id: 'job-1', fingerprint: 'f' }
  t.equal(keys.claim('charge', 'k', first, 1000), undefined, 'the first claim takes the key')
  t.same(keys.claim('charge', 'k', { id: 'job-2', fingerprint: 'f' }, 1000), first, 'a racing claim is answered the first')
  clock.tick(1000)
  t.equal(keys.claim('charge', 'k', { id: 'job-3', fingerprint: 'f' }, 1000), undefined, 'a claim whose job never came lapses after ttl')
  keys.release('charge', 'k')
  t.equal(keys.claim('charge', 'k', first, 1000), undefined, 'released, the key is free')
})
