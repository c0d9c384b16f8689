import { test } from 'tap'
import FakeTimers from '@sinonjs/fake-timers'
import { createContainer } from 'awilix'
import { buildApp } from './helpers/app'
import { gate, noUnhandledRejections, until, UUID } from './helpers/jobs'
import type { JobContext, JobStatus } from '../lib/types'

test('enqueue(fn, opts) and enqueue(name, data) resolve { id } and run like accepted jobs', async t => {
  noUnhandledRejections(t)
  const ran: Array<[string, unknown]> = []
  const { app } = await buildApp({ jobs: { 'report.build': ctx => { ran.push([ctx.name, ctx.data]) } } })
  t.teardown(() => app.close())
  await app.ready()
  const fn = await app.background.enqueue(ctx => { ran.push([ctx.name, ctx.data]) })
  const labelled = await app.background.enqueue(ctx => { ran.push([ctx.name, ctx.data]) }, { name: 'thumbs' })
  const named = await app.background.enqueue('report.build', { id: 3 })
  for (const result of [fn, labelled, named]) {
    t.same(Object.keys(result), ['id'])
    t.match(result.id, UUID)
  }
  await app.background.drain()
  t.same(ran, [['anonymous', undefined], ['thumbs', undefined], ['report.build', { id: 3 }]])
})

test('jobs enqueued before ready wait for onReady', async t => {
  const { app } = await buildApp()
  t.teardown(() => app.close())
  let ran = false
  const { id } = await app.background.enqueue(() => { ran = true })
  t.match(await app.background.status(id), { status: 'queued' })
  await new Promise(resolve => setTimeout(resolve, 10))
  t.notOk(ran, 'nothing runs before onReady')
  await app.ready()
  await app.background.drain()
  t.ok(ran)
})

test('enqueue rejects with the coded errors instead of answering', async t => {
  const { app } = await buildApp({ concurrency: 1, maxQueued: 1, jobs: { known: () => {} } })
  const preClosed = gate()
  app.addHook('preClose', async () => { preClosed.open() })
  await app.ready()
  const release = gate()
  await app.background.enqueue(() => release.promise)
  await app.background.enqueue(() => {})
  await t.rejects(app.background.enqueue(() => {}), { code: 'FST_BACKGROUND_QUEUE_FULL', statusCode: 503 })
  await t.rejects(app.background.enqueue('known'), { code: 'FST_BACKGROUND_QUEUE_FULL' })
  for (const name of ['nope', '__proto__', 'constructor', 'toString']) {
    await t.rejects(app.background.enqueue(name), { code: 'FST_BACKGROUND_UNKNOWN_JOB', statusCode: 500 }, name)
  }
  t.match(await app.background.stats(), { rejected: 2 }, 'unknown names are not counted as refusals')
  release.open()
  const closed = app.close()
  await preClosed.promise
  await t.rejects(app.background.enqueue(() => {}), { code: 'FST_BACKGROUND_CLOSING', statusCode: 503 })
  await closed
  await t.rejects(app.background.enqueue('known'), { code: 'FST_BACKGROUND_CLOSING' })
  t.same(await app.background.stats(), { queued: 0, running: 0, succeeded: 2, failed: 0, rejected: 4 })
})

test('status(id) goes queued → running → succeeded, with dates', async t => {
  const { app } = await buildApp({ concurrency: 1 })
  t.teardown(() => app.close())
  await app.ready()
  const first = gate()
  const started = gate()
  const before = Date.now()
  const a = await app.background.enqueue(async () => { started.open(); await first.promise }, { name: 'a' })
  const b = await app.background.enqueue(() => {}, { name: 'b' })
  const queued = await app.background.status(a.id) as JobStatus
  t.same(Object.keys(queued).sort(), ['enqueuedAt', 'id', 'name', 'status'])
  t.match(queued, { id: a.id, name: 'a', status: 'queued' })
  t.type(queued.enqueuedAt, Date)
  t.ok(queued.enqueuedAt.getTime() >= before)
  await started.promise
  const running = await app.background.status(a.id) as JobStatus
  t.match(running, { status: 'running', startedAt: Date })
  t.equal(running.finishedAt, undefined)
  t.match(await app.background.status(b.id), { status: 'queued' })
  t.same(await app.background.stats(), { queued: 1, running: 1, succeeded: 0, failed: 0, rejected: 0 })
  first.open()
  await app.background.drain()
  const done = await app.background.status(a.id) as JobStatus
  t.match(done, { status: 'succeeded', startedAt: Date, finishedAt: Date })
  t.equal(done.error, undefined)
  t.ok((done.finishedAt as Date) >= (done.startedAt as Date))
  t.ok((done.startedAt as Date) >= done.enqueuedAt)
  t.same(await app.background.stats(), { queued: 0, running: 0, succeeded: 2, failed: 0, rejected: 0 })
})

test('status() of an unknown id, or of something that is not a string, is undefined', async t => {
  const { app } = await buildApp()
  t.teardown(() => app.close())
  await app.ready()
  t.equal(await app.background.status('00000000-0000-4000-8000-000000000000'), undefined)
  t.equal(await app.background.status('__proto__'), undefined)
  t.equal(await app.background.status(42 as unknown as string), undefined)
  t.equal(await app.background.status(undefined as unknown as string), undefined)
})

test('drain() resolves at once when idle, and after every queued and running job otherwise', async t => {
  const { app } = await buildApp({ concurrency: 2 })
  t.teardown(() => app.close())
  await app.ready()
  await app.background.drain()
  let finished = 0
  for (let i = 0; i < 6; i++) {
    await app.background.enqueue(async () => {
      await new Promise(resolve => setTimeout(resolve, 5))
      finished++
    })
  }
  await Promise.all([app.background.drain(), app.background.drain()])
  t.equal(finished, 6)
})

test('container is the root container in use', async t => {
  const container = createContainer()
  const given = await buildApp({ container })
  t.equal(given.app.background.container, container)
  const made = await buildApp()
  t.type(made.app.background.container.createScope, 'function')
  t.not(made.app.background.container, container)
  await given.app.close()
  await made.app.close()
})

test('retention.max bounds the finished statuses kept; queued and running ones are always kept', async t => {
  const { app } = await buildApp({ concurrency: 4, retention: { max: 5 } })
  t.teardown(() => app.close())
  await app.ready()
  const blocked = gate()
  const running = await app.background.enqueue(() => blocked.promise)
  const ids: string[] = []
  for (let i = 0; i < 200; i++) ids.push((await app.background.enqueue(() => {})).id)
  await until(async () => (await app.background.stats()).succeeded === 200)
  const kept = []
  for (const id of ids) if (await app.background.status(id) !== undefined) kept.push(id)
  t.same(kept, ids.slice(-5), 'only the last 5 finished statuses are kept')
  t.match(await app.background.status(running.id), { status: 'running' })
  blocked.open()
  await app.background.drain()
})

test('retention.max: 0 keeps no finished status', async t => {
  const { app } = await buildApp({ retention: { max: 0 } })
  t.teardown(() => app.close())
  await app.ready()
  const { id } = await app.background.enqueue(() => {})
  await app.background.drain()
  t.equal(await app.background.status(id), undefined)
})

test('retention.ttl: a finished status is dropped once older than ttl', async t => {
  const clock = FakeTimers.install({ toFake: ['Date'] })
  t.teardown(() => clock.uninstall())
  const { app } = await buildApp({ retention: { ttl: 60_000 } })
  t.teardown(() => app.close())
  await app.ready()
  const older = await app.background.enqueue(() => {})
  await app.background.drain()
  clock.tick(30_000)
  const newer = await app.background.enqueue(() => {})
  await app.background.drain()
  clock.tick(29_999)
  t.match(await app.background.status(older.id), { status: 'succeeded' })
  clock.tick(2)
  t.equal(await app.background.status(older.id), undefined, 'older than ttl')
  t.match(await app.background.status(newer.id), { status: 'succeeded' })
  clock.tick(30_000)
  t.equal(await app.background.status(newer.id), undefined)
})

test('a long burst through the queue keeps order and finishes every job', async t => {
  noUnhandledRejections(t)
  const { app } = await buildApp({ concurrency: 3, maxQueued: 3000 })
  t.teardown(() => app.close())
  const order: number[] = []
  const handlers = Array.from({ length: 2500 }, (_, i) => (_ctx: JobContext) => { order.push(i) })
  for (const handler of handlers) await app.background.enqueue(handler)
  t.match(await app.background.stats(), { queued: 2500, running: 0 })
  await app.ready()
  await app.background.drain()
  t.equal(order.length, 2500)
  t.same(order, [...order].sort((a, b) => a - b), 'jobs start in the order they were queued')
  t.match(await app.background.stats(), { queued: 0, running: 0, succeeded: 2500 })
  // The queue still accepts and runs after its storage was compacted.
  const { id } = await app.background.enqueue(() => {})
  await app.background.drain()
  t.match(await app.background.status(id), { status: 'succeeded' })
})

test('two apps in one process share nothing: queues, statuses and stats are their own', async t => {
  const first = await buildApp({ concurrency: 1, maxQueued: 0 })
  const second = await buildApp({ concurrency: 1, maxQueued: 0 })
  t.teardown(() => Promise.all([first.app.close(), second.app.close()]))
  await first.app.ready()
  await second.app.ready()
  const release = gate()
  const { id } = await first.app.background.enqueue(() => release.promise)
  await t.rejects(first.app.background.enqueue(() => {}), { code: 'FST_BACKGROUND_QUEUE_FULL' })
  const other = await second.app.background.enqueue(() => {})
  t.equal(await second.app.background.status(id), undefined)
  t.equal(await first.app.background.status(other.id), undefined)
  await second.app.background.drain()
  t.match(await second.app.background.stats(), { succeeded: 1, rejected: 0 })
  release.open()
  await first.app.background.drain()
  t.match(await first.app.background.stats(), { succeeded: 1, rejected: 1 })
})
