import t from 'tap'
import { tracingChannel } from 'node:diagnostics_channel'
import { runInNewContext } from 'node:vm'
import Fastify from 'fastify'
import { asClass, asFunction, asValue, createContainer, type AwilixContainer } from 'awilix'
import { fastifyAwilixPlugin } from '@fastify/awilix'
import fastifyBackground from '../lib/index'
import type { TaskContext } from '../lib/types'
import { LEVEL, linesWith } from './helpers/app'
import { fakeApp, guardUnhandled, T0 } from './helpers/tasks'

guardUnhandled(t)

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** A scoped service whose disposal is recorded. */
function connections (disposed: number[]): AwilixContainer {
  let next = 0
  class Connection {
    readonly id = ++next
  }
  const container = createContainer()
  container.register('connection', asClass(Connection).scoped().disposer(connection => { disposed.push(connection.id) }))
  return container
}

t.test('the task context: name, runId, attempt, scheduledAt, scope, cradle, signal, log, app, sleep', async t => {
  const disposed: number[] = []
  const container = connections(disposed)
  let seen: Record<string, unknown> = {}
  const { app, lines, clock } = await fakeApp(t, {
    container,
    tasks: [{
      name: 'inspect',
      every: '1h',
      handler: async (ctx: TaskContext) => {
        seen = {
          name: ctx.name,
          runId: ctx.runId,
          attempt: ctx.attempt,
          scheduledAt: ctx.scheduledAt,
          scopeIsScope: ctx.scope !== container && typeof ctx.scope.createScope === 'function',
          cradleIsScopeCradle: ctx.cradle === ctx.scope.cradle,
          sameConnection: ctx.cradle.connection === ctx.scope.resolve('connection'),
          connection: ctx.cradle.connection.id,
          signal: ctx.signal,
          sameSignal: Object.is(ctx.signal, ctx.signal),
          app: ctx.app,
          sleepSame: Object.is(ctx.sleep, ctx.sleep)
        }
        ctx.log.info('hello from a task')
        const before = Date.now()
        await ctx.sleep(250)
        seen.slept = Date.now() - before
        t.same(disposed, [], 'not disposed while the run lasts')
      }
    }]
  })
  await app.ready()
  clock.tick(40)
  const running = app.tasks.trigger('inspect')
  await clock.tickAsync(250)
  const result = await running
  t.match(seen, {
    name: 'inspect',
    runId: result.runId,
    attempt: 1,
    scheduledAt: new Date(T0 + 40),
    scopeIsScope: true,
    cradleIsScopeCradle: true,
    sameConnection: true,
    connection: 1,
    sameSignal: true,
    app,
    sleepSame: true,
    slept: 250
  })
  t.match(result.runId, UUID)
  t.ok(seen.signal instanceof AbortSignal)
  t.equal((seen.signal as AbortSignal).aborted, false)
  t.same(disposed, [1], 'the scope is disposed when the run ends')
  const [line] = linesWith(lines, 'hello from a task')
  t.match(line, { level: LEVEL.info, task: 'inspect', runId: result.runId }, 'ctx.log is a child of app.log with { task, runId }')
})

t.test('ctx.sleep ends as soon as the signal aborts, and at once when it has aborted', async t => {
  const ends: number[] = []
  const { app, clock } = await fakeApp(t, {
    tasks: [{
      name: 'sleepy',
      every: '1h',
      timeout: 100,
      handler: async ctx => {
        await ctx.sleep(10_000)
        ends.push(Date.now() - T0)
        await ctx.sleep(10_000)
        ends.push(Date.now() - T0)
      }
    }]
  })
  await app.ready()
  const running = app.tasks.trigger('sleepy')
  await clock.tickAsync(100)
  t.match(await running, { status: 'timeout', error: 'Timed out after 100 ms' })
  t.same(ends, [100, 100])
})

t.test('a signal first read after the abort is already aborted, with its reason', async t => {
  let signal: AbortSignal | undefined
  const { app, clock } = await fakeApp(t, {
    tasks: [{
      name: 'late-reader',
      every: '1h',
      timeout: 100,
      handler: async ctx => {
        await new Promise(resolve => setTimeout(resolve, 200))
        signal = ctx.signal
      }
    }]
  })
  await app.ready()
  const running = app.tasks.trigger('late-reader')
  await clock.tickAsync(200)
  t.match(await running, { status: 'timeout' })
  t.equal(signal?.aborted, true)
  t.match(signal?.reason, { code: 'FST_BACKGROUND_TIMEOUT', message: 'Timed out after 100 ms' })
})

t.test('retries: attempts share the runId, get a fresh context, and wait backoff * 2^(attempt-1) after settling', async t => {
  const disposed: number[] = []
  const attempts: Array<{ at: number, attempt: number, runId: string, signal: AbortSignal, connection: number }> = []
  const { app, lines, clock } = await fakeApp(t, {
    container: connections(disposed),
    tasks: [{
      name: 'flaky',
      every: '1h',
      retries: 3,
      backoff: 1000,
      handler: async ctx => {
        attempts.push({ at: Date.now() - T0, attempt: ctx.attempt, runId: ctx.runId, signal: ctx.signal, connection: ctx.cradle.connection.id })
        await ctx.sleep(100)
        throw new Error(`attempt ${ctx.attempt} failed`)
      }
    }]
  })
  await app.ready()
  const running = app.tasks.trigger('flaky')
  await clock.tickAsync(20_000)
  const result = await running
  t.same(attempts.map(a => [a.at, a.attempt]), [[0, 1], [1100, 2], [3200, 3], [7300, 4]])
  t.equal(new Set(attempts.map(a => a.runId)).size, 1)
  t.equal(attempts[0].runId, result.runId)
  t.equal(new Set(attempts.map(a => a.signal)).size, 4, 'a fresh signal per attempt')
  t.same(disposed, [1, 2, 3, 4], 'a fresh scope per attempt, disposed after each')
  t.match(result, { status: 'failed', error: 'attempt 4 failed', durationMs: 7400 })
  t.match(app.tasks.get('flaky'), { runs: 1, failures: 1 })
  t.same(linesWith(lines, 'retrying', LEVEL.warn).map(line => [line.delayMs, line.attempt, line.task, line.runId]),
    [[1000, 1, 'flaky', result.runId], [2000, 2, 'flaky', result.runId], [4000, 3, 'flaky', result.runId]])
  t.equal(linesWith(lines, 'task failed', LEVEL.error).length, 4, 'each failed attempt is logged')
})

t.test('a retry that succeeds makes the run succeed', async t => {
  let calls = 0
  const { app, clock } = await fakeApp(t, {
    tasks: [{ name: 'b', every: '1h', retries: 5, backoff: 10, handler: () => { if (++calls < 3) throw new Error('not yet') } }]
  })
  await app.ready()
  const running = app.tasks.trigger('b')
  await clock.tickAsync(100)
  t.match(await running, { status: 'succeeded', durationMs: 30 })
  t.equal(calls, 3)
  t.match(app.tasks.get('b'), { runs: 1, failures: 0 })
})

t.test('timeout: the signal aborts, the run counts as timeout, and is retried while retries remain', async t => {
  const reasons: unknown[] = []
  let attempts = 0
  const { app, lines, clock } = await fakeApp(t, {
    tasks: [
      {
        name: 'slow',
        every: '1h',
        timeout: 500,
        handler: ctx => new Promise((_resolve, reject) => {
          ctx.signal.addEventListener('abort', () => {
            reasons.push(ctx.signal.reason)
            reject(ctx.signal.reason)
          })
        })
      },
      {
        name: 'second-time-lucky',
        every: '1h',
        timeout: 500,
        retries: 2,
        backoff: 100,
        handler: async ctx => { if (++attempts === 1) await ctx.sleep(1000) }
      }
    ]
  })
  await app.ready()
  const slow = app.tasks.trigger('slow')
  await clock.tickAsync(500)
  const result = await slow
  t.match(result, { status: 'timeout', error: 'Timed out after 500 ms', durationMs: 500 })
  t.match(reasons, [{ code: 'FST_BACKGROUND_TIMEOUT' }])
  t.match(app.tasks.get('slow'), { runs: 1, failures: 1, running: 0, state: 'idle' })
  t.match(linesWith(lines, 'task Timed out after 500 ms', LEVEL.error), [{ task: 'slow', runId: result.runId, timeoutMs: 500 }])

  const lucky = app.tasks.trigger('second-time-lucky')
  await clock.tickAsync(600)
  t.match(await lucky, { status: 'succeeded', durationMs: 600 })
  t.equal(attempts, 2)
  t.match(app.tasks.get('second-time-lucky'), { runs: 1, failures: 0 })
})

t.test('after an abort the handler has 1 s; then the run is recorded, stops counting as running, and late settlements are ignored', async t => {
  const late: Array<() => void> = []
  const { app, lines, clock } = await fakeApp(t, {
    tasks: [
      {
        name: 'stubborn',
        every: 1000,
        timeout: 300,
        handler: () => new Promise<void>((resolve, reject) => {
          late.push(() => reject(new Error('too late')), resolve)
        })
      }
    ]
  })
  await app.ready()
  await clock.tickAsync(1000 + 300 + 999)
  t.match(app.tasks.get('stubborn'), { running: 1, state: 'running', runs: 0 }, 'still within its grace')
  await clock.tickAsync(1)
  t.match(app.tasks.get('stubborn'), { running: 0, runs: 1, failures: 1, lastRun: { status: 'timeout', durationMs: 1300 } })
  t.match(linesWith(lines, 'task abandoned', LEVEL.warn), [{ task: 'stubborn', graceMs: 1000, attempt: 1 }])
  t.equal(app.tasks.get('stubborn')?.skips, 1, 'the run due at 2000 was skipped while the abandoned one counted')
  await clock.tickAsync(700)
  t.equal(app.tasks.get('stubborn')?.running, 1, 'the schedule goes on: the run due at 3000 started')
  late[0]()
  late[1]()
  await clock.tickAsync(0)
  t.match(linesWith(lines, 'rejected after it was abandoned; ignored', LEVEL.warn), [{ task: 'stubborn', err: { message: 'too late' } }])
  t.match(app.tasks.get('stubborn'), { runs: 1, failures: 1, running: 1 }, 'the late rejection changed nothing')
})

t.test('a handler that resolves within its grace after a timeout still counts as timeout', async t => {
  const { app, clock } = await fakeApp(t, {
    tasks: [{ name: 'a', every: '1h', timeout: 100, handler: async ctx => { await ctx.sleep(100); await new Promise(resolve => setTimeout(resolve, 500)) } }]
  })
  await app.ready()
  const running = app.tasks.trigger('a')
  await clock.tickAsync(600)
  t.match(await running, { status: 'timeout', durationMs: 600 })
})

t.test('failures of every kind are logged with task and runId, counted, and the schedule goes on', async t => {
  const circular: Record<string, unknown> = {}
  circular.self = circular
  const bare = Object.create(null)
  bare.code = 42
  const foreign = runInNewContext('new TypeError("from another realm")')
  const throws: Array<[string, () => unknown, string]> = [
    ['sync Error', () => { throw new Error('boom') }, 'boom'],
    ['rejection', async () => { throw new RangeError('async boom') }, 'async boom'],
    ['empty message', () => { throw new TypeError('') }, 'TypeError'],
    ['string', () => { throw 'just a string' }, 'just a string'], // eslint-disable-line no-throw-literal
    ['undefined', () => { throw undefined }, 'undefined'], // eslint-disable-line no-throw-literal
    ['null', () => Promise.reject(null), 'null'], // eslint-disable-line prefer-promise-reject-errors
    ['number', () => { throw 7 }, '7'], // eslint-disable-line no-throw-literal
    ['object without prototype', () => { throw bare }, '{"code":42}'],
    ['circular object', () => Promise.reject(circular), '[object Object]'],
    ['toJSON undefined', () => { throw { toJSON: () => undefined } }, '[object Object]'], // eslint-disable-line no-throw-literal
    ['other realm', () => { throw foreign }, 'from another realm']
  ]
  const { app, lines, clock } = await fakeApp(t, {
    tasks: throws.map(([, fn], i) => ({ name: `t${i}`, every: 1000, handler: fn }))
  })
  await app.ready()
  await clock.tickAsync(2000)
  for (const [i, [what, , message]] of throws.entries()) {
    const info = app.tasks.get(`t${i}`)
    t.match(info, { runs: 2, failures: 2, state: 'idle', lastRun: { status: 'failed', error: message } }, what)
    const logged = lines.filter(line => line.task === `t${i}` && line.msg === 'task failed')
    t.equal(logged.length, 2, `${what}: logged each time`)
    t.equal(logged[0].level, LEVEL.error)
    t.equal(logged[1].runId, info?.lastRun?.runId)
    t.type(logged[0].err.message, 'string', `${what}: logged as an error`)
  }
  t.match(linesWith(lines, 'task failed').find(line => line.task === 't3'), { err: { message: 'Non-error thrown: just a string' } })
})

t.test('a synchronous handler, and a thenable that is not a Promise', async t => {
  const { app } = await fakeApp(t, {
    tasks: [
      { name: 'sync', every: '1h', handler: () => 42 },
      { name: 'thenable', every: '1h', handler: () => ({ then: (resolve: (v: unknown) => void) => resolve(1) }) }
    ]
  })
  await app.ready()
  t.match(await app.tasks.trigger('sync'), { status: 'succeeded', durationMs: 0 })
  t.match(await app.tasks.trigger('thenable'), { status: 'succeeded' })
})

t.test('a scope is disposed after a failed attempt too; a throwing disposer is logged and changes nothing', async t => {
  const disposed: string[] = []
  const container = createContainer()
  container.register({
    good: asClass(class Good {}).scoped().disposer(() => { disposed.push('good') }),
    bad: asClass(class Bad {}).scoped().disposer(() => { throw new Error('disposer exploded') })
  })
  const { app, lines } = await fakeApp(t, {
    container,
    tasks: [
      { name: 'fails', every: '1h', handler: ctx => { t.ok(ctx.cradle.good); throw new Error('handler failed') } },
      { name: 'ok', every: '1h', handler: ctx => { t.ok(ctx.cradle.bad) } },
      { name: 'no-scope', every: '1h', handler: () => {} }
    ]
  })
  await app.ready()
  t.match(await app.tasks.trigger('fails'), { status: 'failed', error: 'handler failed' })
  t.same(disposed, ['good'])
  const ok = await app.tasks.trigger('ok')
  t.match(ok, { status: 'succeeded' })
  t.notOk('error' in ok)
  t.match(linesWith(lines, 'task scope disposer failed', LEVEL.error), [{ task: 'ok', runId: ok.runId, err: { message: 'disposer exploded' } }])
  t.match(app.tasks.get('ok'), { failures: 0, lastRun: { status: 'succeeded' } })
  t.match(await app.tasks.trigger('no-scope'), { status: 'succeeded' })
})

t.test('runs publish on the fastify-background:task tracing channel', async t => {
  const channel = tracingChannel('fastify-background:task')
  const events: Array<[string, string, number, unknown]> = []
  const record = (event: string) => (message: any) => { events.push([event, message.name, message.attempt, message.error ?? message.result]) }
  const handlers = {
    start: record('start'),
    end: record('end'),
    asyncStart: record('asyncStart'),
    asyncEnd: record('asyncEnd'),
    error: record('error')
  }
  channel.subscribe(handlers)
  t.teardown(() => channel.unsubscribe(handlers))
  const failure = new Error('nope')
  const { app } = await fakeApp(t, {
    tasks: [
      { name: 'sync-ok', every: '1h', handler: () => 'value' },
      { name: 'sync-throw', every: '1h', handler: () => { throw failure } },
      { name: 'async-ok', every: '1h', handler: async () => 'later' },
      { name: 'async-reject', every: '1h', handler: async () => { throw failure } }
    ]
  })
  await app.ready()
  let runId = ''
  const onStart = (message: unknown): void => { runId = (message as { id: string }).id }
  channel.start.subscribe(onStart)
  t.teardown(() => channel.start.unsubscribe(onStart))
  for (const name of ['sync-ok', 'sync-throw', 'async-ok', 'async-reject']) await app.tasks.trigger(name)
  t.match(await app.tasks.trigger('sync-ok'), { runId })
  t.same(events.slice(0, 14), [
    ['start', 'sync-ok', 1, undefined], ['end', 'sync-ok', 1, 'value'],
    ['start', 'sync-throw', 1, undefined], ['error', 'sync-throw', 1, failure], ['end', 'sync-throw', 1, failure],
    ['start', 'async-ok', 1, undefined], ['end', 'async-ok', 1, undefined], ['asyncStart', 'async-ok', 1, 'later'], ['asyncEnd', 'async-ok', 1, 'later'],
    ['start', 'async-reject', 1, undefined], ['end', 'async-reject', 1, undefined], ['error', 'async-reject', 1, failure],
    ['asyncStart', 'async-reject', 1, failure], ['asyncEnd', 'async-reject', 1, failure]
  ])
})

t.test('container: the option wins and is app.background.container', async t => {
  const container = createContainer()
  container.register('greeting', asValue('ciao'))
  let greeting
  const { app } = await fakeApp(t, { container, tasks: [{ name: 'a', every: '1h', handler: ctx => { greeting = ctx.cradle.greeting } }] })
  await app.ready()
  await app.tasks.trigger('a')
  t.equal(greeting, 'ciao')
  t.equal(app.background.container, container)
})

t.test('container: @fastify/awilix registered first lends app.diContainer; scoped registrations are disposed after the run', async t => {
  const diContainer = createContainer({ injectionMode: 'PROXY' })
  const disposed: number[] = []
  let made = 0
  class Session {
    readonly id = ++made
  }
  diContainer.register('session', asClass(Session).scoped().disposer(session => { disposed.push(session.id) }))
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(fastifyAwilixPlugin, { container: diContainer, disposeOnClose: true, disposeOnResponse: true })
  const ids: number[] = []
  await app.register(fastifyBackground, { tasks: [{ name: 'a', every: '1h', handler: ctx => { ids.push(ctx.cradle.session.id, ctx.cradle.session.id) } }] })
  t.equal(app.background.container, app.diContainer)
  await app.ready()
  await app.tasks.trigger('a')
  await app.tasks.trigger('a')
  t.same(ids, [1, 1, 2, 2], 'one session per run')
  t.same(disposed, [1, 2])
})

t.test('container: otherwise a new container, never shared between apps', async t => {
  const first = await fakeApp(t)
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(fastifyBackground)
  t.type(first.app.background.container.createScope, 'function')
  t.not(first.app.background.container, app.background.container)
})

t.test('a run removed while its failed attempt disposes its scope ends cancelled, announcing no retry', async t => {
  guardUnhandled(t)
  const container = createContainer()
  container.register('slowToClose', asFunction(() => ({})).scoped().disposer(() => new Promise(resolve => setTimeout(resolve, 1000))))
  const { app, lines, clock } = await fakeApp(t, {
    container,
    tasks: [{ name: 'a', every: '1h', retries: 1, backoff: 60_000, handler: ctx => { t.ok(ctx.cradle.slowToClose); throw new Error('x') } }]
  })
  await app.ready()
  const run = app.tasks.trigger('a')
  await clock.tickAsync(10)
  const removed = app.tasks.remove('a')
  await clock.tickAsync(1000)
  t.equal(await removed, true)
  t.match(await run, { status: 'cancelled' })
  t.same(linesWith(lines, 'retrying', LEVEL.warn), [], 'no retry is announced')
})
