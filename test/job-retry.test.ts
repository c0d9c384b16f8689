import { test } from 'tap'
import { asFunction, createContainer } from 'awilix'
import { LEVEL, linesWith } from './helpers/app'
import { fakeApp, guardUnhandled } from './helpers/tasks'

test('a job waiting for its retry backoff holds no concurrency slot: other jobs run meanwhile', async t => {
  guardUnhandled(t)
  const ran: string[] = []
  const { app, clock } = await fakeApp(t, {
    concurrency: 2,
    jobs: {
      flaky: { retries: 1, backoff: 3000, handler: ctx => { ran.push(`flaky#${ctx.attempt}`); if (ctx.attempt === 1) throw new Error('not yet') } },
      quick: () => { ran.push('quick') }
    }
  })
  await app.ready()
  const first = await app.background.enqueue('flaky')
  await app.background.enqueue('flaky')
  await clock.tickAsync(0)
  t.same(ran, ['flaky#1', 'flaky#1'])
  t.match(await app.background.status(first.id), { status: 'queued', startedAt: Date }, 'queued while it waits to retry')
  t.match(await app.background.stats(), { queued: 2, running: 0 }, 'both wait, neither runs')

  await app.background.enqueue('quick')
  await app.background.enqueue('quick')
  await clock.tickAsync(10)
  t.same(ran.slice(2), ['quick', 'quick'], 'jobs enqueued after them run at once, long before the 3 s backoff ends')

  await clock.tickAsync(2989)
  t.equal(ran.length, 4, 'no retry before its backoff')
  await clock.tickAsync(1)
  t.same(ran.slice(4), ['flaky#2', 'flaky#2'], 'each retries once its backoff has passed')
  await app.background.drain()
  t.same(await app.background.stats(), { queued: 0, running: 0, succeeded: 4, failed: 0, rejected: 0 })
})

test('jobs waiting to retry count towards maxQueued, as on BullMQ', async t => {
  guardUnhandled(t)
  const { app, clock } = await fakeApp(t, {
    concurrency: 1,
    maxQueued: 1,
    jobs: { flaky: { retries: 1, backoff: 1000, handler: ctx => { if (ctx.attempt === 1) throw new Error('not yet') } } }
  })
  await app.ready()
  await app.background.enqueue('flaky')
  await clock.tickAsync(0)
  t.match(await app.background.stats(), { queued: 1, running: 0 })
  // The slot is free, so one job may take it at once; the one after it would wait beyond maxQueued.
  await app.background.enqueue(() => new Promise(resolve => setTimeout(resolve, 5000)))
  await clock.tickAsync(0)
  await t.rejects(app.background.enqueue(() => {}), { code: 'FST_BACKGROUND_QUEUE_FULL' })
})

test('a job cancelled at close while its failed attempt disposes its scope ends cancelled, without a retry', async t => {
  guardUnhandled(t)
  const container = createContainer()
  container.register('slowToClose', asFunction(() => ({})).scoped().disposer(() => new Promise(resolve => setTimeout(resolve, 1000))))
  let attempts = 0
  const { app, lines, clock } = await fakeApp(t, {
    container,
    shutdownTimeout: 100,
    jobs: { flaky: { retries: 1, backoff: 3_600_000, handler: ctx => { attempts++; t.ok(ctx.cradle.slowToClose); throw new Error('x') } } }
  })
  await app.ready()
  const { id } = await app.background.enqueue('flaky')
  await clock.tickAsync(0)
  const seen = new Set<string | undefined>()
  const state = { closed: false }
  const closing = app.close().then(() => { state.closed = true })
  while (!state.closed) {
    seen.add((await app.background.status(id))?.status)
    await clock.tickAsync(10)
  }
  await closing
  t.match(await app.background.status(id), { status: 'cancelled', error: /shutdown timeout reached/ })
  t.notOk(seen.has('queued'), 'never back to queued')
  t.same(linesWith(lines, 'retrying', LEVEL.warn), [], 'no retry is announced')
  t.equal(attempts, 1)
})
