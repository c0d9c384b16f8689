// Job control on the BullMQ backend, against a real Redis, then a real PostgreSQL, with two replicas where the contract
// says "from any replica": each line of "Job control" in API.md that the in-process tests
// (job-control.test.ts, idempotency.test.ts) check on one process.
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import type { FastifyBackgroundOptions, JobContext, JobStatus } from '../lib/types'
import { LEVEL, linesWith, type LogLine } from './helpers/app'
import { Redis } from 'ioredis'
import { buildBullApp, forget, REDIS_URL, uniquePrefix, until, useStore } from './helpers/redis'
import { STORES } from './helpers/stores'

interface Fleet {
  a: FastifyInstance
  b: FastifyInstance
  linesA: LogLine[]
  linesB: LogLine[]
}

/** Two replicas on one prefix, both ready; closed (and their keys deleted) at the end of the test. */
async function fleet (t: Test, options: FastifyBackgroundOptions, routes: (app: FastifyInstance) => void = () => {}): Promise<Fleet> {
  const prefix = uniquePrefix()
  t.teardown(() => forget(prefix))
  const [a, b] = await Promise.all([buildBullApp(prefix, options), buildBullApp(prefix, options)])
  t.teardown(async () => { await Promise.all([a.app.close(), b.app.close()]) })
  routes(a.app)
  routes(b.app)
  await Promise.all([a.app.ready(), b.app.ready()])
  return { a: a.app, b: b.app, linesA: a.lines, linesB: b.lines }
}

async function statusOf (app: FastifyInstance, id: string): Promise<JobStatus> {
  return await app.background.status(id) as JobStatus
}

for (const store of STORES) {
  t.test(store.name, { skip: store.skip }, async t => {
    useStore(store)

    t.test('delay and runAt: queued now with its runAt, started once it has come, on any replica', async t => {
      const started: Array<[string, number]> = []
      const { a, b } = await fleet(t, { jobs: { later: ctx => { started.push([ctx.data as string, Date.now()]) } } })
      const before = Date.now()
      const delayed = await a.background.enqueue('later', 'delay', { delay: 400 })
      const at = await a.background.enqueue('later', 'runAt', { runAt: new Date(before + 600) })
      const seen = await statusOf(b, delayed.id)
      t.equal(seen.status, 'queued')
      t.ok(seen.runAt !== undefined && seen.runAt.getTime() >= before + 400 && seen.runAt.getTime() < before + 1400, 'runAt, read on the other replica')
      t.match(await b.background.stats(), { queued: 2 }, 'delayed jobs count as queued')
      await a.background.enqueue('later', 'past', { runAt: new Date(before - 60_000) })
      await until(() => started.length === 3, 10_000, 'three starts')
      await a.background.drain()
      const startOf = (data: string): number => (started.find(([d]) => d === data) as [string, number])[1]
      t.ok(startOf('past') < before + 400, 'a past runAt starts at once')
      t.ok(startOf('delay') >= before + 400, 'not before its delay')
      t.ok(startOf('runAt') >= before + 600, 'not before its runAt')
      t.match(await statusOf(b, at.id), { status: 'succeeded' })
    })

    t.test('priority: lower first, equal priorities in enqueue order', async t => {
      const order: string[] = []
      const prefix = uniquePrefix()
      t.teardown(() => forget(prefix))
      // One replica, one slot, created stopped, so the whole batch is in Redis before any job runs.
      const { app } = await buildBullApp(prefix, { concurrency: 1, jobs: { work: ctx => { order.push(ctx.data as string) } } })
      t.teardown(() => app.close())
      for (const [data, priority] of [['p5', 5], ['p1a', 1], ['p1b', 1], ['p0', 0], ['max', 2_097_151]] as const) {
        await app.background.enqueue('work', data, { priority })
      }
      await app.ready()
      await app.background.drain()
      t.same(order, ['p0', 'p1a', 'p1b', 'p5', 'max'])
    })

    t.test('key: a second enqueue on another replica answers the queued or running job; once it ended the key is free', async t => {
      let release!: () => void
      const held = new Promise<void>(resolve => { release = resolve })
      const { a, b } = await fleet(t, { statusRoute: '/jobs/:id', jobs: { sync: () => held } },
        app => app.post('/sync', async (_request, reply) => reply.accepted('sync', {}, { key: 'account-7' })))
      const first = await a.background.enqueue('sync', {}, { key: 'account-7' })
      t.same(await b.background.enqueue('sync', {}, { key: 'account-7' }), { id: first.id, duplicate: true })
      const reply = await b.inject({ method: 'POST', url: '/sync' })
      t.equal(reply.statusCode, 202)
      t.equal(reply.json().id, first.id)
      t.equal(reply.headers.location, `/jobs/${first.id}`)
      t.not((await a.background.enqueue('sync', {}, { key: 'account-8' })).id, first.id)
      release()
      await a.background.drain()
      const after = await b.background.enqueue('sync', {}, { key: 'account-7' })
      t.not(after.id, first.id)
      t.equal(after.duplicate, undefined)
    })

    t.test('bad enqueue options are refused before Redis is asked; nothing is enqueued', async t => {
      const { a } = await fleet(t, { jobs: { work: () => {} } })
      await t.rejects(a.background.enqueue('work', {}, { delay: '1s', runAt: new Date() }), { code: 'FST_BACKGROUND_INVALID_OPTION', message: /opts\.runAt/ })
      await t.rejects(a.background.enqueue('work', {}, { priority: 2_097_152 }), { code: 'FST_BACKGROUND_INVALID_OPTION', message: /opts\.priority/ })
      await t.rejects(a.background.enqueue('work', {}, { key: '' }), { code: 'FST_BACKGROUND_INVALID_OPTION', message: /opts\.key/ })
      t.match(await a.background.stats(), { queued: 0, rejected: 0 })
    })

    t.test('progress, result and attempt are read from another replica; a result JSON cannot carry is dropped', async t => {
      let proceed!: () => void
      const step = new Promise<void>(resolve => { proceed = resolve })
      const { a, b, linesA, linesB } = await fleet(t, {
        statusRoute: '/jobs/:id',
        jobs: {
          report: {
            exposeResult: true,
            retries: 1,
            backoff: 10,
            handler: async (ctx: JobContext) => {
              if (ctx.attempt === 1) throw new Error('first try fails')
              await ctx.progress({ page: 3 })
              await step
              return { url: '/r/1.pdf' }
            }
          },
          odd: async () => ({ big: 10n }),
          hidden: async () => ({ token: 'secret' })
        }
      })
      const { id } = await a.background.enqueue('report')
      await until(async () => (await statusOf(b, id)).progress !== undefined, 10_000, 'progress')
      t.match(await statusOf(b, id), { status: 'running', attempt: 2, progress: { page: 3 } })
      const route = await b.inject(`/jobs/${id}`)
      t.equal(route.headers['retry-after'], '1')
      t.match(route.json(), { progress: { page: 3 } })
      proceed()
      const odd = await a.background.enqueue('odd')
      const hidden = await a.background.enqueue('hidden')
      await a.background.drain()
      t.match(await statusOf(b, id), { status: 'succeeded', attempt: 2, progress: { page: 3 }, result: { url: '/r/1.pdf' } })
      t.same((await b.inject(`/jobs/${id}`)).json().result, { url: '/r/1.pdf' })
      t.notOk('result' in (await b.inject(`/jobs/${hidden.id}`)).json(), 'shown only with exposeResult')
      const oddStatus = await statusOf(b, odd.id)
      t.equal(oddStatus.status, 'succeeded')
      t.equal(oddStatus.result, undefined)
      t.equal(linesWith([...linesA, ...linesB], 'job result dropped', LEVEL.warn).length, 1)
    })

    t.test('cancel from another replica: a queued or delayed job never starts; a running one aborts within a second', async t => {
      const started: string[] = []
      let aborted: unknown
      const { a, b } = await fleet(t, {
        concurrency: 1,
        jobs: {
          long: {
            retries: 3,
            handler: (ctx: JobContext) => new Promise((_resolve, reject) => {
              started.push(`long:${ctx.attempt}`)
              ctx.signal.addEventListener('abort', () => { aborted = ctx.signal.reason; reject(ctx.signal.reason) })
            })
          },
          never: () => { started.push('never') }
        }
      })
      const delayed = await a.background.enqueue('never', undefined, { delay: '1h' })
      t.equal(await b.background.cancel(delayed.id), true, 'a delayed job')
      t.match(await statusOf(a, delayed.id), { status: 'cancelled' })
      // Both replicas busy (one slot each), so that the next job stays queued.
      const running = await a.background.enqueue('long')
      const other = await a.background.enqueue('long')
      await until(() => started.length === 2, 10_000, 'the long jobs to start')
      const queued = await a.background.enqueue('never')
      t.equal(await b.background.cancel(queued.id), true, 'a queued job')
      const cancelledAt = Date.now()
      t.equal(await b.background.cancel(running.id), true, 'a running job, cancelled from the replica that does not run it')
      t.ok(Date.now() - cancelledAt < 2500, 'resolved once the handler settled')
      t.match(aborted, { code: 'FST_BACKGROUND_CANCELLED' })
      for (const app of [a, b]) {
        for (const [what, job] of Object.entries({ delayed, queued, running })) t.match(await statusOf(app, job.id), { status: 'cancelled' }, what)
      }
      t.equal(await a.background.cancel(running.id), false, 'a finished job')
      t.equal(await a.background.cancel('no-such-job'), false)
      t.equal(await a.background.cancel(other.id), true)
      await a.background.drain()
      t.same(started, ['long:1', 'long:1'], 'never retried, and the cancelled queued jobs never started')
    })

    t.test('cancel aborts that job only: another running on the same replica goes on', async t => {
      const ended: string[] = []
      let started = 0
      let release!: () => void
      const held = new Promise<void>(resolve => { release = resolve })
      const { a, b } = await fleet(t, {
        jobs: {
          work: (ctx: JobContext) => new Promise<void>((resolve, reject) => {
            started++
            ctx.signal.addEventListener('abort', () => { ended.push(`${ctx.data as string}:aborted`); reject(ctx.signal.reason) })
            held.then(() => {
              if (ctx.signal.aborted) return
              ended.push(`${ctx.data as string}:done`)
              resolve()
            }, reject)
          })
        }
      })
      const doomed = await a.background.enqueue('work', 'doomed')
      const kept = await a.background.enqueue('work', 'kept')
      // BullMQ reads a job active a moment before the handler runs: a cancel then drops it unstarted.
      await until(() => started === 2, 10_000, 'both handlers running')
      t.equal(await b.background.cancel(doomed.id), true)
      t.match(await statusOf(b, kept.id), { status: 'running' })
      release()
      await a.background.drain()
      t.same(ended, ['doomed:aborted', 'kept:done'])
      t.match(await statusOf(b, kept.id), { status: 'succeeded' })
    })

    t.test('with no status kept, cancelling a running job still answers true', async t => {
      let started = false
      const { a, b } = await fleet(t, {
        retention: { max: 0 },
        jobs: { long: (ctx: JobContext) => new Promise((_resolve, reject) => { started = true; ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)) }) }
      })
      const { id } = await a.background.enqueue('long')
      await until(() => started, 10_000, 'the job to start')
      t.equal(await b.background.cancel(id), true)
      t.equal(await b.background.status(id), undefined, 'its status is not kept')
    })

    t.test('a cancel that races the job’s end comes out as one status', async t => {
      const { a, b } = await fleet(t, { concurrency: 20, jobs: { quick: async () => { await new Promise(resolve => setTimeout(resolve, Math.random() * 20)) } } })
      const ids = await Promise.all(Array.from({ length: 40 }, async () => (await a.background.enqueue('quick')).id))
      const answers = await Promise.all(ids.map(async id => {
        await new Promise(resolve => setTimeout(resolve, Math.random() * 30))
        return await b.background.cancel(id)
      }))
      await a.background.drain()
      for (const [index, id] of ids.entries()) {
        const status = (await statusOf(a, id)).status
        t.equal(status, answers[index] ? 'cancelled' : 'succeeded', `job ${index}: cancel said ${answers[index]}`)
      }
    })

    t.test('retry from another replica: a failed job runs again under its id, attempts from 1', async t => {
      let fail = true
      const attempts: number[] = []
      const { a, b } = await fleet(t, { jobs: { flaky: { retries: 1, backoff: 10, handler: ctx => { attempts.push(ctx.attempt); if (fail) throw new Error('down') } } } })
      const { id } = await a.background.enqueue('flaky')
      await a.background.drain()
      t.match(await statusOf(b, id), { status: 'failed', attempt: 2, error: 'down' })
      fail = false
      t.equal(await b.background.retry(id), true)
      await until(async () => (await statusOf(a, id)).status === 'succeeded', 10_000, 'the retried job')
      t.same(attempts, [1, 2, 1])
      t.equal(await b.background.retry(id), false, 'a succeeded job')
      t.equal(await b.background.retry('no-such-job'), false)
    })

    t.test('list: the fleet’s jobs newest first, by status, paged', async t => {
      const { a, b } = await fleet(t, { jobs: { ok: () => {}, bad: () => { throw new Error('x') } } })
      const ids: string[] = []
      for (const [index, name] of ['ok', 'bad', 'ok', 'bad'].entries()) ids.push((await (index % 2 === 0 ? a : b).background.enqueue(name)).id)
      await a.background.drain()
      t.same((await b.background.list()).map(job => job.id), ids.slice().reverse())
      t.same((await a.background.list({ status: 'failed' })).map(job => job.id), [ids[3], ids[1]])
      t.same((await a.background.list({ limit: 2, offset: 1 })).map(job => job.id), [ids[2], ids[1]])
      await t.rejects(a.background.list({ limit: 0 }), { code: 'FST_BACKGROUND_INVALID_OPTION', message: /query\.limit/ })
      const later = await a.background.enqueue('ok', undefined, { delay: '1h' })
      await b.background.cancel(later.id)
      t.same((await a.background.list({ status: 'cancelled' })).map(job => job.id), [later.id])
      t.same((await a.background.list({ status: 'failed' })).map(job => job.id), [ids[3], ids[1]], 'a cancelled job is not listed as failed')
    })

    if (store.name === 'redis') {
      t.test('list skips a job whose status is gone by the time it is read', async t => {
        const prefix = uniquePrefix()
        t.teardown(() => forget(prefix))
        const { app } = await buildBullApp(prefix, { jobs: { ok: () => {} } })
        t.teardown(() => app.close())
        await app.ready()
        const kept = await app.background.enqueue('ok')
        const gone = await app.background.enqueue('ok')
        await app.background.drain()
        // What BullMQ's retention does between the list's two reads: the job's hash is deleted first.
        const redis = new Redis(REDIS_URL)
        t.teardown(() => redis.disconnect())
        await redis.del(`${prefix}:fastify-background:${gone.id}`)
        t.same((await app.background.list()).map(job => job.id), [kept.id])
      })
    }

    t.test('Idempotency-Key across replicas: a retry on another replica gets the same 202; two racing make one job', async t => {
      let runs = 0
      const { a, b } = await fleet(t, { idempotency: true, statusRoute: '/jobs/:id', jobs: { charge: () => { runs++ } } },
        app => app.post('/charges', async (request, reply) => reply.accepted('charge', request.body)))
      const send = (app: FastifyInstance, key: string, amount = 5) =>
        app.inject({ method: 'POST', url: '/charges', payload: { amount }, headers: { 'idempotency-key': key } })
      const first = await send(a, 'order-1')
      const retried = await send(b, 'order-1')
      t.equal(retried.statusCode, 202)
      t.equal(retried.json().id, first.json().id)
      t.equal(retried.headers.location, first.headers.location)
      t.equal((await send(b, 'order-1', 6)).statusCode, 422, 'other data on another replica')
      const racing = await Promise.all([send(a, 'order-2'), send(b, 'order-2'), send(a, 'order-2'), send(b, 'order-2')])
      t.equal(new Set(racing.map(reply => reply.json().id)).size, 1)
      await a.background.drain()
      t.equal(runs, 2)
      t.match((await send(b, 'order-1')).json(), { id: first.json().id, status: 'succeeded' }, 'after it finished')
    })

    t.test('a request refused (queue full) leaves its Idempotency-Key free, on BullMQ too', async t => {
      const { a } = await fleet(t, { idempotency: true, maxQueued: 0, jobs: { charge: () => {} } },
        app => app.post('/charges', async (request, reply) => reply.accepted('charge', request.body)))
      const send = () => a.inject({ method: 'POST', url: '/charges', payload: { amount: 1 }, headers: { 'idempotency-key': 'k' } })
      const full = await send()
      t.equal(full.statusCode, 503)
      t.equal(full.json().code, 'FST_BACKGROUND_QUEUE_FULL')
      t.equal(full.headers['retry-after'], '1')
      const again = await send()
      t.equal(again.statusCode, 503, 'the retry is judged afresh, not answered from a claim')
    })

    t.test('a job waiting for its retry backoff holds no slot: other jobs run meanwhile', async t => {
      const ran: string[] = []
      const { a } = await fleet(t, {
        concurrency: 1,
        jobs: {
          flaky: { retries: 1, backoff: 2000, handler: ctx => { ran.push(`flaky:${ctx.attempt}`); if (ctx.attempt === 1) throw new Error('later') } },
          quick: () => { ran.push('quick') }
        }
      })
      await a.background.enqueue('flaky')
      await until(() => ran.length === 1, 10_000, 'the first attempt')
      await a.background.enqueue('quick')
      await until(() => ran.includes('quick'), 1500, 'the quick job, before the backoff ended')
      t.same(ran, ['flaky:1', 'quick'])
      await until(() => ran.length === 3, 10_000, 'the retry')
    })

    t.test('the dashboard shows the fleet: jobs and their data from Redis, and Pause acts fleet-wide, from either replica', async t => {
      const { a, b } = await fleet(t, {
        dashboard: '/background',
        tasks: [{ name: 'tick', every: '1h', handler: () => {} }],
        jobs: { double: (ctx: JobContext) => (ctx.data as number) * 2 }
      })
      const job = await a.background.enqueue('double', 21)
      await a.background.drain()
      const detail = await b.inject(`/background/api/jobs/${job.id}`)
      t.match(detail.json(), { id: job.id, status: 'succeeded', data: 21, result: 42 }, 'read on the replica that did not enqueue it')
      t.equal((await b.inject('/background/api/jobs/nope')).statusCode, 404)
      t.match((await b.inject('/background/api/jobs?status=succeeded')).json(), { jobs: [{ id: job.id }] })
      t.match((await b.inject('/background/api/overview')).json(), { stats: { succeeded: 1 }, tasks: [{ name: 'tick', schedule: { every: 3_600_000 } }] })
      t.equal((await b.inject({ method: 'POST', url: '/background/api/tasks/tick/pause' })).statusCode, 200)
      t.match((await a.inject('/background/api/overview')).json(), { tasks: [{ name: 'tick', state: 'paused', nextRunAt: null }] },
        'the replica that did not pause it shows it paused')
      t.equal((await a.inject({ method: 'POST', url: '/background/api/tasks/tick/resume' })).statusCode, 200, 'and may resume it')
      t.match((await b.inject('/background/api/overview')).json(), { tasks: [{ name: 'tick', state: 'idle' }] },
        'resumed fleet-wide: the replica that paused it shows it running again')
    })
  })
}
