import { test } from 'tap'
import Fastify from 'fastify'
import fastifyBackground from '../lib/index'
import { buildApp, logCapture } from './helpers/app'
import { gate, until, UUID } from './helpers/jobs'

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

test('statusRoute: Location and statusUrl point at a GET route that answers the JobStatus as JSON', async t => {
  const { app } = await buildApp({ statusRoute: '/jobs/:id', jobs: { leaky: () => ({ token: 'result-secret' }) } })
  t.teardown(() => app.close())
  const release = gate()
  app.post('/work', async (_request, reply) => reply.accepted(() => release.promise, { name: 'work' }))
  app.post('/secret', async (_request, reply) => reply.accepted('leaky', { password: 'data-secret' }))

  const accepted = await app.inject({ method: 'POST', url: '/work' })
  const { id, statusUrl } = accepted.json()
  t.match(id, UUID)
  t.equal(statusUrl, `/jobs/${id}`)
  t.equal(accepted.headers.location, statusUrl)

  const queuedOrRunning = await app.inject(statusUrl)
  t.equal(queuedOrRunning.statusCode, 200)
  t.match(queuedOrRunning.headers['content-type'], /application\/json/)
  t.match(queuedOrRunning.json(), { id, name: 'work', status: /^(queued|running)$/, enqueuedAt: ISO })
  release.open()
  await app.background.drain()

  const done = (await app.inject(statusUrl)).json()
  t.same(Object.keys(done).sort(), ['attempt', 'enqueuedAt', 'finishedAt', 'id', 'name', 'startedAt', 'status'])
  t.match(done, { id, name: 'work', status: 'succeeded', enqueuedAt: ISO, startedAt: ISO, finishedAt: ISO })

  const secret = await app.inject({ method: 'POST', url: '/secret' })
  await app.background.drain()
  const secretStatus = await app.inject(secret.headers.location as string)
  t.equal(secretStatus.statusCode, 200)
  t.notMatch(secretStatus.body, /secret|token|password/, 'no data or result exposed')
})

test('statusRoute: a failed job shows its message only, never the stack', async t => {
  const { app } = await buildApp({ statusRoute: '/jobs/:id' })
  t.teardown(() => app.close())
  app.post('/', async (_request, reply) => reply.accepted(() => { throw new Error('it broke') }))
  const response = await app.inject({ method: 'POST', url: '/' })
  await app.background.drain()
  const status = await app.inject(response.headers.location as string)
  t.equal(status.statusCode, 200)
  t.same(Object.keys(status.json()).sort(), ['attempt', 'enqueuedAt', 'error', 'finishedAt', 'id', 'name', 'startedAt', 'status'])
  t.match(status.json(), { status: 'failed', error: 'it broke' })
  t.notMatch(status.body, /\bat\b.*\.ts/)
})

test('statusRoute: unknown, long, encoded and traversal-like ids are 404, never 500', async t => {
  const { app } = await buildApp({ statusRoute: '/jobs/:id' })
  t.teardown(() => app.close())
  await app.ready()
  const ids = [
    '00000000-0000-4000-8000-000000000000',
    'nope',
    'x'.repeat(100),
    '%2E%2E%2F%2E%2E%2Fetc%2Fpasswd',
    '..%2F..%2F..%2Fetc%2Fpasswd',
    '%00',
    '__proto__',
    'constructor',
    '%F0%9F%92%A5',
    '%3Cscript%3E'
  ]
  for (const id of ids) {
    const response = await app.inject(`/jobs/${id}`)
    t.equal(response.statusCode, 404, id.slice(0, 40))
  }
  // Beyond Fastify's maxParamLength (100 by default) the router answers 414 before any handler runs.
  const long = await app.inject(`/jobs/${'x'.repeat(5000)}`)
  t.equal(long.statusCode, 414)
  const traversal = await app.inject('/jobs/../jobs/x')
  t.equal(traversal.statusCode, 404)
  const badEncoding = await app.inject('/jobs/%E0%A4%A')
  t.ok(badEncoding.statusCode >= 400 && badEncoding.statusCode < 500, `bad encoding: ${badEncoding.statusCode}`)
  const found = await app.inject('/jobs/nope')
  t.equal(found.json().code, 'FST_BACKGROUND_JOB_NOT_FOUND')
})

test('statusRoute with another param name and a suffix', async t => {
  const { app } = await buildApp({ statusRoute: '/background/:jobId/status' })
  t.teardown(() => app.close())
  app.post('/', async (_request, reply) => reply.accepted(() => {}))
  const response = await app.inject({ method: 'POST', url: '/' })
  const { id } = response.json()
  t.equal(response.headers.location, `/background/${id}/status`)
  await app.background.drain()
  t.match((await app.inject(`/background/${id}/status`)).json(), { id, status: 'succeeded' })
})

test('statusRoute under a register prefix: Location includes the prefix and resolves', async t => {
  const { stream } = logCapture()
  const app = Fastify({ logger: { level: 'silent', stream } })
  t.teardown(() => app.close())
  await app.register(async api => {
    await api.register(fastifyBackground, { statusRoute: '/jobs/:id' })
    api.post('/work', async (_request, reply) => reply.accepted(() => {}))
  }, { prefix: '/api/v1' })
  const response = await app.inject({ method: 'POST', url: '/api/v1/work' })
  t.equal(response.statusCode, 202)
  const { id, statusUrl } = response.json()
  t.equal(statusUrl, `/api/v1/jobs/${id}`)
  t.equal(response.headers.location, statusUrl)
  const status = await app.inject(statusUrl)
  t.equal(status.statusCode, 200)
  t.match(status.json(), { id })
})

test('statusRoute with the plugin registered with its own prefix option: Location always resolves', async t => {
  const { stream } = logCapture()
  const app = Fastify({ logger: { level: 'silent', stream } })
  t.teardown(() => app.close())
  await app.register(fastifyBackground, { prefix: '/ignored', statusRoute: '/jobs/:id' })
  app.post('/work', async (_request, reply) => reply.accepted(() => {}))
  const response = await app.inject({ method: 'POST', url: '/work' })
  const location = response.headers.location as string
  const status = await app.inject(location)
  t.equal(status.statusCode, 200, `GET ${location}`)
})

test('without statusRoute, no status route exists', async t => {
  const { app } = await buildApp()
  t.teardown(() => app.close())
  await app.ready()
  const { id } = await app.background.enqueue(() => {})
  await app.background.drain()
  t.equal((await app.inject(`/jobs/${id}`)).statusCode, 404)
  t.equal(app.hasRoute({ method: 'GET', url: '/jobs/:id' }), false)
})

test('the status route shows progress and attempt, the result only with exposeResult, and Retry-After while queued or running', async t => {
  const release = gate()
  const { app } = await buildApp({
    statusRoute: '/jobs/:id',
    concurrency: 1,
    jobs: {
      shown: { exposeResult: true, handler: async ctx => { await ctx.progress({ done: 3 }); await release.promise; return { url: '/r/1' } } },
      hidden: async ctx => { await ctx.progress(100); return { token: 'secret' } }
    }
  })
  t.teardown(() => app.close())
  await app.ready()
  const shown = await app.background.enqueue('shown')
  const hidden = await app.background.enqueue('hidden')
  await until(async () => (await app.background.status(shown.id))?.progress !== undefined)
  const running = await app.inject(`/jobs/${shown.id}`)
  t.equal(running.headers['retry-after'], '1')
  t.match(running.json(), { status: 'running', attempt: 1, progress: { done: 3 } })
  const queued = await app.inject(`/jobs/${hidden.id}`)
  t.equal(queued.headers['retry-after'], '1')
  t.equal(queued.json().status, 'queued')
  release.open()
  await app.background.drain()
  const done = await app.inject(`/jobs/${shown.id}`)
  t.equal(done.headers['retry-after'], undefined, 'no Retry-After once it has ended')
  t.same(done.json().result, { url: '/r/1' })
  const secret = await app.inject(`/jobs/${hidden.id}`)
  t.equal(secret.json().progress, 100)
  t.notOk('result' in secret.json(), 'a result is not shown unless the job exposes it')
  t.notOk(secret.body.includes('secret'))
  t.same((await app.background.status(hidden.id))?.result, { token: 'secret' }, 'status(id) has it')
})

test('statusRoute { path, cancel: true }: DELETE cancels (200), 404 for an unknown id, 409 for a job that has ended', async t => {
  const release = gate()
  const { app } = await buildApp({
    statusRoute: { path: '/jobs/:id', cancel: true },
    concurrency: 1,
    jobs: { slow: ctx => new Promise<void>(resolve => ctx.signal.addEventListener('abort', () => resolve())), quick: () => release.promise }
  })
  t.teardown(() => app.close())
  await app.ready()
  const running = await app.background.enqueue('slow')
  const queued = await app.background.enqueue('quick')
  await until(async () => (await app.background.status(running.id))?.status === 'running')
  const cancelQueued = await app.inject({ method: 'DELETE', url: `/jobs/${queued.id}` })
  t.equal(cancelQueued.statusCode, 200)
  t.match(cancelQueued.json(), { id: queued.id, status: 'cancelled' })
  const cancelRunning = await app.inject({ method: 'DELETE', url: `/jobs/${running.id}` })
  t.equal(cancelRunning.statusCode, 200)
  t.match(cancelRunning.json(), { id: running.id, status: 'cancelled', error: /cancelled on request/ })
  const again = await app.inject({ method: 'DELETE', url: `/jobs/${running.id}` })
  t.equal(again.statusCode, 409)
  t.equal(again.json().code, 'FST_BACKGROUND_JOB_FINISHED')
  const unknown = await app.inject({ method: 'DELETE', url: '/jobs/nope' })
  t.equal(unknown.statusCode, 404)
  t.equal(unknown.json().code, 'FST_BACKGROUND_JOB_NOT_FOUND')
  const accepted = await app.inject({ method: 'GET', url: `/jobs/${queued.id}` })
  t.equal(accepted.statusCode, 200, 'the GET route is there too')
})

test('the string form of statusRoute adds no DELETE', async t => {
  const { app } = await buildApp({ statusRoute: '/jobs/:id' })
  t.teardown(() => app.close())
  const { id } = await app.background.enqueue(() => {})
  const reply = await app.inject({ method: 'DELETE', url: `/jobs/${id}` })
  t.equal(reply.statusCode, 404)
  t.match(reply.json().message, /Route DELETE:\/jobs\/.* not found/)
})
