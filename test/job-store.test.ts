import t from 'tap'
import fc from 'fast-check'
import { JobStore } from '../lib/backends/memory/job-store'
import type { JobRecord } from '../lib/backends/memory/job-record'
import { newId } from '../lib/core/id'

// The in-process store indexes its jobs by id only when someone reads it. These tests hold it to
// what an index kept up to date at every step answers: a store read after every change.

const EVERYTHING = { limit: 1000, offset: 0 }
/** Within the ttl of every store here, the same for both stores of a pair. */
const FINISHED_AT = Date.now()

function record (id: string): JobRecord {
  return {
    id,
    name: 'job',
    status: 'queued',
    enqueuedAt: 1,
    startedAt: undefined,
    finishedAt: undefined,
    error: undefined,
    attempt: 0,
    progress: undefined,
    result: undefined,
    runAt: 0,
    logPlace: -1,
    request: { name: 'job', data: { id } }
  } as unknown as JobRecord
}

function finishIn (store: JobStore, job: JobRecord, failed: boolean): void {
  job.status = failed ? 'failed' : 'succeeded'
  job.startedAt = 2
  job.finishedAt = FINISHED_AT
  store.finish(job)
}

t.test('a store read now and then answers as one read after every change: adds, finishes, evictions, retries', async () => {
  const operation = fc.oneof(
    { arbitrary: fc.constant({ kind: 'add' as const }), weight: 4 },
    { arbitrary: fc.record({ kind: fc.constant('finish' as const), pick: fc.nat(), failed: fc.boolean() }), weight: 4 },
    { arbitrary: fc.record({ kind: fc.constant('retry' as const), pick: fc.nat() }), weight: 1 },
    { arbitrary: fc.constant({ kind: 'read' as const }), weight: 1 }
  )
  const settings = fc.record({ max: fc.integer({ min: 0, max: 4 }), maxPending: fc.integer({ min: 1, max: 6 }) })
  fc.assert(fc.property(settings, fc.array(operation, { maxLength: 200 }), ({ max, maxPending }, operations) => {
    const retention = { ttl: 3_600_000, max }
    const lazy = new JobStore(retention, maxPending)
    const eager = new JobStore(retention)
    // Each job once in each store (a record holds its store's place), under the same id.
    const active: Array<[JobRecord, JobRecord]> = []
    const finished: string[] = []
    let next = 0
    for (const op of operations) {
      if (op.kind === 'add') {
        const id = `job-${next++}`
        const pair: [JobRecord, JobRecord] = [record(id), record(id)]
        lazy.add(pair[0], false)
        eager.add(pair[1], false)
        active.push(pair)
      } else if (op.kind === 'finish' && active.length > 0) {
        const [mine, theirs] = active.splice(op.pick % active.length, 1)[0]
        finishIn(lazy, mine, op.failed)
        finishIn(eager, theirs, op.failed)
        finished.push(mine.id)
      } else if (op.kind === 'retry' && finished.length > 0) {
        const id = finished[op.pick % finished.length]
        const kept = eager.finished(id)
        t.same(lazy.finished(id), kept)
        if (kept !== undefined) {
          finished.splice(finished.indexOf(id), 1)
          const pair: [JobRecord, JobRecord] = [record(id), record(id)]
          lazy.add(pair[0], true)
          eager.add(pair[1], true)
          active.push(pair)
        }
      } else if (op.kind === 'read') {
        t.same(lazy.list(EVERYTHING), eager.list(EVERYTHING))
      }
      // The eager store is read after every change.
      eager.list(EVERYTHING)
    }
    t.same(lazy.list(EVERYTHING), eager.list(EVERYTHING))
    for (let n = 0; n < next; n++) {
      const id = `job-${n}`
      t.same(lazy.get(id), eager.get(id), id)
      t.same(lazy.detail(id), eager.detail(id), id)
      t.equal(lazy.active(id)?.id, eager.active(id)?.id, id)
    }
  }), { numRuns: 300 })
})

t.test('an index nobody reads stays bounded: jobs evicted before any read leave the log unindexed', async t => {
  const store = new JobStore({ ttl: 3_600_000, max: 10 }, 40)
  const first = record('first')
  store.add(first, false)
  for (let n = 0; n < 1000; n++) {
    const job = record(`job-${n}`)
    store.add(job, false)
    finishIn(store, job, false)
  }
  // The first job still runs: it is found, with the last ten finished ones, and nothing else.
  t.equal(store.active('first'), first)
  t.equal(store.list(EVERYTHING).length, 11)
  t.equal(store.get('job-989'), undefined)
  t.match(store.get('job-999'), { id: 'job-999', status: 'succeeded' })
})

t.test('a finished job keeps its id, a UUID (kept as bytes) or any other string', async t => {
  const ids = [newId(), newId(), 'short', `${'é'.repeat(35)}x`, `${'ж'.repeat(35)}x`]
  const store = new JobStore({ ttl: 3_600_000, max: 3000 }, 5)
  // Enough jobs for the bytes to grow more than once.
  for (let n = 0; n < 2500; n++) ids.push(newId())
  for (const id of ids) {
    const job = record(id)
    store.add(job, false)
    finishIn(store, job, false)
  }
  t.same(store.list({ limit: 5000, offset: 0 }).map(status => status.id), ids.slice(-3000).reverse())
  for (const id of ids.slice(0, 5)) t.match(store.get(id), { id, status: 'succeeded' }, id)
})
