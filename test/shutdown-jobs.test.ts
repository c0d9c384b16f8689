import { test } from 'tap'
import Fastify from 'fastify'
import { fastifyAwilixPlugin } from '@fastify/awilix'
import { asFunction, asValue, createContainer } from 'awilix'
import fastifyBackground from '../lib/index'
import { buildApp, LEVEL, linesWith, logCapture } from './helpers/app'
import { delay, gate, noUnhandledRejections, until } from './helpers/jobs'

test('close runs queued and running jobs to the end within shutdownTimeout', async t => {
  noUnhandledRejections(t)
  const { app, lines } = await buildApp({ concurrency: 1, shutdownTimeout: 5000 })
  await app.ready()
  const finished: number[] = []
  const ids: string[] = []
  for (let i = 0; i < 4; i++) {
    ids.push((await app.background.enqueue(async () => { await delay(20); finished.push(i) })).id)
  }
  await app.close()
  t.same(finished, [0, 1, 2, 3])
  for (const id of ids) t.match(await app.background.status(id), { status: 'succeeded' })
  t.same(linesWith(lines, 'abandoned', LEVEL.warn), [])
})

test('past shutdownTimeout: signals abort, abandoned jobs are logged at warn and marked cancelled, close resolves', async t => {
  noUnhandledRejections(t)
  const { app, lines } = await buildApp({ concurrency: 2, shutdownTimeout: 100, jobs: { stuck: () => {} } })
  const reasons: unknown[] = []
  app.post('/', async (_request, reply) => reply.accepted(ctx => new Promise<void>((_resolve, reject) => {
    ctx.signal.addEventListener('abort', () => { reasons.push(ctx.signal.reason); reject(ctx.signal.reason) })
  })))
  app.post('/queued', async (_request, reply) => reply.accepted('stuck', { x: 1 }))
  const running = [
    (await app.inject({ method: 'POST', url: '/' })).json().id,
    (await app.inject({ method: 'POST', url: '/' })).json().id
  ]
  const queued = (await app.inject({ method: 'POST', url: '/queued' })).json().id
  await until(async () => (await app.background.stats()).running === 2)
  const started = Date.now()
  await app.close()
  const took = Date.now() - started
  t.ok(took >= 95 && took < 1000, `close took ${took} ms`)
  t.match(reasons, [{ code: 'FST_BACKGROUND_CANCELLED' }, { code: 'FST_BACKGROUND_CANCELLED' }])
  for (const id of [...running, queued]) {
    const status = await app.background.status(id)
    t.equal(status?.status, 'cancelled', id)
    t.match(status?.error, /shutdown timeout/)
  }
  t.equal((await app.background.status(queued))?.startedAt, undefined, 'the queued job never started')
  const warned = lines.filter(line => line.level === LEVEL.warn && line.jobId !== undefined && /shutdown/.test(line.msg))
  t.same(new Set(warned.map(line => line.jobId)), new Set([...running, queued]), 'each abandoned job is logged by id')
  t.ok(warned.every(line => typeof line.reqId === 'string'), 'with the request id')
  t.match(await app.background.stats(), { queued: 0, running: 0, succeeded: 0, failed: 0 })
})

test('a job that returns once its signal aborts at the shutdown timeout is cancelled, not succeeded', async t => {
  noUnhandledRejections(t)
  const { app } = await buildApp({ shutdownTimeout: 50 })
  await app.ready()
  const { id } = await app.background.enqueue(async ctx => { await ctx.sleep(60_000) })
  await until(async () => (await app.background.status(id))?.status === 'running')
  await app.close()
  t.match(await app.background.status(id), { status: 'cancelled' })
})

test('a job that ignores its signal is abandoned after the 1 s grace; close never hangs; a late rejection is ignored', async t => {
  noUnhandledRejections(t)
  const { app, lines } = await buildApp({ shutdownTimeout: 50 })
  await app.ready()
  const never = gate()
  const late = gate()
  const { id: hangs } = await app.background.enqueue(() => never.promise)
  const { id: rejectsLate } = await app.background.enqueue(async () => {
    await late.promise
    throw new Error('too late')
  })
  await until(async () => (await app.background.stats()).running === 2)
  const started = Date.now()
  await app.close()
  const took = Date.now() - started
  t.ok(took >= 1000 && took < 3000, `close took ${took} ms`)
  t.match(await app.background.status(hangs), { status: 'cancelled' })
  t.match(await app.background.status(rejectsLate), { status: 'cancelled' })
  t.equal(linesWith(lines, 'did not settle after abort', LEVEL.warn).length, 2)
  late.open()
  await delay(10)
  const ignored = linesWith(lines, 'rejected after it was abandoned', LEVEL.warn)
  t.equal(ignored.length, 1)
  t.equal(ignored[0].jobId, rejectsLate)
  t.match(await app.background.status(rejectsLate), { status: 'cancelled' }, 'the late rejection changes nothing')
  never.open()
})

test('a job waiting to retry at the shutdown timeout is cancelled at once', async t => {
  noUnhandledRejections(t)
  const { app } = await buildApp({
    shutdownTimeout: 50,
    jobs: { flaky: { retries: 3, backoff: 60_000, handler: () => { throw new Error('flaky') } } }
  })
  await app.ready()
  const { id } = await app.background.enqueue('flaky')
  await until(async () => (await app.background.status(id))?.status === 'queued' && (await app.background.stats()).queued === 1)
  const started = Date.now()
  await app.close()
  t.ok(Date.now() - started < 1000)
  t.match(await app.background.status(id), { status: 'cancelled' })
})

test('close during a burst: every accepted job ends succeeded, or cancelled and logged', async t => {
  noUnhandledRejections(t)
  const { app, lines } = await buildApp({ concurrency: 4, maxQueued: 40, shutdownTimeout: 150 })
  app.post('/', async (_request, reply) => reply.accepted(async ctx => { await ctx.sleep(Math.random() * 40) }))
  await app.ready()
  const responses: Array<Promise<{ statusCode: number, body: string }>> = []
  let closing: Promise<undefined> | undefined
  for (let i = 0; i < 80; i++) {
    if (i === 40) closing = app.close()
    responses.push(app.inject({ method: 'POST', url: '/' }).catch(error => ({ statusCode: 0, body: String(error) })))
    if (i % 10 === 0) await delay(1)
  }
  const settled = await Promise.all(responses)
  await closing
  const acceptedIds = settled.filter(response => response.statusCode === 202).map(response => JSON.parse(response.body).id as string)
  t.ok(acceptedIds.length > 0, `${acceptedIds.length} accepted`)
  const logged = new Set(lines.filter(line => line.level === LEVEL.warn && line.jobId !== undefined).map(line => line.jobId))
  for (const id of acceptedIds) {
    const status = await app.background.status(id)
    if (status?.status === 'succeeded') continue
    t.equal(status?.status, 'cancelled', id)
    t.ok(logged.has(id), `cancelled job ${id} was logged`)
  }
  for (const response of settled.filter(response => response.statusCode !== 202)) {
    t.ok(response.statusCode === 503 || response.statusCode === 0, `refused: ${response.statusCode}`)
  }
  t.match(await app.background.stats(), { queued: 0, running: 0 })
})

test('jobs queued before ready are cancelled and logged when the app closes without starting them', async t => {
  const { app, lines } = await buildApp({ shutdownTimeout: 20 })
  const { id } = await app.background.enqueue(() => {})
  const drained = app.background.drain()
  await app.close()
  const status = await app.background.status(id)
  t.ok(status?.status === 'cancelled' || status?.status === 'succeeded', `status ${status?.status}`)
  if (status?.status === 'cancelled') t.equal(linesWith(lines, 'never started', LEVEL.warn)[0]?.jobId, id)
  const result = await Promise.race([drained.then(() => 'drained'), delay(500).then(() => 'pending')])
  t.equal(result, 'drained', 'a drain() waiting at close resolves')
})

test('a job in its timeout grace at the shutdown deadline stays a timeout: failed, not cancelled', async t => {
  noUnhandledRejections(t)
  const { app, lines } = await buildApp({ shutdownTimeout: 80, jobs: { slow: { timeout: 20, handler: () => new Promise(() => {}) } } })
  await app.ready()
  const { id } = await app.background.enqueue('slow')
  await until(async () => (await app.background.status(id))?.status === 'running')
  await app.close()
  t.match(await app.background.status(id), { status: 'failed', error: 'Timed out after 20 ms' })
  t.equal(linesWith(lines, 'still running at the shutdown timeout', LEVEL.warn)[0]?.jobId, id)
  t.equal(linesWith(lines, 'did not settle after abort', LEVEL.warn).length, 1)
})

test('registered after @fastify/awilix, jobs drain at close before the container is disposed', async t => {
  noUnhandledRejections(t)
  const { stream } = logCapture()
  const app = Fastify({ logger: { level: 'silent', stream } })
  const container = createContainer<{ db: { closed: boolean }, pool: { closed: boolean } }>({ injectionMode: 'PROXY' })
  const db = { closed: false }
  container.register({ db: asValue(db) })
  container.register({ pool: asFunction(() => db).singleton().disposer(value => { value.closed = true }) })
  await app.register(fastifyAwilixPlugin, { container, disposeOnClose: true, disposeOnResponse: true })
  await app.register(fastifyBackground, { shutdownTimeout: 5000 })
  await app.ready()
  const seen: boolean[] = []
  t.equal(container.cradle.pool, db, 'the singleton exists, so closing the container disposes it')
  await app.background.enqueue(async ctx => {
    await delay(50)
    seen.push(ctx.cradle.pool.closed)
  })
  await app.close()
  t.same(seen, [false], 'the job ran to its end with the resource open')
  t.equal(db.closed, true, 'then the container was disposed')
})

test('close never hangs on a job whose scope disposer does not settle', async t => {
  noUnhandledRejections(t)
  let release = (): void => {}
  const disposed = new Promise<void>(resolve => { release = resolve })
  const container = createContainer()
  container.register('stuck', asFunction(() => ({})).scoped().disposer(() => disposed))
  const { app, lines } = await buildApp({ container, shutdownTimeout: 50 })
  await app.ready()
  const { id } = await app.background.enqueue(ctx => { ctx.cradle.stuck.touched = true })
  await until(async () => (await app.background.status(id))?.status === 'running')
  const started = Date.now()
  await app.close()
  const took = Date.now() - started
  t.ok(took >= 2000 && took < 3000, `shutdownTimeout, then the grace and as long again for disposers (${took} ms)`)
  t.match(await app.background.status(id), { status: 'cancelled', error: /shutdown timeout/ })
  const [line] = linesWith(lines, 'did not finish disposing', LEVEL.warn)
  t.equal(line?.jobId, id, 'the abandoned job is logged by id')
  t.match(await app.background.stats(), { queued: 0, running: 0 })
  release()
  await delay(10)
  t.match(await app.background.status(id), { status: 'cancelled' }, 'a disposer that settles after close changes nothing')
  t.match(await app.background.stats(), { running: 0, succeeded: 0, failed: 0 })
})
