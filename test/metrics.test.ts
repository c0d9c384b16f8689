import { test, type Test } from 'tap'
import Fastify from 'fastify'
import { Registry, register } from 'prom-client'
import fastifyBackground from '../lib/index'
import { loadPromClient } from '../lib/metrics/prom-client'
import { createMetrics } from '../lib/metrics/metrics'
import { buildApp } from './helpers/app'
import { gate, noUnhandledRejections, until } from './helpers/jobs'
import type { FastifyBackgroundOptions } from '../lib/types'

// The `metrics` option on prom-client: the seven metrics of API.md, fed by the work, scraped at
// `path`, and gone from the registry when the app closes.

async function metricsApp (t: Test, options: FastifyBackgroundOptions) {
  noUnhandledRejections(t)
  const built = await buildApp(options)
  t.teardown(() => built.app.close())
  await built.app.ready()
  return built
}

/** The value of one sample line of a scrape, e.g. `fastify_background_jobs_total{job="a",status="failed"}`. */
function sample (scrape: string, series: string): number | undefined {
  const line = scrape.split('\n').find(each => each.startsWith(series + ' '))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

test('the option: true or { registry, path }, checked with its path in the message', async t => {
  const cases: Array<[unknown, RegExp]> = [
    ['yes', /metrics: must be a boolean or \{ registry, path \}/],
    [{ registry: {} }, /metrics\.registry: must be a prom-client Registry; "metrics" is missing/],
    [{ path: 'metrics' }, /metrics\.path: must be a path without parameters/],
    [{ port: 9100 }, /metrics\.port/]
  ]
  for (const [metrics, message] of cases) {
    const app = Fastify()
    await t.rejects(async () => { await app.register(fastifyBackground, { metrics } as FastifyBackgroundOptions) },
      { code: 'FST_BACKGROUND_INVALID_OPTION', message }, JSON.stringify(metrics))
    await app.close()
  }
})

test('without prom-client installed, the error says what to install; another load error is not hidden', async t => {
  const missing = Object.assign(new Error("Cannot find module 'prom-client'"), { code: 'MODULE_NOT_FOUND' })
  t.throws(() => loadPromClient(() => { throw missing }), {
    code: 'FST_BACKGROUND_INVALID_OPTION',
    message: /metrics: needs prom-client, an optional peer dependency: npm install prom-client/
  })
  const broken = new SyntaxError('Unexpected token')
  t.throws(() => loadPromClient(() => { throw broken }), broken)
  t.equal(loadPromClient(), require('prom-client'), 'installed: the package itself')
})

test('every metric counts what the app did, with bounded labels; the gauge shows the jobs queued and running now', async t => {
  const registry = new Registry()
  const hold = gate()
  const { app } = await metricsApp(t, {
    metrics: { registry, path: '/metrics' },
    concurrency: 1,
    maxQueued: 1,
    tasks: [
      { name: 'ok', every: '1h', handler: () => {} },
      { name: 'broken', every: '1h', handler: () => { throw new Error('boom') } }
    ],
    jobs: {
      held: () => hold.promise,
      fails: { handler: () => { throw new Error('nope') }, retries: 0 }
    }
  })
  await app.tasks.trigger('ok')
  await app.tasks.trigger('broken')
  const running = await app.background.enqueue('held', null)
  await until(async () => (await app.background.status(running.id))?.status === 'running')
  const queued = await app.background.enqueue('fails', null)
  await t.rejects(app.background.enqueue('fails', null), { code: 'FST_BACKGROUND_QUEUE_FULL' })

  const during = await app.inject('/metrics')
  t.equal(during.statusCode, 200)
  t.match(during.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  t.equal(sample(during.body, 'fastify_background_jobs{state="running"}'), 1)
  t.equal(sample(during.body, 'fastify_background_jobs{state="queued"}'), 1)
  t.equal(sample(during.body, 'fastify_background_jobs_rejected_total{reason="queue_full"}'), 1)

  hold.open()
  await app.background.drain()
  t.not(running.id, queued.id)
  const after = (await app.inject('/metrics')).body
  t.equal(sample(after, 'fastify_background_task_runs_total{task="ok",status="succeeded"}'), 1)
  t.equal(sample(after, 'fastify_background_task_runs_total{task="broken",status="failed"}'), 1)
  t.equal(sample(after, 'fastify_background_task_duration_seconds_count{task="ok"}'), 1)
  t.equal(sample(after, 'fastify_background_jobs_total{job="held",status="succeeded"}'), 1)
  t.equal(sample(after, 'fastify_background_jobs_total{job="fails",status="failed"}'), 1)
  t.equal(sample(after, 'fastify_background_job_duration_seconds_count{job="held"}'), 1)
  t.equal(sample(after, 'fastify_background_job_wait_seconds_count{job="fails"}'), 1)
  t.ok((sample(after, 'fastify_background_job_wait_seconds_sum{job="fails"}') as number) > 0, 'the queued job waited for the held one')
  t.equal(sample(after, 'fastify_background_job_duration_seconds_bucket{le="600",job="held"}'), 1, 'buckets reach minutes')
  t.equal(sample(after, 'fastify_background_jobs{state="running"}'), 0)
  t.notMatch(after, running.id, 'no id in any label')
})

test('a due run skipped for overlap is counted, without a duration; a cancelled job that never started has none either', async t => {
  const registry = new Registry()
  const hold = gate()
  const { app } = await metricsApp(t, {
    metrics: { registry },
    concurrency: 1,
    tasks: [{ name: 'slow', every: 20, handler: () => hold.promise }],
    jobs: { held: () => hold.promise }
  })
  await until(() => (app.tasks.get('slow')?.skips ?? 0) >= 1)
  app.tasks.pause('slow')
  await app.background.enqueue('held', null)
  const waiting = await app.background.enqueue('held', null)
  t.equal(await app.background.cancel(waiting.id), true)
  hold.open()
  await app.background.drain()
  await until(() => app.tasks.get('slow')?.runs === 1)
  const scrape = await registry.metrics()
  t.equal(sample(scrape, 'fastify_background_task_runs_total{task="slow",status="skipped"}'), app.tasks.get('slow')?.skips)
  t.equal(sample(scrape, 'fastify_background_task_duration_seconds_count{task="slow"}'), 1, 'the run that ran, only')
  t.equal(sample(scrape, 'fastify_background_jobs_total{job="held",status="cancelled"}'), 1)
  t.equal(sample(scrape, 'fastify_background_job_duration_seconds_count{job="held"}'), 1, 'the job that ran, only')
})

test('refusals while closing are counted with their reason', async t => {
  const registry = new Registry()
  const { app } = await buildApp({ metrics: { registry }, jobs: { noop: () => {} } })
  let scrape = ''
  app.addHook('preClose', async () => {
    await t.rejects(app.background.enqueue('noop', null), { code: 'FST_BACKGROUND_CLOSING' })
    scrape = await registry.metrics()
  })
  await app.ready()
  await app.close()
  t.equal(sample(scrape, 'fastify_background_jobs_rejected_total{reason="closing"}'), 1)
})

test('metrics: true registers on the global registry, and close takes them off, so an app made again registers again', async t => {
  for (const round of [1, 2]) {
    const { app } = await buildApp({ metrics: true })
    await app.ready()
    t.ok(register.getSingleMetric('fastify_background_jobs_total'), `round ${round}: registered`)
    t.equal((await app.inject('/metrics')).statusCode, 404, 'not served without a path')
    await app.close()
    t.equal(register.getSingleMetric('fastify_background_jobs_total'), undefined, `round ${round}: removed at close`)
  }
})

test('two apps on one registry: the second is refused with the reason, and leaves the first one\'s metrics alone', async t => {
  const registry = new Registry()
  const { app: first } = await metricsApp(t, { metrics: { registry } })
  const second = Fastify()
  await t.rejects(async () => { await second.register(fastifyBackground, { metrics: { registry } }) }, {
    code: 'FST_BACKGROUND_INVALID_OPTION',
    message: /metrics\.registry: already holds fastify_background_task_runs_total: two apps in one process each need their own registry/
  })
  await second.close()
  t.equal(registry.getMetricsAsArray().length, 7, 'the first app\'s seven metrics')
  await first.background.enqueue(async () => {})
  await first.background.drain()
  t.match(await registry.metrics(), /fastify_background_jobs_total\{job="[^"]+",status="succeeded"\} 1/, 'and they count on')
})

test('a registration refused after the metrics (the backend failing to open) takes them off again', async t => {
  const registry = new Registry()
  const app = Fastify()
  const backend = { kind: 'broken', open: async () => { throw new Error('no store') } }
  for (const method of ['start', 'stopAccepting', 'close', 'enqueue', 'status', 'stats', 'drain', 'schedule', 'unschedule', 'cancel', 'retry', 'list', 'detail']) {
    (backend as Record<string, unknown>)[method] ??= () => {}
  }
  await t.rejects(async () => { await app.register(fastifyBackground, { metrics: { registry }, backend }) }, /no store/)
  await app.close()
  t.equal(registry.getMetricsAsArray().length, 0)
})

test('a scrape while the job counts cannot be read still answers, with the last counts, and logs why', async t => {
  const registry = new Registry()
  const warnings: unknown[] = []
  const log = { warn: (...args: unknown[]) => warnings.push(args) } as never
  let fail = false
  createMetrics(require('prom-client'), {
    registry,
    log,
    stats: async () => {
      if (fail) throw new Error('Redis is down')
      return { queued: 3, running: 2, succeeded: 0, failed: 0, rejected: 0 }
    }
  })
  t.equal(sample(await registry.metrics(), 'fastify_background_jobs{state="queued"}'), 3)
  fail = true
  t.equal(sample(await registry.metrics(), 'fastify_background_jobs{state="queued"}'), 3, 'the last counts read')
  t.match(warnings, [[{ err: { message: 'Redis is down' } }, 'metrics: the job counts could not be read']])
})

test('a route that collides with the metrics path refuses the registration before anything is registered', async t => {
  const registry = new Registry()
  const app = Fastify()
  app.get('/metrics', async () => 'mine')
  await t.rejects(async () => { await app.register(fastifyBackground, { metrics: { registry, path: '/metrics' } }) }, /already declared|Method 'GET' already declared/)
  await app.close()
  t.equal(registry.getMetricsAsArray().length, 0)
})
