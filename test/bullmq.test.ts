// The BullMQ backend in one process, against a real Redis, then a real PostgreSQL: jobs, statuses,
// limits, schedules.
import { asFunction, createContainer } from 'awilix'
import { Queue } from 'bullmq'
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { bullmqBackend } from '../lib/bullmq'
import type { FastifyInstance } from 'fastify'
import type { JobContext } from '../lib/types'
import { buildApp, linesWith, LEVEL } from './helpers/app'
import { buildBullApp, forget, REDIS_URL, uniquePrefix, until, useStore } from './helpers/redis'
import { STORES, type TestStore } from './helpers/stores'

const QUEUE = 'fastify-background'
const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/** A prefix of its own for the test, with its keys deleted at the end. */
function prefixFor (t: Test): string {
  const prefix = uniquePrefix()
  t.teardown(() => forget(prefix))
  return prefix
}

/** The store the tests below run on. */
let store: TestStore

/** A raw BullMQ queue under `prefix`, closed at the end of the test. */
function rawQueue (t: Test, prefix: string, name = QUEUE): Queue {
  const queue = store.rawQueue(name, prefix)
  t.teardown(() => queue.close())
  return queue
}

async function ready (t: Test, app: FastifyInstance): Promise<FastifyInstance> {
  t.teardown(() => app.close())
  await app.ready()
  return app
}

t.test('the entry point', async t => {
  const entry = require('../lib/bullmq')
  t.equal(typeof entry, 'function', 'require() returns bullmqBackend itself')
  t.equal(entry.default, entry)
  t.equal(entry.bullmqBackend, entry)
  t.equal(entry, bullmqBackend)
})

t.test('bullmqBackend options are checked', async t => {
  const cases: Array<[unknown, string]> = [
    [undefined, 'backend'],
    [{ connection: REDIS_URL, queue: 'x' }, 'backend.queue'],
    [{ connection: 'http://localhost' }, 'backend.connection'],
    [{ connection: 42 }, 'backend.connection'],
    [{ connection: new Map() }, 'backend.connection'],
    [{ connection: REDIS_URL, prefix: '' }, 'backend.prefix'],
    [{ connection: REDIS_URL, queueName: 7 }, 'backend.queueName'],
    [{ connection: REDIS_URL, queueName: 'a:b' }, 'backend.queueName'],
    [{ connection: REDIS_URL, workerOptions: 'fast' }, 'backend.workerOptions'],
    [{ connection: REDIS_URL, workerOptions: { prefix: 'x' } }, 'backend.workerOptions.prefix']
  ]
  for (const [options, path] of cases) {
    t.throws(() => bullmqBackend(options as any), { code: 'FST_BACKGROUND_INVALID_OPTION', message: new RegExp(`Invalid option ${path.replace(/\./g, '\\.')}:`) }, path)
  }
})

t.test('delay is refused for every and cron tasks, at registration and in tasks.add', async t => {
  const backend = bullmqBackend({ connection: REDIS_URL, prefix: uniquePrefix() })
  const handler = async (): Promise<void> => {}
  await t.rejects(buildApp({ backend, tasks: [{ name: 'a', every: 1000, delay: 10, handler }] }),
    { code: 'FST_BACKGROUND_INVALID_OPTION', message: /tasks\[0\]\.delay/ })
})

for (const each of STORES) {
  t.test(each.name, { skip: each.skip }, async t => {
    store = each
    useStore(each)

    t.test('named jobs: 202 once Redis has the job, status from another replica, stats, drain', async t => {
      const prefix = prefixFor(t)
      const seen: Array<{ id: string, data: unknown, attempt: number, hasScope: boolean }> = []
      const { app: worker } = await buildBullApp(prefix, {
        jobs: {
          hello: async (ctx: JobContext) => {
            seen.push({ id: ctx.id, data: ctx.data, attempt: ctx.attempt, hasScope: typeof ctx.scope.createScope === 'function' })
            await sleep(50)
          }
        }
      })
      worker.post('/hello', async (request, reply) => reply.accepted('hello', request.body))
      await ready(t, worker)
      // Another replica that takes no job: it only answers status.
      const { app: monitor } = await buildBullApp(prefix, { jobs: { hello: async () => {} }, statusRoute: '/jobs/:id' }, { workerOptions: { autorun: false } })
      await ready(t, monitor)

      const reply = await worker.inject({ method: 'POST', url: '/hello', payload: { when: new Date(0) } })
      t.equal(reply.statusCode, 202)
      const { id } = reply.json()
      t.match(id, /^[0-9a-f-]{36}$/)
      const queued = await monitor.background.status(id)
      t.ok(queued !== undefined && ['queued', 'running'].includes(queued.status), 'known at once to the other replica')

      await worker.background.drain()
      const done = await monitor.inject({ url: `/jobs/${id}` })
      t.equal(done.statusCode, 200)
      t.match(done.json(), { id, name: 'hello', status: 'succeeded', enqueuedAt: String, startedAt: String, finishedAt: String })
      t.same(seen, [{ id, data: { when: '1970-01-01T00:00:00.000Z' }, attempt: 1, hasScope: true }], 'dates arrive as ISO strings')
      t.equal((await monitor.inject({ url: '/jobs/nope' })).statusCode, 404)
      t.same(await monitor.background.stats(), { queued: 0, running: 0, succeeded: 1, failed: 0, rejected: 0 })
    })

    t.test('function jobs are not durable; data JSON cannot carry is refused', async t => {
      const prefix = prefixFor(t)
      const { app } = await buildBullApp(prefix, { jobs: { echo: async () => {} } }, { workerOptions: { autorun: false } })
      app.post('/fn', async (_request, reply) => reply.accepted(async () => {}))
      app.post('/bigint', async (_request, reply) => reply.accepted('echo', { user: { id: 1n } }))
      await ready(t, app)

      const fn = await app.inject({ method: 'POST', url: '/fn' })
      t.equal(fn.statusCode, 500)
      t.equal(fn.json().code, 'FST_BACKGROUND_NOT_DURABLE')
      await t.rejects(app.background.enqueue(async () => {}), { code: 'FST_BACKGROUND_NOT_DURABLE' })

      const bigint = await app.inject({ method: 'POST', url: '/bigint' })
      t.equal(bigint.statusCode, 500)
      t.match(bigint.json(), { code: 'FST_BACKGROUND_INVALID_DATA', message: /"echo".*data\.user\.id is a BigInt/ })
      const cycle: Record<string, unknown> = { list: [] }
      ;(cycle.list as unknown[]).push(cycle)
      const refused: Array<[unknown, RegExp]> = [
        [{ run: () => {} }, /data\.run is a function/],
        [[1, Symbol('s')], /data\[1\] is a symbol/],
        [cycle, /data\.list\[0\] refers back/],
        [{ toJSON: () => 2n }, /data is a BigInt/]
      ]
      for (const [data, message] of refused) {
        await t.rejects(app.background.enqueue('echo', data), { code: 'FST_BACKGROUND_INVALID_DATA', message })
      }
      await app.background.enqueue('echo', { fine: [1, 'a', null, true, { nested: undefined }] })
      t.equal((await app.background.stats()).queued, 1, 'only the valid job was enqueued')
    })

    t.test('maxQueued counts the jobs waiting in Redis; beyond it 503 with Retry-After; closing refuses too', async t => {
      const prefix = prefixFor(t)
      const { app } = await buildBullApp(prefix, { maxQueued: 2, jobs: { wait: async () => {} } }, { workerOptions: { autorun: false } })
      app.post('/wait', async (_request, reply) => reply.accepted('wait'))
      let closingError: unknown
      app.addHook('preClose', async () => {
        closingError = await app.background.enqueue('wait').catch(error => error)
      })
      await ready(t, app)
      t.equal((await app.inject({ method: 'POST', url: '/wait' })).statusCode, 202)
      t.equal((await app.inject({ method: 'POST', url: '/wait' })).statusCode, 202)
      const full = await app.inject({ method: 'POST', url: '/wait' })
      t.equal(full.statusCode, 503)
      t.equal(full.headers['retry-after'], '1')
      t.equal(full.json().code, 'FST_BACKGROUND_QUEUE_FULL')
      await until(async () => (await app.background.stats()).rejected === 1, 2000, 'the refusal to be counted')
      t.match(await app.background.stats(), { queued: 2, running: 0, rejected: 1 })
      await app.close()
      t.match(closingError, { code: 'FST_BACKGROUND_CLOSING' })
    })

    t.test('retries and backoff are BullMQ attempts; timeouts and failures end failed with the message', async t => {
      const prefix = prefixFor(t)
      const attempts: number[] = []
      const { app } = await buildBullApp(prefix, {
        jobs: {
          flaky: {
            retries: 2,
            backoff: 20,
            handler: async (ctx: JobContext) => {
              attempts.push(ctx.attempt)
              if (ctx.attempt < 3) throw new Error(`attempt ${ctx.attempt} failed`)
            }
          },
          slow: { timeout: 50, handler: (ctx: JobContext) => ctx.sleep(10_000) },
          broken: async () => { throw new Error('broken for good') }
        }
      })
      await ready(t, app)
      const flaky = await app.background.enqueue('flaky')
      const slow = await app.background.enqueue('slow')
      const broken = await app.background.enqueue('broken')
      await until(async () => (await app.background.stats()).succeeded + (await app.background.stats()).failed === 3, 10_000, 'the jobs to end')
      t.same(attempts, [1, 2, 3])
      t.equal((await app.background.status(flaky.id))?.status, 'succeeded')
      t.match(await app.background.status(slow.id), { status: 'failed', error: 'Timed out after 50 ms' })
      t.match(await app.background.status(broken.id), { status: 'failed', error: 'broken for good' })
      t.match(await app.background.stats(), { succeeded: 1, failed: 2 })
    })

    t.test('a job name this replica does not declare fails at once', async t => {
      const prefix = prefixFor(t)
      const { app: producer } = await buildBullApp(prefix, { jobs: { ghost: async () => {} } }, { workerOptions: { autorun: false } })
      await ready(t, producer)
      const { app: worker } = await buildBullApp(prefix, { jobs: { other: async () => {} } })
      await ready(t, worker)
      const { id } = await producer.background.enqueue('ghost')
      await until(async () => (await producer.background.status(id))?.status === 'failed', 5000, 'the job to fail')
      t.match(await producer.background.status(id), { error: /No job named "ghost"/ })
    })

    if (store.name === 'redis') {
      t.test('a job Redis holds in no state has no status', async t => {
        const prefix = prefixFor(t)
        const { app } = await buildBullApp(prefix, { jobs: { a: async () => {} } }, { workerOptions: { autorun: false } })
        await ready(t, app)
        const redis = new Redis(REDIS_URL)
        t.teardown(() => redis.disconnect())
        await redis.hset(`${prefix}:${QUEUE}:stray`, { name: 'a', data: '{}', opts: '{}', timestamp: '1' })
        t.equal(await app.background.status('stray'), undefined)
      })
    }

    t.test('every and cron tasks fire from Redis schedulers; immediate fires once per created schedule', async t => {
      const prefix = prefixFor(t)
      const ticks: number[] = []
      const crons: number[] = []
      const immediate: number[] = []
      const tasks = [
        { name: 'tick', every: 100, handler: async (ctx: { scheduledAt: Date }) => { ticks.push(ctx.scheduledAt.getTime()) } },
        { name: 'once', every: 3_600_000, immediate: true, handler: async (ctx: { scheduledAt: Date }) => { immediate.push(ctx.scheduledAt.getTime()) } },
        { name: 'cron', cron: '* * * * * *', timezone: 'Europe/Rome', handler: async (ctx: { scheduledAt: Date }) => { crons.push(ctx.scheduledAt.getTime()) } }
      ]
      const { app: first } = await buildBullApp(prefix, { tasks })
      const { app: second } = await buildBullApp(prefix, { tasks })
      const startedAt = Date.now()
      await Promise.all([ready(t, first), ready(t, second)])
      await until(() => crons.length >= 2 && ticks.length >= 5 && immediate.length >= 1, 5000, 'the tasks to fire')
      t.equal(immediate.length, 1, 'one immediate run between the two replicas')
      t.ok(immediate[0] >= startedAt - 50, 'the immediate run is stamped with when it was asked for')
      t.ok(ticks.every(due => due % 100 === 0), 'every due times are multiples of every')
      t.ok(crons.every(due => due % 1000 === 0), 'cron due times on whole seconds')
      t.equal(new Set(ticks).size, ticks.length, 'no due time ran twice')
      const info = first.tasks.get('tick')
      t.ok(info?.nextRunAt instanceof Date && info.nextRunAt.getTime() % 100 === 0, 'nextRunAt is on the epoch grid')
      const schedulers = await rawQueue(t, prefix, `${QUEUE}.tasks`).getJobSchedulers(0, -1)
      t.match(schedulers.sort((a, b) => a.key.localeCompare(b.key)), [
        { key: 'cron', pattern: '* * * * * *', tz: 'Europe/Rome' },
        { key: 'once', every: 3_600_000 },
        { key: 'tick', every: 100 }
      ])
    })

    t.test('start removes schedulers the options no longer declare and updates changed ones; close leaves them', async t => {
      const prefix = prefixFor(t)
      const handler = async (): Promise<void> => {}
      const schedulers = rawQueue(t, prefix, `${QUEUE}.tasks`)
      const keys = async (): Promise<Array<[string, number | string | undefined]>> =>
        (await schedulers.getJobSchedulers(0, -1)).map(s => [s.key, s.every ?? s.pattern] as [string, number | string | undefined]).sort()

      const { app: v1 } = await buildBullApp(prefix, {
        tasks: [{ name: 'a', every: 60_000, handler }, { name: 'b', every: 60_000, handler }, { name: 'c', cron: '0 0 * * *', handler }]
      })
      await v1.ready()
      await until(async () => (await keys()).length === 3, 2000, 'three schedulers')
      await v1.close()
      t.same(await keys(), [['a', 60_000], ['b', 60_000], ['c', '0 0 * * *']], 'closing a replica leaves the schedule')

      const { app: v2, lines } = await buildBullApp(prefix, {
        tasks: [{ name: 'a', every: 120_000, handler }, { name: 'c', cron: '0 0 * * *', handler, enabled: false }, { name: 'l', loop: true, delay: 10, handler }]
      })
      await ready(t, v2)
      await until(async () => (await keys()).length === 1 && (await keys())[0][1] === 120_000, 2000, 'the updated scheduler')
      t.same(await keys(), [['a', 120_000]])
      t.equal(linesWith(lines, 'the options no longer declare it', LEVEL.info).length, 2)
      t.equal(linesWith(lines, `task schedule updated in ${store.label}`).length, 1)
    })

    t.test('pause and remove stop a task for the whole fleet; resume and add bring it back', async t => {
      const prefix = prefixFor(t)
      const handler = async (): Promise<void> => {}
      const schedulers = rawQueue(t, prefix, `${QUEUE}.tasks`)
      const keys = async (): Promise<string[]> => (await schedulers.getJobSchedulers(0, -1)).map(s => s.key).sort()
      const { app } = await buildBullApp(prefix, { tasks: [{ name: 'a', every: 60_000, handler }, { name: 'b', every: 60_000, handler }] })
      await ready(t, app)
      await until(async () => (await keys()).length === 2, 2000, 'two schedulers')
      app.tasks.pause('a')
      await until(async () => (await keys()).join() === 'b', 2000, 'a paused')
      app.tasks.resume('a')
      await until(async () => (await keys()).join() === 'a,b', 2000, 'a resumed')
      t.equal(await app.tasks.remove('b'), true)
      await until(async () => (await keys()).join() === 'a', 2000, 'b removed')
      app.tasks.add({ name: 'c', every: 60_000, handler })
      await until(async () => (await keys()).join() === 'a,c', 2000, 'c added')
      t.throws(() => app.tasks.add({ name: 'd', every: 60_000, delay: 5, handler }), { code: 'FST_BACKGROUND_INVALID_OPTION', message: /task\.delay/ })
    })

    t.test("overlap 'skip' holds across replicas, with the lock kept alive while a run lasts", async t => {
      const prefix = prefixFor(t)
      const runs: Array<[number, number]> = []
      const tasks = [{
        name: 'slow',
        every: 100,
        handler: async () => {
          const start = Date.now()
          await sleep(450)
          runs.push([start, Date.now()])
        }
      }]
      const fast = { workerOptions: { lockDuration: 300 } }
      const { app: first } = await buildBullApp(prefix, { tasks }, fast)
      const { app: second } = await buildBullApp(prefix, { tasks }, fast)
      await Promise.all([ready(t, first), ready(t, second)])
      await until(() => runs.length >= 3, 5000, 'three runs')
      const sorted = runs.sort((a, b) => a[0] - b[0])
      t.ok(sorted.slice(1).every(([start], i) => start >= sorted[i][1]), 'no two runs overlapped')
      const skips = (first.tasks.get('slow')?.skips ?? 0) + (second.tasks.get('slow')?.skips ?? 0)
      t.ok(skips >= 3, `due times were skipped while a run lasted (${skips})`)
    })

    t.test("overlap 'allow' and jitter", async t => {
      const prefix = prefixFor(t)
      let running = 0
      let most = 0
      const { app } = await buildBullApp(prefix, {
        tasks: [{
          name: 'overlapping',
          every: 50,
          jitter: 10,
          overlap: 'allow',
          handler: async () => {
            most = Math.max(most, ++running)
            await sleep(200)
            running--
          }
        }]
      })
      await ready(t, app)
      await until(() => most >= 2, 5000, 'overlapping runs')
      t.ok(most >= 2)
    })

    t.test('a task job for a task this replica does not schedule is not run', async t => {
      const prefix = prefixFor(t)
      const { app, lines } = await buildBullApp(prefix, { tasks: [{ name: 'known', every: 60_000, handler: async () => {} }] })
      await ready(t, app)
      await rawQueue(t, prefix, `${QUEUE}.tasks`).add('unknown', {})
      await until(() => linesWith(lines, 'the task is not scheduled on this replica', LEVEL.warn).length === 1, 5000, 'the warning')
      t.pass()
    })

    t.test('close past shutdownTimeout leaves a running job and task run to another replica', async t => {
      const prefix = prefixFor(t)
      const fast = { workerOptions: { lockDuration: 500, stalledInterval: 300 } }
      let started = 0
      // The 'stuck' job's scope never finishes disposing, so it is still running when close has waited out its grace.
      const container = createContainer()
      container.register('stuck', asFunction(() => ({})).scoped().disposer(() => new Promise(() => {})))
      const { app: leaving, lines } = await buildBullApp(prefix, {
        shutdownTimeout: 100,
        container,
        jobs: {
          long: async (ctx: JobContext) => { started++; await ctx.sleep(10_000) },
          stuck: async (ctx: JobContext) => { started++; ctx.cradle.stuck.touched = true; await ctx.sleep(10_000) }
        },
        tasks: [{ name: 'slowtick', every: 200, handler: async ctx => { started++; await ctx.sleep(10_000) } }]
      }, fast)
      await leaving.ready()
      const { id } = await leaving.background.enqueue('long')
      const stuck = await leaving.background.enqueue('stuck')
      await until(() => started >= 3, 5000, 'the jobs and a task run to start')
      await leaving.close()
      t.equal(linesWith(lines, 'BullMQ hands it to another replica', LEVEL.warn).length, 2)
      t.match(linesWith(lines, 'still not ended after their grace', LEVEL.warn), [{ running: 1 }], 'the job whose scope never disposed is left to BullMQ')
      const { app: staying } = await buildBullApp(prefix, { jobs: { long: async () => {}, stuck: async () => {} } }, fast)
      await ready(t, staying)
      for (const jobId of [id, stuck.id]) {
        await until(async () => (await staying.background.status(jobId))?.status === 'succeeded', 10_000, 'the jobs to succeed elsewhere')
      }
      t.pass()
    })

    t.test('jobs taken while a replica closes go back to the queue', async t => {
      const prefix = prefixFor(t)
      const { app: producer } = await buildBullApp(prefix, { jobs: { quick: async () => {} } }, { workerOptions: { autorun: false } })
      await ready(t, producer)
      let release = (): void => {}
      const { app: closing } = await buildBullApp(prefix, {
        concurrency: 5,
        jobs: { quick: () => new Promise<void>(resolve => { release = resolve }) }
      })
      await closing.ready()
      await producer.background.enqueue('quick')
      await until(async () => (await producer.background.stats()).running === 1, 5000, 'the first job to run')
      const closed = closing.close()
      // The closing replica's worker is still blocked on Redis waiting for a job: it gets this one.
      const { id } = await producer.background.enqueue('quick')
      await sleep(200)
      release()
      await closed
      t.not((await producer.background.status(id))?.status, 'succeeded', 'the closing replica did not run it')
    })

    if (store.name === 'redis') {
      t.test('connection as ioredis options or an ioredis instance', async t => {
        const prefix = prefixFor(t)
        const { hostname, port } = new URL(REDIS_URL)
        const ran: string[] = []
        const jobs = { note: async (ctx: JobContext<string>) => { ran.push(ctx.data) } }
        const instance = new Redis(REDIS_URL)
        t.teardown(() => instance.disconnect())
        const fromOptions = await buildApp({ jobs, backend: bullmqBackend({ connection: { host: hostname, port: Number(port || 6379) }, prefix, queueName: 'opts' }) })
        const fromInstance = await buildApp({ jobs, backend: bullmqBackend({ connection: instance, prefix, queueName: 'inst' }) })
        await Promise.all([ready(t, fromOptions.app), ready(t, fromInstance.app)])
        await fromOptions.app.background.enqueue('note', 'options')
        await fromInstance.app.background.enqueue('note', 'instance')
        await until(() => ran.length === 2, 5000, 'both jobs')
        t.same(ran.sort(), ['instance', 'options'])
        await fromInstance.app.close()
        t.equal(instance.status, 'ready', 'an ioredis instance stays open: it is the caller\'s to close')
      })
    }

    t.test('retention of zero removes a finished job at once', async t => {
      const prefix = prefixFor(t)
      const { app } = await buildBullApp(prefix, { retention: { max: 0 }, jobs: { quick: async () => {} } })
      await ready(t, app)
      const { id } = await app.background.enqueue('quick')
      await app.background.drain()
      t.equal(await app.background.status(id), undefined)
      t.equal((await app.background.stats()).succeeded, 1)
    })

    t.test('a scheduler another tool wrote under a declared task name is taken over', async t => {
      const prefix = prefixFor(t)
      const schedulers = rawQueue(t, prefix, `${QUEUE}.tasks`)
      await schedulers.upsertJobScheduler('a', { every: 60_000 })
      const { app, lines } = await buildBullApp(prefix, { tasks: [{ name: 'a', every: 60_000, handler: async () => {} }] })
      await ready(t, app)
      await until(() => linesWith(lines, `task schedule updated in ${store.label}`).length === 1, 2000, 'the takeover')
      t.match(await schedulers.getJobScheduler('a'), { every: 60_000, template: { data: { signature: String } } })
    })

    t.test('close() while ready() is pending starts nothing and leaves nothing open', async t => {
      const prefix = prefixFor(t)
      let ran = 0
      const { app } = await buildBullApp(prefix, {
        jobs: { a: async () => { ran++ } },
        tasks: [{ name: 'tick', every: 50, handler: async () => { ran++ } }]
      })
      const ready = app.ready().then(() => 'ready', (error: Error) => error.message)
      await app.close()
      await ready
      await sleep(200)
      t.equal(ran, 0)
      t.same(await rawQueue(t, prefix, `${QUEUE}.tasks`).getJobSchedulers(0, -1), [], 'no scheduler was written')
    })

    t.test('data JSON would change (NaN, Infinity, a Map, a Set) is refused, naming its path; a Date is not', async t => {
      const prefix = prefixFor(t)
      const { app } = await buildBullApp(prefix, { jobs: { echo: async () => {} } }, { workerOptions: { autorun: false } })
      await ready(t, app)
      const refused: Array<[unknown, RegExp]> = [
        [{ ratio: NaN }, /"echo".*data\.ratio is NaN/],
        [[1, Infinity], /data\[1\] is Infinity/],
        [{ a: { b: -Infinity } }, /data\.a\.b is -Infinity/],
        [{ seen: new Map([['a', 1]]) }, /data\.seen is a Map/],
        [{ tags: [new Set(['x'])] }, /data\.tags\[0\] is a Set/],
        [{ toJSON: () => NaN }, /data is NaN/]
      ]
      for (const [data, message] of refused) {
        await t.rejects(app.background.enqueue('echo', data), { code: 'FST_BACKGROUND_INVALID_DATA', message })
      }
      await app.background.enqueue('echo', { when: new Date(0), count: 2 })
      t.equal((await app.background.stats()).queued, 1, 'only the job with a Date was enqueued')
    })

    if (store.name === 'redis') {
      t.test('closing the app leaves no listener of its own on an ioredis instance given as connection', async t => {
        const prefix = prefixFor(t)
        const instance = new Redis(REDIS_URL)
        t.teardown(() => instance.disconnect())
        await until(() => instance.status === 'ready', 5000, 'the instance to connect')
        const listeners = (): Record<string, number> =>
          Object.fromEntries(instance.eventNames().map(name => [String(name), instance.listenerCount(name)]))
        const before = listeners()
        for (const queueName of ['first', 'second']) {
          const { app } = await buildApp({
            jobs: { note: async () => {} },
            tasks: [{ name: 'tick', every: 60_000, handler: async () => {} }],
            backend: bullmqBackend({ connection: instance, prefix, queueName })
          })
          await app.ready()
          await app.close()
        }
        t.same(listeners(), before)
      })
    }

    t.test('a task run waiting out its jitter is handed back at once when its replica closes', async t => {
      const prefix = prefixFor(t)
      let ran = 0
      const { app: leaving } = await buildBullApp(prefix, {
        shutdownTimeout: 10_000,
        tasks: [{ name: 'jittery', every: 100, jitter: 3_600_000, handler: async () => { ran++ } }]
      })
      await leaving.ready()
      const tasks = rawQueue(t, prefix, `${QUEUE}.tasks`)
      await until(async () => (await tasks.getJobCounts('active')).active >= 2, 5000, 'runs to be taken and wait out their jitter')
      const closing = Date.now()
      await leaving.close()
      const closedAt = Date.now()
      t.ok(closedAt - closing < 3000, `close returned in ${closedAt - closing} ms`)
      const { active, waiting } = await tasks.getJobCounts('active', 'waiting')
      t.equal(active, 0, 'no run is left held by the closed replica')
      t.ok(waiting >= 2, `the runs went back to the queue (${waiting})`)
      t.equal(ran, 0)

      const dues: number[] = []
      const { app: staying } = await buildBullApp(prefix, {
        tasks: [{ name: 'jittery', every: 100, handler: async ctx => { dues.push(ctx.scheduledAt.getTime()) } }]
      })
      await ready(t, staying)
      await until(() => dues.some(due => due < closedAt), 5000, 'another replica to run a handed-back run')
      t.pass()
    })

    if (store.name === 'redis') {
      t.test('a Redis error that is not a lost connection is logged each time with what failed, and opens no outage', async t => {
        const prefix = prefixFor(t)
        let release = (): void => {}
        let started = false
        const { app, lines } = await buildBullApp(prefix, {
          tasks: [{
            name: 'held',
            every: 3_600_000,
            immediate: true,
            handler: () => new Promise<void>(resolve => { started = true; release = resolve })
          }, {
            name: 'checked',
            every: 100,
            handler: async () => {}
          }]
        }, { workerOptions: { lockDuration: 300 } })
        await ready(t, app)
        await until(() => started, 5000, 'the run to start')
        // Redis is up, but keys of the wrong type make it refuse: the run's overlap lock becomes a
        // hash (refreshing it fails), the fleet's pauses a string (reading them fails).
        const redis = new Redis(REDIS_URL)
        t.teardown(() => redis.disconnect())
        const lock = `${prefix}:${QUEUE}.tasks:overlap:held`
        await redis.multi().del(lock).hset(lock, 'not', 'a lock').set(`${prefix}:${QUEUE}.tasks:paused-tasks`, 'not a hash').exec()
        await until(() => linesWith(lines, 'could not be refreshed', LEVEL.error).length >= 2 &&
          linesWith(lines, 'task run not started: Redis failed', LEVEL.error).length >= 2, 5000, 'two failures of each logged')
        t.match(linesWith(lines, 'could not be refreshed', LEVEL.error).slice(0, 2), [
          { task: 'held', err: { message: /WRONGTYPE/ } },
          { task: 'held', err: { message: /WRONGTYPE/ } }
        ])
        t.match(linesWith(lines, 'task run not started: Redis failed', LEVEL.error).slice(0, 2), [
          { task: 'checked', err: { message: /WRONGTYPE/ } },
          { task: 'checked', err: { message: /WRONGTYPE/ } }
        ])
        t.same(linesWith(lines, 'wait until Redis answers again'), [], 'no outage was opened')
        release()
        await until(() => linesWith(lines, 'could not be released', LEVEL.error).length === 1, 5000, 'the release to fail too')
      })
    }

    t.test('a status read while its job moves is of one moment: failed and succeeded always with finishedAt', async t => {
      const prefix = prefixFor(t)
      const jobs = {
        flaky: {
          retries: 3,
          backoff: 1,
          handler: async (ctx: JobContext<{ succeed: boolean }>) => {
            if (ctx.attempt <= 3 || !ctx.data.succeed) throw new Error(`attempt ${ctx.attempt} failed`)
          }
        }
      }
      const { app: worker } = await buildBullApp(prefix, { concurrency: 10, jobs })
      // The replica that enqueues (and polls) gives the jobs their attempts: it declares them alike.
      const { app: monitor } = await buildBullApp(prefix, { jobs }, { workerOptions: { autorun: false } })
      await Promise.all([ready(t, worker), ready(t, monitor)])
      const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => monitor.background.enqueue('flaky', { succeed: i % 2 === 0 })))
      const torn: unknown[] = []
      const statuses = new Set<string>()
      await Promise.all(ids.map(async ({ id }) => {
        const end = Date.now() + 10_000
        for (;;) {
          const status = await monitor.background.status(id)
          statuses.add(status?.status as string)
          if (status?.status === 'failed' && (status.error === undefined || status.finishedAt === undefined)) torn.push(status)
          if (status?.status === 'succeeded' && status.finishedAt === undefined) torn.push(status)
          if (status?.finishedAt !== undefined || Date.now() > end) return
        }
      }))
      t.same(torn, [], 'no status mixed two moments')
      // BullMQ's PostgreSQL backend counts a job in its metrics just after the move that ends it.
      await until(async () => {
        const { succeeded, failed } = await monitor.background.stats()
        return succeeded === 10 && failed === 10
      }, 5000, 'the lifetime totals')
    })
  })
}
