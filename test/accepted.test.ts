import { test } from 'tap'
import Fastify, { type FastifyInstance, type FastifyReply, type LightMyRequestResponse } from 'fastify'
import fastifyBackground from '../lib/index'
import type { BackendAdapter } from '../lib/backends/backend'
import type { Enqueued } from '../lib/core/model'
import { memoryBackend } from '../lib/backends/memory/backend'
import { buildApp, logCapture } from './helpers/app'
import { delay, gate, noUnhandledRejections, until, UUID } from './helpers/jobs'
import type { AcceptedOptions, JobContext } from '../lib/types'

test('reply.accepted() answers 202 with an empty body and queues nothing', async t => {
  const { app } = await buildApp()
  t.teardown(() => app.close())
  app.post('/', async (_request, reply) => reply.accepted())
  const response = await app.inject({ method: 'POST', url: '/' })
  t.equal(response.statusCode, 202)
  t.equal(response.body, '')
  t.equal(response.headers.location, undefined)
  t.same(await app.background.stats(), { queued: 0, running: 0, succeeded: 0, failed: 0, rejected: 0 })
})

test('reply.accepted(fn) queues a function job and answers 202 { id, status: queued }', async t => {
  noUnhandledRejections(t)
  const { app } = await buildApp()
  t.teardown(() => app.close())
  const seen: JobContext[] = []
  let returned: FastifyReply | undefined
  let replied: FastifyReply | undefined
  app.post('/', (_request, reply) => {
    replied = reply
    returned = reply.accepted(ctx => { seen.push(ctx) })
  })
  const response = await app.inject({ method: 'POST', url: '/' })
  t.equal(response.statusCode, 202)
  t.match(response.headers['content-type'], /application\/json/)
  const body = response.json()
  t.same(Object.keys(body).sort(), ['id', 'status'])
  t.match(body.id, UUID)
  t.equal(body.status, 'queued')
  t.equal(response.headers.location, undefined, 'no Location without statusRoute')
  t.equal(returned, replied, 'returns the reply')
  await app.background.drain()
  t.equal(seen.length, 1)
  t.equal(seen[0].id, body.id)
  t.equal(seen[0].name, 'anonymous')
  t.equal(seen[0].data, undefined)
  t.match(await app.background.status(body.id), { id: body.id, name: 'anonymous', status: 'succeeded' })
})

test('reply.accepted(name, data) runs a declared job, given as a function or as { handler, ... }', async t => {
  const { app } = await buildApp({
    jobs: {
      'report.build': async ctx => { calls.push(['report.build', ctx.data]) },
      'mail.send': { handler: ctx => { calls.push(['mail.send', ctx.data]) }, retries: 1, backoff: 10, timeout: 1000 }
    }
  })
  const calls: unknown[] = []
  t.teardown(() => app.close())
  app.post('/report', async (request, reply) => reply.accepted('report.build', request.body))
  app.post('/mail', async (_request, reply) => reply.accepted('mail.send'))

  const report = await app.inject({ method: 'POST', url: '/report', payload: { id: 7 } })
  const mail = await app.inject({ method: 'POST', url: '/mail' })
  t.equal(report.statusCode, 202)
  t.equal(mail.statusCode, 202)
  t.match(report.json(), { id: UUID, status: 'queued' })
  await app.background.drain()
  t.same(calls, [['report.build', { id: 7 }], ['mail.send', undefined]])
  t.match(await app.background.status(report.json().id), { name: 'report.build', status: 'succeeded' })
  t.match(await app.background.status(mail.json().id), { name: 'mail.send', status: 'succeeded' })
})

test('opts: name labels a function job; body replaces the default body; headers are added', async t => {
  const { app } = await buildApp({ statusRoute: '/jobs/:id', jobs: { noop: () => {} } })
  t.teardown(() => app.close())
  app.post('/fn', async (_request, reply) => reply.accepted(() => {}, { name: 'thumbnail', body: { ok: true }, headers: { 'x-job': 'yes' } }))
  app.post('/named', async (_request, reply) => reply.accepted('noop', { a: 1 }, { body: 'taken', headers: { 'cache-control': 'no-store' } }))
  app.post('/labelled', async (_request, reply) => reply.accepted(() => {}, { name: 'thumbnail' }))

  const fn = await app.inject({ method: 'POST', url: '/fn' })
  t.equal(fn.statusCode, 202)
  t.same(fn.json(), { ok: true })
  t.equal(fn.headers['x-job'], 'yes')
  t.match(fn.headers.location, /^\/jobs\/[0-9a-f-]{36}$/, 'Location is set even when the body is replaced')

  const named = await app.inject({ method: 'POST', url: '/named' })
  t.equal(named.statusCode, 202)
  t.equal(named.body, 'taken')
  t.equal(named.headers['cache-control'], 'no-store')

  const labelled = await app.inject({ method: 'POST', url: '/labelled' })
  const { id, status, statusUrl } = labelled.json()
  t.equal(status, 'queued')
  t.equal(statusUrl, `/jobs/${id}`)
  t.equal(labelled.headers.location, statusUrl)
  await app.background.drain()
  t.match(await app.background.status(id), { name: 'thumbnail', status: 'succeeded' })
})

test('the job is stored before the reply is sent, and the response never waits for it (real listener)', async t => {
  noUnhandledRejections(t)
  const { app } = await buildApp()
  t.teardown(() => app.close())
  const release = gate()
  let started = false
  let finished = false
  const statusAtOnSend: unknown[] = []
  app.addHook('onSend', async (_request, reply, payload) => {
    if (reply.statusCode === 202) statusAtOnSend.push((await app.background.status(JSON.parse(String(payload)).id))?.status)
    return payload
  })
  app.post('/', async (_request, reply) => reply.accepted(async () => {
    started = true
    await release.promise
    finished = true
  }))
  const address = await app.listen({ port: 0, host: '127.0.0.1' })

  const response = await fetch(`${address}/`, { method: 'POST' })
  const body = await response.json() as { id: string }
  t.equal(response.status, 202)
  t.same(statusAtOnSend, ['queued'], 'queued before the reply was sent')
  t.notOk(finished, 'the response arrived while the job is still blocked')
  await until(() => started)
  t.match(await app.background.status(body.id), { status: 'running' })
  release.open()
  await app.background.drain()
  t.ok(finished)
  t.match(await app.background.status(body.id), { status: 'succeeded' })
})

test('at most `concurrency` jobs run at once; a flood beyond maxQueued gets 503 QUEUE_FULL and nothing half-queued', async t => {
  noUnhandledRejections(t)
  const { app } = await buildApp({ concurrency: 2, maxQueued: 3 })
  t.teardown(() => app.close())
  const release = gate()
  let running = 0
  let maxRunning = 0
  let calls = 0
  app.post('/', async (_request, reply) => reply.accepted(async () => {
    calls++
    running++
    maxRunning = Math.max(maxRunning, running)
    await release.promise
    await delay(5)
    running--
  }))
  const responses = await Promise.all(Array.from({ length: 12 }, () => app.inject({ method: 'POST', url: '/' })))
  const accepted = responses.filter(response => response.statusCode === 202)
  const refused = responses.filter(response => response.statusCode === 503)
  t.equal(accepted.length, 5, 'concurrency + maxQueued accepted')
  t.equal(refused.length, 7)
  for (const response of refused) {
    t.equal(response.headers['retry-after'], '1')
    t.equal(response.json().code, 'FST_BACKGROUND_QUEUE_FULL')
    t.equal(response.json().statusCode, 503)
  }
  await until(() => running === 2)
  t.same(await app.background.stats(), { queued: 3, running: 2, succeeded: 0, failed: 0, rejected: 7 })
  release.open()
  await app.background.drain()
  t.equal(maxRunning, 2, 'never more than concurrency at once')
  t.equal(calls, 5, 'only accepted jobs ran')
  for (const response of accepted) {
    t.match(await app.background.status(response.json().id), { status: 'succeeded' })
  }
  t.same(await app.background.stats(), { queued: 0, running: 0, succeeded: 5, failed: 0, rejected: 7 })

  // Room again once the queue drained.
  const again = await app.inject({ method: 'POST', url: '/' })
  t.equal(again.statusCode, 202)
})

test('maxQueued: 0 accepts only what can start at once', async t => {
  const { app } = await buildApp({ concurrency: 1, maxQueued: 0 })
  t.teardown(() => app.close())
  const release = gate()
  app.post('/', async (_request, reply) => reply.accepted(() => release.promise))
  const first = await app.inject({ method: 'POST', url: '/' })
  const second = await app.inject({ method: 'POST', url: '/' })
  t.equal(first.statusCode, 202)
  t.equal(second.statusCode, 503)
  t.equal(second.json().code, 'FST_BACKGROUND_QUEUE_FULL')
  release.open()
  await app.background.drain()
})

test('a request that calls reply.accepted after preClose gets 503 CLOSING with Retry-After', async t => {
  noUnhandledRejections(t)
  const { app } = await buildApp()
  const inHandler = gate()
  const release = gate()
  const preClosed = gate()
  let ran = false
  app.addHook('preClose', async () => { preClosed.open() })
  app.post('/', async (_request, reply) => {
    inHandler.open()
    await release.promise
    return reply.accepted(() => { ran = true })
  })
  await app.ready()
  const pending = app.inject({ method: 'POST', url: '/' })
  await inHandler.promise
  const closed = app.close()
  await preClosed.promise
  release.open()
  const response = await pending
  t.equal(response.statusCode, 503)
  t.equal(response.headers['retry-after'], '1')
  t.equal(response.json().code, 'FST_BACKGROUND_CLOSING')
  await closed
  t.notOk(ran, 'nothing was queued')
  t.match(await app.background.stats(), { queued: 0, running: 0, rejected: 1 })
})

test('a request arriving after preClose: 503 CLOSING with Retry-After (real listener, return503OnClosing: false)', async t => {
  for (const return503OnClosing of [false, true]) {
    const { stream } = logCapture()
    const app = Fastify({ return503OnClosing, logger: { level: 'silent', stream } })
    await app.register(fastifyBackground)
    let ran = false
    app.post('/', async (_request, reply) => reply.accepted(() => { ran = true }))
    let late: Response | undefined
    app.addHook('preClose', async () => {
      late = await fetch(`${address}/`, { method: 'POST' })
    })
    const address = await app.listen({ port: 0, host: '127.0.0.1' })
    await app.close()
    t.equal(late?.status, 503)
    if (return503OnClosing) {
      t.equal((await late?.json() as { message: string }).message, 'Service Unavailable', 'Fastify answers before any handler runs')
    } else {
      t.equal(late?.headers.get('retry-after'), '1')
      t.equal((await late?.json() as { code: string }).code, 'FST_BACKGROUND_CLOSING')
      t.match(await app.background.stats(), { queued: 0, running: 0, rejected: 1 })
    }
    t.notOk(ran)
  }
})

test('an unknown job name answers 500 FST_BACKGROUND_UNKNOWN_JOB, prototype names included', async t => {
  noUnhandledRejections(t)
  const { app } = await buildApp({ jobs: { known: () => {} } })
  t.teardown(() => app.close())
  app.post('/:name', async (request, reply) => reply.accepted((request.params as { name: string }).name, { x: 1 }))
  for (const name of ['missing', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf']) {
    const response = await app.inject({ method: 'POST', url: `/${name}` })
    t.equal(response.statusCode, 500, name)
    t.equal(response.json().code, 'FST_BACKGROUND_UNKNOWN_JOB', name)
    t.match(response.json().message, name)
  }
  const ok = await app.inject({ method: 'POST', url: '/known' })
  t.equal(ok.statusCode, 202)
  await app.background.drain()
  t.same(await app.background.stats(), { queued: 0, running: 0, succeeded: 1, failed: 0, rejected: 0 })
})

test('a non-string, non-function target is an unknown job', async t => {
  const { app } = await buildApp()
  t.teardown(() => app.close())
  app.post('/', async (_request, reply) => (reply.accepted as (target: unknown) => FastifyReply)(42))
  const response = await app.inject({ method: 'POST', url: '/' })
  t.equal(response.statusCode, 500)
  t.equal(response.json().code, 'FST_BACKGROUND_UNKNOWN_JOB')
})

test('an invalid header in opts.headers answers 500 like Fastify does; no unhandled rejection, no hanging request', async t => {
  noUnhandledRejections(t)
  const { app } = await buildApp()
  t.teardown(() => app.close())
  app.post('/name', async (_request, reply) => reply.accepted(() => {}, { headers: { 'bad header\n': 'x' } }))
  app.post('/value', async (_request, reply) => reply.accepted(() => {}, { headers: { 'x-a': 'a\nb' } }))
  const name = await app.inject({ method: 'POST', url: '/name' })
  t.equal(name.statusCode, 500)
  t.equal(name.json().code, 'ERR_INVALID_HTTP_TOKEN')
  const value = await app.inject({ method: 'POST', url: '/value' })
  t.equal(value.statusCode, 500)
  t.equal(value.json().code, 'ERR_INVALID_CHAR')
  await app.background.drain()
})

/** The in-process backend answering `enqueue` a turn later, as a backend on a server does; `id` may replace the id it answers. */
function backendAnswering (async: boolean, id?: (real: string) => string): BackendAdapter {
  const inner = memoryBackend()
  return {
    ...inner,
    enqueue: request => {
      const real = inner.enqueue(request) as Enqueued
      const answer = { ...real, id: (id ?? (same => same))(real.id) }
      return async ? Promise.resolve(answer) : answer
    }
  }
}

/** The response, or 'hung' when it did not come within a second. */
async function answered (app: FastifyInstance, url: string): Promise<LightMyRequestResponse | 'hung'> {
  return await Promise.race([app.inject({ method: 'POST', url }), delay(1000).then(() => 'hung' as const)])
}

test('a throw while answering 202 is answered 500 like Fastify does, from the backend at once or a turn later; the handler goes on', async t => {
  noUnhandledRejections(t)
  const throwing = (thrown: unknown): AcceptedOptions['headers'] => ({ get 'x-a' (): string { throw thrown } })
  const cases: Array<[string, AcceptedOptions['headers'], RegExp]> = [
    ['/getter', throwing(new Error('header getter failed')), /^header getter failed$/],
    ['/string', throwing('not an error'), /not an error/],
    ['/null', null as unknown as AcceptedOptions['headers'], /./]
  ]
  for (const async of [false, true]) {
    const { app } = await buildApp({ backend: backendAnswering(async) })
    t.teardown(() => app.close())
    const reached: string[] = []
    for (const [url, headers] of cases) {
      app.post(url, (_request, reply) => {
        reply.accepted(() => {}, { headers })
        reached.push(url)
      })
    }
    for (const [url, , message] of cases) {
      const response = await answered(app, url)
      t.not(response, 'hung', `${url}, async: ${async}`)
      if (response === 'hung') continue
      t.equal(response.statusCode, 500, url)
      t.match(response.json(), { statusCode: 500, message }, url)
      t.equal(response.headers['x-a'], undefined)
    }
    t.same(reached, cases.map(([url]) => url), 'reply.accepted did not throw into the handler')
    await app.background.drain()
  }
})

test('a status URL that cannot be built (an id encodeURIComponent refuses) is answered 500, at once or a turn later', async t => {
  noUnhandledRejections(t)
  for (const async of [false, true]) {
    const { app } = await buildApp({ statusRoute: '/jobs/:id', backend: backendAnswering(async, () => '\uD800') })
    t.teardown(() => app.close())
    app.post('/', async (_request, reply) => reply.accepted(() => {}))
    const response = await answered(app, '/')
    t.not(response, 'hung', `async: ${async}`)
    if (response === 'hung') continue
    t.equal(response.statusCode, 500)
    t.match(response.json(), { statusCode: 500, message: 'URI malformed' })
    t.equal(response.headers.location, undefined)
    await app.background.drain()
  }
})

test('a backend that fails with a value that is not an Error is answered 500, not sent as the 202 body', async t => {
  noUnhandledRejections(t)
  for (const async of [false, true]) {
    const thrown: unknown = 'store gone'
    const backend: BackendAdapter = {
      ...memoryBackend(),
      enqueue: () => {
        if (async) return Promise.reject(thrown)
        throw thrown
      }
    }
    const { app } = await buildApp({ backend })
    t.teardown(() => app.close())
    app.post('/', async (_request, reply) => reply.accepted(() => {}))
    const response = await answered(app, '/')
    t.not(response, 'hung', `async: ${async}`)
    if (response === 'hung') continue
    t.equal(response.statusCode, 500)
    t.match(response.json(), { message: /store gone/ })
  }
})

test('an unknown job name that is not a string, or very long, answers FST_BACKGROUND_UNKNOWN_JOB with a short message', async t => {
  const { app } = await buildApp()
  app.post('/', async (_request, reply) => reply.accepted(Object.create(null)))
  app.post('/long', async (_request, reply) => reply.accepted('a'.repeat(10_000)))
  await app.ready()
  t.teardown(() => app.close())
  const response = await app.inject({ method: 'POST', url: '/' })
  t.equal(response.statusCode, 500)
  t.match(response.json(), { code: 'FST_BACKGROUND_UNKNOWN_JOB', message: /"{}"/ })
  const long = await app.inject({ method: 'POST', url: '/long' })
  t.match(long.json(), { code: 'FST_BACKGROUND_UNKNOWN_JOB' })
  t.ok(long.body.length < 500, 'the name is cut short')
  await t.rejects(app.background.enqueue(Object.create(null)), { code: 'FST_BACKGROUND_UNKNOWN_JOB' })
})
