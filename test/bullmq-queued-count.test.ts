// The fleet's queued count for maxQueued on the BullMQ backend: read from the store at most every
// FRESH_MS while below half the limit, on every enqueue from there on; concurrent enqueues share
// a read and see each other. Fake time (Date), so the windows are exact.
import FakeTimers from '@sinonjs/fake-timers'
import t from 'tap'
import { FRESH_MS, QueuedCount } from '../lib/backends/bullmq/queued-count'

/** A store whose count is `stored.count`, answering at once, or when `answer()` is called. */
function store (stored: { count: number }, held = false): { reads: number, answer: () => void, read: () => Promise<number> } {
  const pending: Array<() => void> = []
  const fake = {
    reads: 0,
    answer: () => { for (const resolve of pending.splice(0)) resolve() },
    read: async () => {
      fake.reads++
      if (held) await new Promise<void>(resolve => pending.push(resolve))
      return stored.count
    }
  }
  return fake
}

/** Updates, then admits one job if `limit` allows; answers the count it was judged on. */
async function enqueue (count: QueuedCount, limit: number): Promise<number> {
  await count.update()
  let judged = NaN
  try {
    count.admit(queued => {
      judged = queued
      if (queued >= limit) throw new Error('queue full')
    })
  } catch {}
  return judged
}

t.test('far from the limit, a count read serves FRESH_MS, with the jobs admitted here since', async t => {
  const clock = FakeTimers.install({ toFake: ['Date'] })
  t.teardown(() => clock.uninstall())
  const stored = { count: 10 }
  const fake = store(stored)
  const count = new QueuedCount(100, fake.read)
  t.equal(await enqueue(count, 100), 10)
  stored.count = 40 // other replicas' jobs, not seen until the next read
  clock.tick(FRESH_MS - 1)
  t.equal(await enqueue(count, 100), 11, 'the read, and the job admitted here')
  t.equal(fake.reads, 1)
  clock.tick(1)
  t.equal(await enqueue(count, 100), 40, 'read again once FRESH_MS old')
  t.equal(fake.reads, 2)
})

t.test('from half the limit on, every enqueue reads the count', async t => {
  const clock = FakeTimers.install({ toFake: ['Date'] })
  t.teardown(() => clock.uninstall())
  const stored = { count: 4 }
  const fake = store(stored)
  const count = new QueuedCount(10, fake.read)
  t.equal(await enqueue(count, 10), 4)
  stored.count = 5 // the job has reached the store
  t.equal(await enqueue(count, 10), 5, 'at half: read, though just read')
  stored.count = 2 // jobs taken meanwhile
  t.equal(await enqueue(count, 10), 2)
  t.equal(fake.reads, 3)
  t.equal(await enqueue(count, 10), 3, 'below half again: the read serves')
  t.equal(fake.reads, 3)
})

t.test('concurrent enqueues share one read, each judged with those admitted before it', async t => {
  const fake = store({ count: 0 }, true)
  const count = new QueuedCount(2, fake.read)
  const all = Promise.all([enqueue(count, 2), enqueue(count, 2), enqueue(count, 2)])
  fake.answer()
  t.same(await all, [0, 1, 2], 'the third finds the queue full')
  t.equal(fake.reads, 1)
})

t.test('a refused job is not counted in; a failed read rejects, and the next enqueue reads again', async t => {
  let fail = true
  const count = new QueuedCount(1, async () => {
    if (fail) throw new Error('connect ECONNREFUSED')
    return 1
  })
  await t.rejects(count.update(), /ECONNREFUSED/)
  fail = false
  t.equal(await enqueue(count, 1), 1)
  t.equal(await enqueue(count, 1), 1, 'the refused job left the count as it was')
})
