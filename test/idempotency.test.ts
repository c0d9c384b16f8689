import { test, type Test } from 'tap'
import { buildApp } from './helpers/app'
import { gate, noUnhandledRejections } from './helpers/jobs'
import { fakeApp, guardUnhandled } from './helpers/tasks'
import type { FastifyBackgroundOptions } from '../lib/types'

async function idempotentApp (t: Test, options: FastifyBackgroundOptions = {}) {
  const release = gate()
  let runs = 0
  const built = await buildApp({
    idempotency: true,
    statusRoute: '/jobs/:id',
    jobs: { charge: async () => { runs++; await release.promise } },
    ...options
  })
  built.app.post('/charges', async (request, reply) => reply.accepted('charge', request.body))
  built.app.post('/fn', async (_request, reply) => reply.accepted(async () => { runs++ }))
  t.teardown(() => built.app.close())
  await built.app.ready()
  return { ...built, release, runs: () => runs }
}

test('the same request with the same Idempotency-Key answers the same 202 and enqueues nothing, also after the job finished', async t => {
  noUnhandledRejections(t)
  const { app, release, runs } = await idempotentApp(t)
  const send = () => app.inject({ method: 'POST', url: '/charges', payload: { amount: 5 }, headers: { 'idempotency-key': 'order-1' } })
  const first = await send()
  t.equal(first.statusCode, 202)
  const { id } = first.json()
  const again = await send()
  t.equal(again.statusCode, 202)
  t.equal(again.json().id, id)
  t.equal(again.headers.location, first.headers.location)
  t.match(again.json().status, /queued|running/)
  release.open()
  await app.background.drain()
  const later = await send()
  t.same(later.json(), { id, status: 'succeeded', statusUrl: `/jobs/${id}` }, 'its current status')
  t.equal(runs(), 1, 'one job for three requests')
  t.same((await app.background.list()).map(job => job.id), [id])
})

test('the same key with other data is 422; a malformed key is 400; requests without the header are not affected', async t => {
  noUnhandledRejections(t)
  const { app, release } = await idempotentApp(t)
  release.open()
  const post = (payload: unknown, key?: string) => app.inject({ method: 'POST', url: '/charges', payload: payload as object, headers: key === undefined ? {} : { 'idempotency-key': key } })
  t.equal((await post({ amount: 5 }, 'k')).statusCode, 202)
  const mismatch = await post({ amount: 6 }, 'k')
  t.equal(mismatch.statusCode, 422)
  t.equal(mismatch.json().code, 'FST_BACKGROUND_IDEMPOTENCY_MISMATCH')
  for (const key of ['', 'x'.repeat(256)]) {
    const malformed = await post({ amount: 5 }, key)
    t.equal(malformed.statusCode, 400, `key of ${key.length} characters`)
    t.equal(malformed.json().code, 'FST_BACKGROUND_INVALID_IDEMPOTENCY_KEY')
  }
  t.equal((await post({ amount: 5 }, 'x'.repeat(255))).statusCode, 202, '255 characters are fine')
  const plain = [await post({ amount: 5 }), await post({ amount: 5 })]
  t.not(plain[0].json().id, plain[1].json().id)
  await app.background.drain()
  t.match(await app.background.stats(), { succeeded: 4, rejected: 0 })
})

test('function jobs: the key alone decides; keys are per job name', async t => {
  noUnhandledRejections(t)
  const { app, release, runs } = await idempotentApp(t)
  release.open()
  const headers = { 'idempotency-key': 'same' }
  const a = await app.inject({ method: 'POST', url: '/fn', headers })
  const b = await app.inject({ method: 'POST', url: '/fn', headers })
  t.equal(a.json().id, b.json().id)
  const charge = await app.inject({ method: 'POST', url: '/charges', payload: { amount: 1 }, headers })
  t.not(charge.json().id, a.json().id, 'another job name, another job')
  await app.background.drain()
  t.equal(runs(), 2)
})

test('a custom header: only that header counts', async t => {
  noUnhandledRejections(t)
  const { app, release } = await idempotentApp(t, { idempotency: { header: 'X-Request-Id' } })
  release.open()
  const post = (headers: Record<string, string>) => app.inject({ method: 'POST', url: '/charges', payload: { amount: 1 }, headers })
  const first = await post({ 'x-request-id': 'r1' })
  t.equal((await post({ 'x-request-id': 'r1' })).json().id, first.json().id)
  const ignored = await post({ 'idempotency-key': 'r1' })
  t.not(ignored.json().id, first.json().id, 'the default header is not read')
  await app.background.drain()
})

test('many requests at once with one key make one job', async t => {
  noUnhandledRejections(t)
  const { app, release, runs } = await idempotentApp(t)
  const replies = await Promise.all(Array.from({ length: 50 }, () =>
    app.inject({ method: 'POST', url: '/charges', payload: { amount: 9 }, headers: { 'idempotency-key': 'burst' } })))
  t.same(new Set(replies.map(reply => reply.statusCode)), new Set([202]))
  t.equal(new Set(replies.map(reply => reply.json().id)).size, 1)
  release.open()
  await app.background.drain()
  t.equal(runs(), 1)
})

test('a key is remembered for ttl after its job finished, then a request makes a new job', async t => {
  guardUnhandled(t)
  const { app, clock } = await fakeApp(t, { idempotency: { ttl: '1m' }, jobs: { charge: () => {} } })
  app.post('/charges', async (request, reply) => reply.accepted('charge', request.body))
  await app.ready()
  const send = () => app.inject({ method: 'POST', url: '/charges', payload: { amount: 1 }, headers: { 'idempotency-key': 'k' } })
  const first = (await send()).json().id
  await clock.tickAsync(10)
  await clock.tickAsync(59_000)
  t.equal((await send()).json().id, first, 'within the ttl')
  await clock.tickAsync(1_000)
  t.not((await send()).json().id, first, 'after it')
})

test('a request refused (queue full) leaves its key free for its retry', async t => {
  noUnhandledRejections(t)
  const hold = gate()
  const { app } = await buildApp({ idempotency: true, concurrency: 1, maxQueued: 0, jobs: { charge: () => hold.promise } })
  t.teardown(() => app.close())
  app.post('/charges', async (request, reply) => reply.accepted('charge', request.body))
  await app.ready()
  await app.background.enqueue('charge', {})
  const full = await app.inject({ method: 'POST', url: '/charges', payload: { amount: 1 }, headers: { 'idempotency-key': 'k' } })
  t.equal(full.statusCode, 503)
  t.equal(full.headers['retry-after'], '1')
  hold.open()
  await app.background.drain()
  const retried = await app.inject({ method: 'POST', url: '/charges', payload: { amount: 1 }, headers: { 'idempotency-key': 'k' } })
  t.equal(retried.statusCode, 202)
})

test('a named job enqueued without data is idempotent too', async t => {
  noUnhandledRejections(t)
  let runs = 0
  const { app } = await buildApp({ idempotency: true, jobs: { ping: () => { runs++ } } })
  t.teardown(() => app.close())
  app.post('/ping', async (_request, reply) => reply.accepted('ping'))
  await app.ready()
  const send = () => app.inject({ method: 'POST', url: '/ping', headers: { 'idempotency-key': 'p' } })
  t.equal((await send()).json().id, (await send()).json().id)
  await app.background.drain()
  t.equal(runs, 1)
})
