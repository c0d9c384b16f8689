import { test } from 'tap'
import { LEVEL, linesWith } from './helpers/app'
import { gate, noUnhandledRejections, until } from './helpers/jobs'
import { closeTicking, fakeApp, guardUnhandled } from './helpers/tasks'
import { buildApp } from './helpers/app'
import type { JobContext, JobStatus } from '../lib/types'

// Job control on the in-process backend, with fake timers where time matters. The contract lines
// that hold on BullMQ too are tested there against Redis (test/bullmq-job-control.test.ts).

test('delay: the job is queued at once with its runAt, holds no slot, and starts once the delay has passed', async t => {
  guardUnhandled(t)
  const started: number[] = []
  const { app, clock } = await fakeApp(t, { concurrency: 1, jobs: { later: () => { started.push(Date.now()) }, now: () => {} } })
  await app.ready()
  const enqueuedAt = Date.now()
  const { id } = await app.background.enqueue('later', undefined, { delay: '2s' })
  t.match(await app.background.status(id), { status: 'queued', runAt: new Date(enqueuedAt + 2000) })
  t.match(await app.background.stats(), { queued: 1, running: 0 })
  const other = await app.background.enqueue('now')
  await clock.tickAsync(10)
  t.match(await app.background.status(other.id), { status: 'succeeded' }, 'a delayed job holds no slot')
  await clock.tickAsync(1980)
  t.same(started, [], 'not before its delay')
  await clock.tickAsync(10)
  t.same(started, [enqueuedAt + 2000])
  const status = await app.background.status(id) as JobStatus
  t.equal(status.status, 'succeeded')
  t.equal(status.runAt, undefined, 'runAt only while it waits')
})

test('runAt: a future date waits until then, a past one starts at once', async t => {
  guardUnhandled(t)
  const started: Array<[string, number]> = []
  const { app, clock } = await fakeApp(t, { jobs: { at: ctx => { started.push([ctx.data as string, Date.now()]) } } })
  await app.ready()
  const now = Date.now()
  await app.background.enqueue('at', 'future', { runAt: new Date(now + 60_000) })
  await app.background.enqueue('at', 'past', { runAt: new Date(now - 60_000) })
  await clock.tickAsync(10)
  t.same(started, [['past', now]])
  await clock.tickAsync(60_000)
  t.same(started, [['past', now], ['future', now + 60_000]])
})

test('priority: lower runs sooner, equal priorities in enqueue order; a retry keeps its place by priority', async t => {
  noUnhandledRejections(t)
  const order: string[] = []
  const release = gate()
  const { app } = await buildApp({ concurrency: 1, jobs: { work: ctx => { order.push(ctx.data as string) } } })
  t.teardown(() => app.close())
  await app.ready()
  await app.background.enqueue(() => release.promise, { name: 'blocker' })
  await until(async () => (await app.background.stats()).running === 1)
  for (const [data, priority] of [['p5', 5], ['p1a', 1], ['p1b', 1], ['p0', 0], ['default', undefined], ['max', 2_097_151]] as const) {
    await app.background.enqueue('work', data, priority === undefined ? {} : { priority })
  }
  release.open()
  await app.background.drain()
  t.same(order, ['p0', 'default', 'p1a', 'p1b', 'p5', 'max'])
})

test('key: while a job of that name and key is queued or running another answers it; once it ends the key is free', async t => {
  noUnhandledRejections(t)
  const release = gate()
  const { app } = await buildApp({ statusRoute: '/jobs/:id', jobs: { sync: () => release.promise, other: () => {} } })
  t.teardown(() => app.close())
  app.post('/sync', async (_request, reply) => reply.accepted('sync', { a: 1 }, { key: 'account-7' }))
  await app.ready()
  const first = await app.background.enqueue('sync', { a: 1 }, { key: 'account-7' })
  t.same(Object.keys(first), ['id'])
  const again = await app.background.enqueue('sync', { a: 2 }, { key: 'account-7' })
  t.same(again, { id: first.id, duplicate: true })
  const otherName = await app.background.enqueue('other', undefined, { key: 'account-7' })
  t.not(otherName.id, first.id, 'the key is per job name')
  const otherKey = await app.background.enqueue('sync', { a: 1 }, { key: 'account-8' })
  t.not(otherKey.id, first.id)
  await until(async () => (await app.background.status(first.id))?.status === 'running')
  const reply = await app.inject({ method: 'POST', url: '/sync' })
  t.equal(reply.statusCode, 202)
  t.same(reply.json(), { id: first.id, status: 'running', statusUrl: `/jobs/${first.id}` }, 'the 202 is that job’s, with its current status')
  t.equal(reply.headers.location, `/jobs/${first.id}`)
  release.open()
  await app.background.drain()
  const after = await app.background.enqueue('sync', { a: 1 }, { key: 'account-7' })
  t.not(after.id, first.id, 'a new job once the first has finished')
  t.equal(after.duplicate, undefined)
  await app.background.drain()
  t.match(await app.background.stats(), { succeeded: 4 })
})

test('bad enqueue options fail with FST_BACKGROUND_INVALID_OPTION naming the option; nothing is enqueued', async t => {
  noUnhandledRejections(t)
  const { app } = await buildApp({ jobs: { work: () => {} } })
  t.teardown(() => app.close())
  app.post('/', async (request, reply) => reply.accepted('work', {}, request.body as never))
  await app.ready()
  const cases: Array<[unknown, RegExp]> = [
    [{ delay: '1s', runAt: new Date() }, /opts\.runAt/],
    [{ delay: 'soon' }, /opts\.delay/],
    [{ delay: -1 }, /opts\.delay/],
    [{ runAt: 'tomorrow' }, /opts\.runAt/],
    [{ runAt: new Date('not a date') }, /opts\.runAt/],
    [{ priority: -1 }, /opts\.priority/],
    [{ priority: 1.5 }, /opts\.priority/],
    [{ priority: 2_097_152 }, /opts\.priority/],
    [{ priority: '1' }, /opts\.priority/],
    [{ key: '' }, /opts\.key/],
    [{ key: 'k'.repeat(201) }, /opts\.key/],
    [{ key: 7 }, /opts\.key/],
    [{ prority: 1 }, /opts\.prority/],
    ['fast', /opts/]
  ]
  for (const [opts, path] of cases) {
    await t.rejects(app.background.enqueue('work', {}, opts as never), { code: 'FST_BACKGROUND_INVALID_OPTION', statusCode: 500, message: path }, JSON.stringify(opts))
    await t.rejects(app.background.enqueue(() => {}, opts as never), { code: 'FST_BACKGROUND_INVALID_OPTION', message: path })
  }
  const reply = await app.inject({ method: 'POST', url: '/', payload: { priority: -1 } })
  t.equal(reply.statusCode, 500)
  t.match(reply.json(), { code: 'FST_BACKGROUND_INVALID_OPTION', message: /opts\.priority/ })
  t.same(await app.background.stats(), { queued: 0, running: 0, succeeded: 0, failed: 0, rejected: 0 }, 'nothing enqueued, nothing counted as a refusal')
  t.same(await app.background.list(), [])
})

test('progress and result: kept in the status after the job ends; what JSON cannot carry is refused or dropped', async t => {
  noUnhandledRejections(t)
  const refused: unknown[] = []
  const step = gate()
  const { app, lines } = await buildApp({
    jobs: {
      report: async ctx => {
        await ctx.progress(10)
        await ctx.progress({ step: 2, of: 3 })
        for (const bad of [NaN, Infinity, 'half', [1], { big: 10n }, null]) {
          await ctx.progress(bad as never).catch(error => refused.push(error))
        }
        await step.promise
        return { url: '/reports/1.pdf', at: new Date(0) }
      },
      odd: async () => ({ big: 10n })
    }
  })
  t.teardown(() => app.close())
  await app.ready()
  const { id } = await app.background.enqueue('report')
  t.equal((await app.background.status(id))?.attempt, undefined, 'no attempt before the first')
  await until(() => refused.length === 6)
  t.match(await app.background.status(id), { status: 'running', attempt: 1, progress: { step: 2, of: 3 } })
  for (const error of refused) t.match(error, { code: 'FST_BACKGROUND_INVALID_DATA' })
  step.open()
  const odd = await app.background.enqueue('odd')
  await app.background.drain()
  t.match(await app.background.status(id), { status: 'succeeded', progress: { step: 2, of: 3 }, result: { url: '/reports/1.pdf', at: '1970-01-01T00:00:00.000Z' } })
  const oddStatus = await app.background.status(odd.id) as JobStatus
  t.equal(oddStatus.status, 'succeeded', 'a result JSON cannot carry does not fail the job')
  t.equal(oddStatus.result, undefined)
  t.match(linesWith(lines, 'job result dropped', LEVEL.warn), [{ jobId: odd.id, problem: /BigInt/ }])
})

test('cancel: a queued, delayed or retry-waiting job never starts; a running one is aborted and not retried', async t => {
  noUnhandledRejections(t)
  const release = gate()
  const starts: string[] = []
  let signal: AbortSignal | undefined
  const settled = gate()
  const { app } = await buildApp({
    concurrency: 1,
    jobs: {
      blocker: () => release.promise,
      never: ctx => { starts.push(`never:${ctx.attempt}`) },
      flaky: { retries: 3, backoff: 60_000, handler: () => { starts.push('flaky'); throw new Error('no') } },
      long: {
        retries: 2,
        handler: (ctx: JobContext) => new Promise((_resolve, reject) => {
          signal = ctx.signal
          ctx.signal.addEventListener('abort', () => setTimeout(() => { settled.open(); reject(ctx.signal.reason) }, 20))
        })
      }
    }
  })
  t.teardown(() => app.close())
  await app.ready()
  const flaky = await app.background.enqueue('flaky')
  await until(async () => (await app.background.status(flaky.id))?.runAt !== undefined)
  t.equal(await app.background.cancel(flaky.id), true, 'waiting for its retry')
  await app.background.enqueue('blocker')
  const queued = await app.background.enqueue('never')
  const delayed = await app.background.enqueue('never', undefined, { delay: '1h' })
  t.equal(await app.background.cancel(queued.id), true)
  t.equal(await app.background.cancel(delayed.id), true)
  for (const job of [flaky, queued, delayed]) t.match(await app.background.status(job.id), { status: 'cancelled', error: /cancelled on request/ })
  t.equal(await app.background.cancel(queued.id), false, 'a finished job')
  t.equal(await app.background.cancel('no-such-job'), false)
  release.open()
  const long = await app.background.enqueue('long')
  await until(() => signal !== undefined)
  const cancelling = app.background.cancel(long.id)
  t.equal(await cancelling, true)
  t.ok(settled.promise, 'resolved after the handler settled')
  t.match(signal?.reason, { code: 'FST_BACKGROUND_CANCELLED' })
  const status = await app.background.status(long.id)
  t.match(status, { status: 'cancelled', attempt: 1 }, 'not retried')
  await app.background.drain()
  t.same(starts, ['flaky'], 'nothing cancelled while waiting ever started')
  t.match(await app.background.stats(), { queued: 0, running: 0, failed: 0 })
})

test('cancel: a running job whose handler ignores its signal is cancelled once the 1 s grace has passed', async t => {
  guardUnhandled(t)
  const { app, clock } = await fakeApp(t, { jobs: { stubborn: () => new Promise(resolve => setTimeout(resolve, 10_000)) } })
  await app.ready()
  const { id } = await app.background.enqueue('stubborn')
  await clock.tickAsync(1)
  let done = false
  const cancelling = app.background.cancel(id).then(result => { done = true; return result })
  await clock.tickAsync(999)
  t.equal(done, false)
  await clock.tickAsync(1)
  t.equal(await cancelling, true)
  t.match(await app.background.status(id), { status: 'cancelled' })
  await closeTicking(app, clock)
})

test('retry: a failed or cancelled job is queued again under its id, attempts from 1; others answer false', async t => {
  noUnhandledRejections(t)
  let fail = true
  const attempts: number[] = []
  const { app } = await buildApp({ jobs: { flaky: { retries: 1, backoff: 1, handler: ctx => { attempts.push(ctx.attempt); if (fail) throw new Error('down') } } } })
  t.teardown(() => app.close())
  await app.ready()
  const { id } = await app.background.enqueue('flaky', { n: 1 })
  await app.background.drain()
  t.match(await app.background.status(id), { status: 'failed', attempt: 2 })
  fail = false
  t.equal(await app.background.retry(id), true)
  t.match(await app.background.status(id), { status: 'queued' })
  await app.background.drain()
  t.same(attempts, [1, 2, 1], 'attempts counted from 1 again')
  t.match(await app.background.status(id), { id, status: 'succeeded', attempt: 1 })
  t.equal(await app.background.retry(id), false, 'a succeeded job')
  t.equal(await app.background.retry('no-such-job'), false)
  const later = await app.background.enqueue('flaky', { n: 2 }, { delay: '1h' })
  t.equal(await app.background.retry(later.id), false, 'a queued job')
  await app.background.cancel(later.id)
  t.equal(await app.background.retry(later.id), true, 'a cancelled job, at once')
  await app.background.drain()
  t.match(await app.background.status(later.id), { status: 'succeeded' })
  t.match(await app.background.stats(), { succeeded: 2, failed: 1 })
})

test('list: kept jobs newest first, by status, paged; a bad query names what is wrong', async t => {
  noUnhandledRejections(t)
  const { app } = await buildApp({ shutdownTimeout: 0, jobs: { ok: () => {}, bad: () => { throw new Error('x') } } })
  t.teardown(() => app.close())
  await app.ready()
  const ids: string[] = []
  for (const name of ['ok', 'bad', 'ok', 'bad', 'ok']) ids.push((await app.background.enqueue(name)).id)
  const held = await app.background.enqueue('ok', undefined, { delay: '1h' })
  await until(async () => (await app.background.stats()).queued === 1)
  t.same((await app.background.list()).map(job => job.id), [held.id, ...ids.slice().reverse()])
  t.same((await app.background.list({ status: 'failed' })).map(job => job.id), [ids[3], ids[1]])
  t.same((await app.background.list({ status: 'queued' })).map(job => job.id), [held.id])
  t.same((await app.background.list({ limit: 2, offset: 1 })).map(job => job.id), [ids[4], ids[3]])
  t.same(await app.background.list({ status: 'running' }), [])
  t.match((await app.background.list({ limit: 1 }))[0], { id: held.id, name: 'ok', status: 'queued', enqueuedAt: Date })
  const bad: Array<[unknown, RegExp]> = [
    [{ status: 'done' }, /query\.status/],
    [{ limit: 0 }, /query\.limit/],
    [{ limit: 1001 }, /query\.limit/],
    [{ offset: -1 }, /query\.offset/],
    [{ offset: 0.5 }, /query\.offset/],
    [{ page: 1 }, /query\.page/],
    ['failed', /query/]
  ]
  for (const [query, path] of bad) {
    await t.rejects(app.background.list(query as never), { code: 'FST_BACKGROUND_INVALID_OPTION', message: path }, JSON.stringify(query))
  }
})

test('delayed jobs start in the order of their runAt, whatever order they were enqueued in', async t => {
  guardUnhandled(t)
  const started: string[] = []
  const { app, clock } = await fakeApp(t, { jobs: { later: ctx => { started.push(ctx.data as string) } } })
  await app.ready()
  await app.background.enqueue('later', 'second', { delay: 2000 })
  await app.background.enqueue('later', 'third', { delay: 3000 })
  await app.background.enqueue('later', 'first', { delay: 1000 })
  await clock.tickAsync(1000)
  t.same(started, ['first'])
  await clock.tickAsync(2000)
  t.same(started, ['first', 'second', 'third'])
})

test('cancelling a delayed job that is not the next to start leaves the next one on time', async t => {
  guardUnhandled(t)
  const started: string[] = []
  const { app, clock } = await fakeApp(t, { jobs: { later: ctx => { started.push(ctx.data as string) } } })
  await app.ready()
  await app.background.enqueue('later', 'first', { delay: 1000 })
  const second = await app.background.enqueue('later', 'second', { delay: 2000 })
  t.equal(await app.background.cancel(second.id), true)
  await clock.tickAsync(1000)
  t.same(started, ['first'])
  await clock.tickAsync(5000)
  t.same(started, ['first'])
})
