import { test } from 'tap'
import Fastify from 'fastify'
import { fastifyAwilixPlugin } from '@fastify/awilix'
import { asFunction, asValue, createContainer, type AwilixContainer } from 'awilix'
import fastifyBackground from '../lib/index'
import { buildApp, LEVEL, linesWith, logCapture } from './helpers/app'
import { delay, gate, noUnhandledRejections, until, UUID } from './helpers/jobs'
import type { JobContext } from '../lib/types'

test('the job context: id, name, data, attempt, scope, cradle, signal, log, app', async t => {
  noUnhandledRejections(t)
  const container = createContainer()
  container.register({ greeting: asValue('hello') })
  const { app, lines } = await buildApp({ container, jobs: { 'report.build': ctx => { seen.push(ctx) } } })
  const seen: JobContext[] = []
  const observed: Array<Record<string, unknown>> = []
  t.teardown(() => app.close())
  const record = (ctx: JobContext): void => {
    observed.push({
      id: ctx.id,
      name: ctx.name,
      data: ctx.data,
      attempt: ctx.attempt,
      scopeIsNew: ctx.scope !== container,
      greeting: ctx.cradle.greeting,
      cradleIsScopeCradle: ctx.cradle === ctx.scope.cradle,
      signal: ctx.signal instanceof AbortSignal && !ctx.signal.aborted,
      app: ctx.app === app
    })
    ctx.log.info('from the job')
  }
  app.post('/fn', async (_request, reply) => reply.accepted(record))
  app.post('/labelled', async (_request, reply) => reply.accepted(record, { name: 'thumbs' }))
  app.post('/named', async (_request, reply) => reply.accepted('report.build', { id: 1 }))

  const fn = (await app.inject({ method: 'POST', url: '/fn' })).json().id
  const labelled = (await app.inject({ method: 'POST', url: '/labelled' })).json().id
  const named = (await app.inject({ method: 'POST', url: '/named' })).json().id
  await app.background.drain()

  t.match(fn, UUID)
  t.not(fn, labelled)
  const common = { attempt: 1, scopeIsNew: true, greeting: 'hello', cradleIsScopeCradle: true, signal: true, app: true }
  t.same(observed, [
    { id: fn, name: 'anonymous', data: undefined, ...common },
    { id: labelled, name: 'thumbs', data: undefined, ...common }
  ])
  t.equal(seen[0].id, named)
  t.equal(seen[0].name, 'report.build')
  t.same(seen[0].data, { id: 1 })

  const jobLines = linesWith(lines, 'from the job')
  t.equal(jobLines.length, 2)
  for (const line of jobLines) {
    t.type(line.reqId, 'string', 'the job logger is a child of the request logger')
    t.match(line.jobId, UUID)
  }
  const requestLine = lines.find(line => line.msg === 'incoming request' && line.reqId === jobLines[0].reqId)
  t.ok(requestLine, 'reqId is the id of the request that accepted the job')
  t.equal(jobLines[0].jobId, fn)
})

test('each job gets its own scope of the root container, disposed when it ends', async t => {
  const container = createContainer()
  const disposed: number[] = []
  let made = 0
  container.register({ unit: asFunction(() => ++made).scoped().disposer(n => { disposed.push(n) }) })
  const { app } = await buildApp({ container })
  t.teardown(() => app.close())
  const units: number[] = []
  await app.ready()
  await app.background.enqueue(ctx => { units.push(ctx.cradle.unit, ctx.cradle.unit) })
  await app.background.enqueue(ctx => { units.push(ctx.cradle.unit) })
  await app.background.enqueue(() => {}) // never touches ctx.scope: no scope made
  await app.background.drain()
  t.same(units, [1, 1, 2])
  t.same(disposed.sort(), [1, 2])
  t.equal(made, 2)
})

test('with @fastify/awilix first: the job scope is not request.diScope and works after the response ended', async t => {
  noUnhandledRejections(t)
  const { stream } = logCapture()
  const app = Fastify({ logger: { level: 'silent', stream } })
  const container: AwilixContainer = createContainer({ injectionMode: 'PROXY' })
  const disposals: string[] = []
  let serial = 0
  container.register({
    session: asFunction(() => ({ n: ++serial, closed: false }))
      .scoped()
      .disposer(session => { session.closed = true; disposals.push(`session ${session.n}`) })
  })
  await app.register(fastifyAwilixPlugin, { container, disposeOnResponse: true, disposeOnClose: true })
  await app.register(fastifyBackground)
  t.equal(app.background.container, container, 'the root container is app.diContainer')

  const responded = gate()
  let requestSession: { n: number, closed: boolean } | undefined
  const inJob: Array<Record<string, unknown>> = []
  app.addHook('onResponse', async () => { responded.open() })
  app.post('/', async (request, reply) => {
    requestSession = (request.diScope.cradle as Record<string, any>).session
    const requestScope = request.diScope
    return reply.accepted(async ctx => {
      await responded.promise
      await until(() => requestSession?.closed === true)
      const session = ctx.cradle.session
      inJob.push({ notRequestScope: ctx.scope !== requestScope, n: session.n, closed: session.closed })
    })
  })
  const response = await app.inject({ method: 'POST', url: '/' })
  t.equal(response.statusCode, 202)
  await app.background.drain()
  t.equal(requestSession?.closed, true, 'the request scope was disposed when the response ended')
  t.same(inJob, [{ notRequestScope: true, n: 2, closed: false }])
  t.same(disposals, ['session 1', 'session 2'], 'the job scope is disposed when the job ends')
  await app.close()
})

test('named jobs retry with exponential backoff; the status is queued between attempts', async t => {
  noUnhandledRejections(t)
  const attempts: Array<{ attempt: number, at: number, id: string }> = []
  const failed = gate()
  const { app, lines } = await buildApp({
    jobs: {
      flaky: {
        retries: 2,
        backoff: 60,
        handler: async ctx => {
          attempts.push({ attempt: ctx.attempt, at: Date.now(), id: ctx.id })
          if (ctx.attempt === 1) failed.open()
          if (ctx.attempt < 3) throw new Error(`attempt ${ctx.attempt} failed`)
        }
      }
    }
  })
  t.teardown(() => app.close())
  app.post('/', async (_request, reply) => reply.accepted('flaky'))
  const { id } = (await app.inject({ method: 'POST', url: '/' })).json()
  await failed.promise
  await delay(20)
  t.match(await app.background.status(id), { status: 'queued', startedAt: Date }, 'queued while waiting to retry')
  t.match(await app.background.stats(), { queued: 1, running: 0 })
  await app.background.drain()
  t.same(attempts.map(a => a.attempt), [1, 2, 3])
  t.same(new Set(attempts.map(a => a.id)), new Set([id]), 'the attempts share the job id')
  t.ok(attempts[1].at - attempts[0].at >= 55, 'first retry after backoff')
  t.ok(attempts[2].at - attempts[1].at >= 115, 'second retry after twice the backoff')
  const status = await app.background.status(id)
  t.equal(status?.status, 'succeeded')
  t.equal(status?.error, undefined)
  t.same(await app.background.stats(), { queued: 0, running: 0, succeeded: 1, failed: 0, rejected: 0 })
  const retries = linesWith(lines, 'attempt failed; retrying', LEVEL.warn)
  t.same(retries.map(line => [line.jobId, line.attempt]), [[id, 1], [id, 2]])
})

test('a job whose retries are spent is failed, with the message only; stats count jobs, not attempts', async t => {
  noUnhandledRejections(t)
  const { app, lines } = await buildApp({
    jobs: { doomed: { retries: 1, backoff: 1, handler: () => { throw new Error('database down') } } }
  })
  t.teardown(() => app.close())
  app.post('/', async (_request, reply) => reply.accepted('doomed'))
  const response = await app.inject({ method: 'POST', url: '/' })
  const { id } = response.json()
  await app.background.drain()
  const status = await app.background.status(id)
  t.equal(status?.status, 'failed')
  t.equal(status?.error, 'database down')
  t.same(await app.background.stats(), { queued: 0, running: 0, succeeded: 0, failed: 1, rejected: 0 })
  const errors = linesWith(lines, 'job failed', LEVEL.error)
  t.equal(errors.length, 2, 'each failed attempt is logged')
  for (const line of errors) {
    t.equal(line.jobId, id)
    t.type(line.reqId, 'string')
    t.equal(line.err.message, 'database down')
  }
})

test('a job times out: its signal aborts and it is failed with a timeout message', async t => {
  noUnhandledRejections(t)
  const reasons: unknown[] = []
  const { app, lines } = await buildApp({
    jobs: {
      slow: {
        timeout: 30,
        handler: ctx => new Promise<void>(resolve => {
          ctx.signal.addEventListener('abort', () => { reasons.push(ctx.signal.reason); resolve() })
        })
      },
      stubborn: {
        timeout: 30,
        handler: ctx => new Promise<void>((_resolve, reject) => {
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))
        })
      }
    }
  })
  t.teardown(() => app.close())
  await app.ready()
  const slow = await app.background.enqueue('slow')
  const stubborn = await app.background.enqueue('stubborn')
  await app.background.drain()
  t.match(await app.background.status(slow.id), { status: 'failed', error: 'Timed out after 30 ms' })
  t.match(await app.background.status(stubborn.id), { status: 'failed', error: 'Timed out after 30 ms' })
  t.match(reasons, [{ code: 'FST_BACKGROUND_TIMEOUT' }])
  t.equal(linesWith(lines, 'Timed out after 30 ms', LEVEL.error).length, 2)
  t.same(await app.background.stats(), { queued: 0, running: 0, succeeded: 0, failed: 2, rejected: 0 })
})

test('failing function jobs never crash: sync throws, rejections and non-Error values are recorded', async t => {
  noUnhandledRejections(t)
  const { app, lines } = await buildApp()
  t.teardown(() => app.close())
  const throwers: Record<string, () => unknown> = {
    sync: () => { throw new Error('sync boom') },
    async: async () => { throw new Error('async boom') },
    string: () => { throw 'a string' }, // eslint-disable-line no-throw-literal
    undefined: () => Promise.reject(undefined), // eslint-disable-line prefer-promise-reject-errors
    bare: () => { throw Object.assign(Object.create(null), { reason: 'no prototype' }) },
    cyclic: () => { const value: Record<string, unknown> = {}; value.self = value; throw value },
    unserializable: () => { throw { toJSON: () => undefined } }, // eslint-disable-line no-throw-literal
    empty: () => { throw new TypeError('') }
  }
  app.post('/:kind', async (request, reply) => reply.accepted(throwers[(request.params as { kind: string }).kind]))
  const ids: Record<string, string> = {}
  for (const kind of Object.keys(throwers)) {
    const response = await app.inject({ method: 'POST', url: `/${kind}` })
    t.equal(response.statusCode, 202, 'the reply does not depend on the job')
    ids[kind] = response.json().id
  }
  await app.background.drain()
  const errors: Record<string, string | undefined> = {}
  for (const [kind, id] of Object.entries(ids)) {
    const status = await app.background.status(id)
    t.equal(status?.status, 'failed', kind)
    t.notMatch(status?.error ?? '', /\n\s+at /, 'no stack trace')
    errors[kind] = status?.error
  }
  t.same(errors, {
    sync: 'sync boom',
    async: 'async boom',
    string: 'a string',
    undefined: 'undefined',
    bare: '{"reason":"no prototype"}',
    cyclic: '[object Object]',
    unserializable: '[object Object]',
    empty: 'TypeError'
  })
  const logged = linesWith(lines, 'job failed', LEVEL.error)
  t.same(new Set(logged.map(line => line.jobId)), new Set(Object.values(ids)))
  t.ok(logged.every(line => typeof line.reqId === 'string'))
  t.equal((await app.background.stats()).failed, 8)
})

test('a throwing scope disposer is logged; the job status is unchanged', async t => {
  const container = createContainer()
  container.register({ conn: asFunction(() => ({})).scoped().disposer(() => { throw new Error('dispose failed') }) })
  const { app, lines } = await buildApp({ container })
  t.teardown(() => app.close())
  await app.ready()
  const { id } = await app.background.enqueue(ctx => ctx.cradle.conn)
  await app.background.drain()
  t.match(await app.background.status(id), { status: 'succeeded' })
  const line = linesWith(lines, 'scope disposer failed', LEVEL.error)[0]
  t.equal(line?.jobId, id)
})

test('ctx.signal first read after the timeout is already aborted, with the timeout as its reason', async t => {
  const { app } = await buildApp({
    jobs: {
      late: {
        timeout: 10,
        handler: async ctx => {
          await delay(40)
          seen.push({ aborted: ctx.signal.aborted, code: ctx.signal.reason?.code })
          await ctx.sleep(60_000) // resolves at once: the signal is aborted
        }
      }
    }
  })
  const seen: unknown[] = []
  t.teardown(() => app.close())
  await app.ready()
  const { id } = await app.background.enqueue('late')
  await app.background.drain()
  t.same(seen, [{ aborted: true, code: 'FST_BACKGROUND_TIMEOUT' }])
  t.match(await app.background.status(id), { status: 'failed', error: 'Timed out after 10 ms' })
})

test('each attempt gets a fresh ctx, scope and signal; the attempts share the job id', async t => {
  const contexts: JobContext[] = []
  const scopes: unknown[] = []
  const signals: AbortSignal[] = []
  const { app } = await buildApp({
    jobs: {
      twice: {
        retries: 1,
        backoff: 1,
        handler: ctx => {
          contexts.push(ctx)
          scopes.push(ctx.scope)
          signals.push(ctx.signal)
          if (ctx.attempt === 1) throw new Error('again')
        }
      }
    }
  })
  t.teardown(() => app.close())
  await app.ready()
  const { id } = await app.background.enqueue('twice', { n: 1 })
  await app.background.drain()
  t.equal(contexts.length, 2)
  t.not(contexts[0], contexts[1])
  t.not(scopes[0], scopes[1])
  t.not(signals[0], signals[1])
  t.same(contexts.map(ctx => [ctx.id, ctx.attempt, ctx.data]), [[id, 1, { n: 1 }], [id, 2, { n: 1 }]])
})

test('outside a request, ctx.log is a child of app.log with the job id and no request id', async t => {
  const { app, lines } = await buildApp()
  t.teardown(() => app.close())
  await app.ready()
  const { id } = await app.background.enqueue(ctx => { ctx.log.info('outside a request') })
  await app.background.drain()
  const [line] = linesWith(lines, 'outside a request')
  t.equal(line.jobId, id)
  t.equal(line.job, 'anonymous')
  t.equal(line.reqId, undefined)
})

test('a timed-out job that ignores its signal frees its slot after the 1 s grace', async t => {
  noUnhandledRejections(t)
  const stuck = gate()
  const { app, lines } = await buildApp({
    concurrency: 1,
    jobs: { stuck: { timeout: 20, handler: () => stuck.promise.then(() => { throw new Error('late') }) } }
  })
  t.teardown(() => app.close())
  await app.ready()
  const started = Date.now()
  const { id } = await app.background.enqueue('stuck')
  let nextStartedAfter = 0
  await app.background.enqueue(() => { nextStartedAfter = Date.now() - started })
  await app.background.drain()
  t.ok(nextStartedAfter >= 1000 && nextStartedAfter < 2500, `the next job started after ${nextStartedAfter} ms`)
  t.match(await app.background.status(id), { status: 'failed', error: 'Timed out after 20 ms' })
  t.equal(linesWith(lines, 'did not settle after abort', LEVEL.warn)[0]?.jobId, id)
  stuck.open()
  await delay(10)
  t.equal(linesWith(lines, 'rejected after it was abandoned', LEVEL.warn)[0]?.jobId, id)
  t.match(await app.background.status(id), { status: 'failed', error: 'Timed out after 20 ms' })
})

test('a scope first used after its attempt ended is refused with FST_BACKGROUND_ATTEMPT_ENDED: it could never be disposed', async t => {
  noUnhandledRejections(t)
  const container = createContainer()
  let disposed = 0
  container.register('db', asFunction(() => ({})).scoped().disposer(() => { disposed++ }))
  const late = gate()
  const errors: unknown[] = []
  const contexts: JobContext[] = []
  const { app } = await buildApp({ container })
  t.teardown(() => app.close())
  await app.ready()
  // One job uses its scope while it runs; the other leaves a promise behind that reaches for it later.
  await app.background.enqueue(ctx => { contexts.push(ctx); t.ok(ctx.cradle.db) })
  await app.background.enqueue(ctx => { contexts.push(ctx); late.promise.then(() => ctx.cradle.db).catch(error => errors.push(error)) }, { name: 'detached' })
  await app.background.drain()
  t.equal(disposed, 1, 'the scope made during its attempt was disposed')
  late.open()
  await until(() => errors.length === 1)
  t.match(errors[0], { code: 'FST_BACKGROUND_ATTEMPT_ENDED', message: /detached.*after its attempt had ended/ })
  t.throws(() => contexts[1].scope, { code: 'FST_BACKGROUND_ATTEMPT_ENDED' }, 'ctx.scope as well as ctx.cradle')
  t.equal(contexts[0].scope, contexts[0].scope, 'a scope made during the attempt can still be read afterwards')
  t.equal(disposed, 1, 'no scope was made that nobody disposes')
})
