import { test, type Test } from 'tap'
import Fastify from 'fastify'
import fastifyBackground from '../lib/index'
import { buildApp } from './helpers/app'
import { gate, noUnhandledRejections, until } from './helpers/jobs'
import type { FastifyBackgroundOptions, JobContext, RunResult } from '../lib/types'

// The dashboard's server side through inject: its option, who it serves, and its JSON API. The
// page itself is driven in a real browser in test/dashboard-browser.test.ts.

const API = '/background/api'

async function dashboardApp (t: Test, options: FastifyBackgroundOptions = {}): Promise<Awaited<ReturnType<typeof buildApp>>> {
  noUnhandledRejections(t)
  const built = await buildApp({ dashboard: '/background', ...options })
  t.teardown(() => built.app.close())
  await built.app.ready()
  return built
}

test('the option: a path or { path, guard, readOnly }, checked with its path in the message', async t => {
  const cases: Array<[unknown, RegExp]> = [
    ['background', /dashboard: must be a path without parameters such as '\/background', got "background"/],
    ['/jobs/:id', /dashboard: must be a path without parameters/],
    ['/background/', /dashboard: must be a path without parameters/],
    [42, /dashboard: must be false, a path such as '\/background', or \{ path, guard, readOnly \}/],
    [{}, /dashboard\.path: must be a path without parameters .* got undefined/],
    [{ path: '/x', guard: 'admin' }, /dashboard\.guard: must be a function \(request, reply\), got "admin"/],
    [{ path: '/x', readOnly: 'yes' }, /dashboard\.readOnly/],
    [{ path: '/x', extra: 1 }, /dashboard\.extra/]
  ]
  for (const [dashboard, message] of cases) {
    const app = Fastify()
    await t.rejects(async () => { await app.register(fastifyBackground, { dashboard } as FastifyBackgroundOptions) }, { code: 'FST_BACKGROUND_INVALID_OPTION', message }, String(JSON.stringify(dashboard)))
    await app.close()
  }
})

test('off by default: no dashboard route', async t => {
  const { app } = await buildApp()
  t.teardown(() => app.close())
  t.equal((await app.inject('/background')).statusCode, 404)
})

test('the page: HTML with the same-origin-only CSP, its assets, and every route hidden from OpenAPI', async t => {
  const hiddenRoutes: string[] = []
  const app = Fastify()
  app.addHook('onRoute', route => { if ((route.schema as { hide?: boolean } | undefined)?.hide === true) hiddenRoutes.push(`${String(route.method)} ${route.url}`) })
  await app.register(fastifyBackground, { dashboard: '/ops/background' })
  t.teardown(() => app.close())
  const page = await app.inject('/ops/background')
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /^text\/html/)
  t.match(page.headers['content-security-policy'], /default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'/)
  t.match(page.body, /data-base="\/ops\/background" data-read-only="false"/)
  t.match(page.body, /<script type="module" src="\/ops\/background\/assets\/dashboard\.js"><\/script>/)
  t.notMatch(page.body, /<script>|style="|https?:\/\//, 'no inline script or style, nothing from elsewhere')
  t.equal((await app.inject('/ops/background/')).statusCode, 200, 'with a trailing slash too')
  for (const [file, type] of [['dashboard.js', /^text\/javascript/], ['dashboard.css', /^text\/css/], ['icon.svg', /^image\/svg\+xml/]] as const) {
    const asset = await app.inject(`/ops/background/assets/${file}`)
    t.equal(asset.statusCode, 200, file)
    t.match(asset.headers['content-type'], type, file)
  }
  t.equal((await app.inject('/ops/background/assets/..%2F..%2Fpackage.json')).statusCode, 404, 'only the shipped files')
  t.equal((await app.inject('/ops/background/assets/nothing.js')).statusCode, 404)
  t.ok(hiddenRoutes.length >= 6, 'routes marked hide')
  t.ok(hiddenRoutes.includes('GET /ops/background/api/overview'))
  t.ok(hiddenRoutes.includes('POST /ops/background/api/jobs/:id/:action'))
})

test('access without a guard: loopback sockets only, whatever X-Forwarded-For says', async t => {
  const app = Fastify({ trustProxy: true })
  await app.register(fastifyBackground, { dashboard: '/background' })
  t.teardown(() => app.close())
  for (const remoteAddress of ['127.0.0.1', '127.4.5.6', '::1', '::ffff:127.0.0.1']) {
    t.equal((await app.inject({ url: '/background', remoteAddress })).statusCode, 200, remoteAddress)
  }
  for (const url of ['/background', '/background/assets/dashboard.js', `${API}/overview`]) {
    const refused = await app.inject({ url, remoteAddress: '10.0.0.7', headers: { 'x-forwarded-for': '127.0.0.1' } })
    t.equal(refused.statusCode, 403, url)
    t.equal(refused.json().code, 'FST_BACKGROUND_FORBIDDEN')
  }
  for (const remoteAddress of ['::ffff:10.0.0.7', '128.0.0.1', '::2']) {
    t.equal((await app.inject({ url: '/background', remoteAddress })).statusCode, 403, remoteAddress)
  }
})

test('access with a guard: the guard alone decides, on every route; it may throw or send', async t => {
  const seen: string[] = []
  const { app } = await dashboardApp(t, {
    dashboard: {
      path: '/background',
      guard: async (request, reply) => {
        seen.push(request.url)
        if (request.headers.authorization === 'Bearer letmein') return
        if (request.headers.authorization === undefined) return reply.code(401).send({ message: 'log in' })
        throw Object.assign(new Error('no'), { statusCode: 403 })
      }
    }
  })
  const token = { authorization: 'Bearer letmein' }
  t.equal((await app.inject({ url: '/background', remoteAddress: '10.0.0.7', headers: token })).statusCode, 200, 'a remote client the guard lets in')
  t.equal((await app.inject({ url: `${API}/overview`, headers: token })).statusCode, 200)
  t.same((await app.inject({ url: '/background/assets/dashboard.css' })).json(), { message: 'log in' }, 'the guard sent the reply')
  t.equal((await app.inject({ url: `${API}/overview`, headers: { authorization: 'Basic x' } })).statusCode, 403, 'the guard threw')
  t.equal((await app.inject({ method: 'POST', url: `${API}/tasks/x/pause` })).statusCode, 401, 'the guard runs first on actions too')
  t.equal(seen.length, 5)
  t.equal((await app.inject('/other')).statusCode, 404)
  t.equal(seen.length, 5, 'the guard runs on dashboard routes only')
})

test('a synchronous guard works as well', async t => {
  const { app } = await dashboardApp(t, { dashboard: { path: '/background', guard: () => {} } })
  t.equal((await app.inject({ url: `${API}/overview`, remoteAddress: '10.0.0.7' })).statusCode, 200)
})

test('actions from another origin are refused; same origin and no Origin pass', async t => {
  const { app } = await dashboardApp(t, { tasks: [{ name: 'tick', every: '1h', handler: () => {} }] })
  const post = (origin?: string): Promise<{ statusCode: number, json: () => any }> => app.inject({
    method: 'POST', url: `${API}/tasks/tick/pause`, headers: origin === undefined ? {} : { origin, host: 'ops.example:8080' }
  })
  for (const origin of ['https://evil.example', 'null', 'http://ops.example', 'http://ops.example:8081']) {
    const refused = await post(origin)
    t.equal(refused.statusCode, 403, origin)
    t.equal(refused.json().code, 'FST_BACKGROUND_FORBIDDEN')
  }
  t.equal(app.tasks.get('tick')?.state, 'idle', 'nothing changed')
  t.equal((await post('http://ops.example:8080')).statusCode, 200, 'same origin')
  t.equal(app.tasks.get('tick')?.state, 'paused')
  t.equal((await app.inject({ method: 'POST', url: `${API}/tasks/tick/resume` })).statusCode, 200, 'no Origin: a non-browser client')
  t.equal(app.tasks.get('tick')?.state, 'idle')
})

test('readOnly: the page says so, reads work, and every POST answers 403', async t => {
  const { app } = await dashboardApp(t, { dashboard: { path: '/background', readOnly: true }, tasks: [{ name: 'tick', every: '1h', handler: () => {} }] })
  t.match((await app.inject('/background')).body, /data-read-only="true"/)
  t.equal((await app.inject(`${API}/overview`)).statusCode, 200)
  for (const url of [`${API}/tasks/tick/trigger`, `${API}/tasks/tick/pause`, `${API}/jobs/x/cancel`, `${API}/jobs/x/retry`]) {
    const refused = await app.inject({ method: 'POST', url })
    t.equal(refused.statusCode, 403, url)
    t.equal(refused.json().code, 'FST_BACKGROUND_FORBIDDEN')
  }
  t.match(app.tasks.get('tick'), { state: 'idle', runs: 0 })
})

test('overview: the counts of stats() and every task with its schedule', async t => {
  const { app } = await dashboardApp(t, {
    tasks: [
      { name: 'often', every: '90s', handler: () => {} },
      { name: 'paris', cron: '0 3 * * *', timezone: 'Europe/Paris', handler: () => {} },
      { name: 'local', cron: '*/5 * * * *', handler: () => {} },
      { name: 'poller', loop: true, handler: ({ signal }) => new Promise(resolve => signal.addEventListener('abort', resolve)) }
    ],
    jobs: { ok: () => {} }
  })
  await app.background.enqueue('ok')
  await app.background.drain()
  const overview = (await app.inject(`${API}/overview`)).json()
  t.same(overview.stats, await app.background.stats())
  t.match(overview.stats, { succeeded: 1 })
  const byName = Object.fromEntries(overview.tasks.map((task: { name: string }) => [task.name, task]))
  t.same(byName.often.schedule, { every: 90_000 })
  t.same(byName.paris.schedule, { cron: '0 3 * * *', timezone: 'Europe/Paris' })
  t.same(byName.local.schedule, { cron: '*/5 * * * *', timezone: Intl.DateTimeFormat().resolvedOptions().timeZone }, 'the server’s zone')
  t.same(byName.poller.schedule, { loop: true })
  t.same({ ...byName.often, schedule: undefined, nextRunAt: new Date(byName.often.nextRunAt) }, { ...app.tasks.get('often'), schedule: undefined }, 'the TaskInfo, times in ms')
  await app.tasks.trigger('often')
  const ran = (await app.inject(`${API}/overview`)).json().tasks.find((task: { name: string }) => task.name === 'often')
  const lastRun = app.tasks.get('often')?.lastRun as RunResult
  t.same(ran.lastRun, { ...lastRun, startedAt: lastRun.startedAt.getTime(), finishedAt: lastRun.finishedAt.getTime() }, 'the last run, times in ms')
  t.equal((await app.inject(`${API}/overview`)).headers['cache-control'], 'no-store')
})

test('jobs: list() by status, paged; a job’s detail with its data and result; 400 on a bad query', async t => {
  const { app } = await dashboardApp(t, { jobs: { double: (ctx: JobContext) => (ctx.data as number) * 2, boom: () => { throw new Error('boom') } } })
  const first = await app.background.enqueue('double', 21)
  const failed = await app.background.enqueue('boom', { why: 'test' })
  await app.background.drain()
  t.same((await app.inject(`${API}/jobs`)).json().jobs.map((job: { id: string }) => job.id), [failed.id, first.id], 'newest first')
  t.same((await app.inject(`${API}/jobs?status=failed`)).json().jobs.map((job: { id: string }) => job.id), [failed.id])
  t.same((await app.inject(`${API}/jobs?limit=1&offset=1`)).json().jobs.map((job: { id: string }) => job.id), [first.id])
  for (const query of ['status=lost', 'limit=0', 'limit=1001', 'offset=-1', 'limit=two']) {
    t.equal((await app.inject(`${API}/jobs?${query}`)).statusCode, 400, query)
  }
  t.match((await app.inject(`${API}/jobs/${first.id}`)).json(), { id: first.id, name: 'double', status: 'succeeded', data: 21, result: 42 }, 'the result, though the job does not expose it')
  t.match((await app.inject(`${API}/jobs/${failed.id}`)).json(), { status: 'failed', error: 'boom', data: { why: 'test' } })
  const missing = await app.inject(`${API}/jobs/nope`)
  t.equal(missing.statusCode, 404)
  t.equal(missing.json().code, 'FST_BACKGROUND_JOB_NOT_FOUND')
})

test('a queued or running job’s detail has its data too', async t => {
  const held = gate()
  const { app } = await dashboardApp(t, { concurrency: 1, jobs: { hold: () => held.promise } })
  const running = await app.background.enqueue('hold', 'one')
  const queued = await app.background.enqueue('hold', 'two')
  await until(async () => (await app.background.status(running.id))?.status === 'running')
  t.match((await app.inject(`${API}/jobs/${running.id}`)).json(), { status: 'running', data: 'one' })
  t.match((await app.inject(`${API}/jobs/${queued.id}`)).json(), { status: 'queued', data: 'two' })
  held.open()
  await app.background.drain()
})

test('Run now: 202 while the run goes on, 200 with the skip, 409 for a paused loop, 404 for no such task', async t => {
  const held = gate()
  let runs = 0
  const { app } = await dashboardApp(t, {
    tasks: [
      { name: 'slow', every: '1h', handler: async () => { runs++; await held.promise } },
      { name: 'poller', loop: true, handler: ({ signal }) => new Promise(resolve => signal.addEventListener('abort', resolve)) }
    ]
  })
  const started = await app.inject({ method: 'POST', url: `${API}/tasks/slow/trigger` })
  t.equal(started.statusCode, 202)
  t.same(started.json(), { status: 'started' })
  t.equal(runs, 1)
  const skipped = await app.inject({ method: 'POST', url: `${API}/tasks/slow/trigger` })
  t.equal(skipped.statusCode, 200)
  t.match(skipped.json(), { status: 'skipped' })
  app.tasks.pause('poller')
  const paused = await app.inject({ method: 'POST', url: `${API}/tasks/poller/trigger` })
  t.equal(paused.statusCode, 409)
  t.equal(paused.json().code, 'FST_BACKGROUND_TASK_PAUSED')
  const unknown = await app.inject({ method: 'POST', url: `${API}/tasks/nope/pause` })
  t.equal(unknown.statusCode, 404)
  t.equal(unknown.json().code, 'FST_BACKGROUND_TASK_NOT_FOUND')
  t.equal((await app.inject({ method: 'POST', url: `${API}/tasks/slow/explode` })).statusCode, 400, 'no such action')
  held.open()
  await until(() => app.tasks.get('slow')?.runs === 1)
})

test('Cancel and Retry: 200 with the new status; 409 when there is nothing to do; 404 for no such job', async t => {
  const held = gate()
  const { app } = await dashboardApp(t, { concurrency: 1, jobs: { hold: () => held.promise, boom: () => { throw new Error('boom') } } })
  const running = await app.background.enqueue('hold')
  const failed = await app.background.enqueue('boom')
  const cancelled = await app.inject({ method: 'POST', url: `${API}/jobs/${failed.id}/cancel` })
  t.equal(cancelled.statusCode, 200)
  t.match(cancelled.json(), { id: failed.id, status: 'cancelled' }, 'a queued job')
  const again = await app.inject({ method: 'POST', url: `${API}/jobs/${failed.id}/cancel` })
  t.equal(again.statusCode, 409)
  t.equal(again.json().code, 'FST_BACKGROUND_JOB_FINISHED')
  const notRetryable = await app.inject({ method: 'POST', url: `${API}/jobs/${running.id}/retry` })
  t.equal(notRetryable.statusCode, 409)
  t.equal(notRetryable.json().code, 'FST_BACKGROUND_JOB_NOT_RETRYABLE')
  held.open()
  await app.background.drain()
  const retried = await app.inject({ method: 'POST', url: `${API}/jobs/${failed.id}/retry` })
  t.equal(retried.statusCode, 200)
  t.match(retried.json(), { id: failed.id, status: 'queued' })
  await app.background.drain()
  t.match(await app.background.status(failed.id), { status: 'failed', error: 'boom' }, 'it ran again')
  t.equal((await app.inject({ method: 'POST', url: `${API}/jobs/nope/retry` })).statusCode, 404)
})
