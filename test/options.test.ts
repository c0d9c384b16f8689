import t from 'tap'
import Fastify from 'fastify'
import { createContainer } from 'awilix'
import fastifyBackground from '../lib/index'
import { memoryBackend } from '../lib/backends/memory/backend'
import { InvalidOptionError } from '../lib/core/errors'
import { parseDuration } from '../lib/core/duration'
import type { Settings } from '../lib/core/model'
import { readSettings } from '../lib/core/options'
import { MAX_TIMER_MS } from '../lib/core/timers'
import { buildApp } from './helpers/app'
import { closeTicking, fakeApp, guardUnhandled, T0 } from './helpers/tasks'

guardUnhandled(t)

const handler = async (): Promise<void> => {}
const every = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ name: 'a', every: 1000, handler, ...extra })
const cron = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ name: 'c', cron: '0 * * * *', handler, ...extra })
const loop = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ name: 'l', loop: true, handler, ...extra })

/** [what, options, the path the message must name] */
const INVALID: Array<[string, unknown, string]> = [
  ['options not an object', 'tasks', 'options'],
  ['options an array', [], 'options'],
  ['unknown top-level key', { concurency: 3 }, 'concurency'],
  ['tasks not an array', { tasks: { a: every() } }, 'tasks'],
  ['a task not an object', { tasks: [() => {}] }, 'tasks[0]'],
  ['a task that is a class instance', { tasks: [new (class Def { name = 'a'; every = 1000; handler = handler })()] }, 'tasks[0]'],
  ['unknown task key', { tasks: [every({ intervall: 5 })] }, 'tasks[0].intervall'],
  ['no schedule', { tasks: [{ name: 'a', handler }] }, 'tasks[0]'],
  ['unknown task kind', { tasks: [{ name: 'a', kind: 'every', handler }] }, 'tasks[0].kind'],
  ['two schedules', { tasks: [every(), { name: 'b', every: 1000, cron: '* * * * *', handler }] }, 'tasks[1].cron'],
  ['every and loop', { tasks: [{ name: 'b', every: 1000, loop: true, handler }] }, 'tasks[0].loop'],
  ['loop not true', { tasks: [loop({ loop: 1 })] }, 'tasks[0].loop'],
  ['loop: false', { tasks: [loop({ loop: false })] }, 'tasks[0].loop'],
  ['every zero', { tasks: [every({ every: 0 })] }, 'tasks[0].every'],
  ['every negative', { tasks: [every({ every: -5 })] }, 'tasks[0].every'],
  ['every NaN', { tasks: [every({ every: NaN })] }, 'tasks[0].every'],
  ['every Infinity', { tasks: [every({ every: Infinity })] }, 'tasks[0].every'],
  ['every not an integer', { tasks: [every({ every: 1.5 })] }, 'tasks[0].every'],
  ['every beyond a safe integer', { tasks: [every({ every: 2 ** 60 })] }, 'tasks[0].every'],
  ['every unknown unit', { tasks: [every({ every: '5w' })] }, 'tasks[0].every'],
  ['every zero seconds', { tasks: [every({ every: '0s' })] }, 'tasks[0].every'],
  ['every a fraction of a ms', { tasks: [every({ every: '0.5ms' })] }, 'tasks[0].every'],
  ['every negative string', { tasks: [every({ every: '-5s' })] }, 'tasks[0].every'],
  ['every a boolean', { tasks: [every({ every: true })] }, 'tasks[0].every'],
  ['every an array', { tasks: [every({ every: [] })] }, 'tasks[0].every'],
  ['every an object', { tasks: [every({ every: {} })] }, 'tasks[0].every'],
  ['every a function', { tasks: [every({ every: () => 1000 })] }, 'tasks[0].every'],
  ['every a very long string', { tasks: [every({ every: 'x'.repeat(100) })] }, 'tasks[0].every'],
  ['every null', { tasks: [every({ every: null })] }, 'tasks[0].every'],
  ['cron not a string', { tasks: [cron({ cron: 5 })] }, 'tasks[0].cron'],
  ['cron invalid', { tasks: [cron({ cron: '61 * * * *' })] }, 'tasks[0].cron'],
  ['cron with 7 fields', { tasks: [cron({ cron: '* * * * * * *' })] }, 'tasks[0].cron'],
  ['cron nonsense', { tasks: [cron({ cron: 'every minute' })] }, 'tasks[0].cron'],
  ['cron that never fires', { tasks: [cron({ cron: '0 0 30 2 *' })] }, 'tasks[0].cron'],
  ['timezone unknown', { tasks: [cron({ timezone: 'Mars/Olympus' })] }, 'tasks[0].timezone'],
  ['timezone empty', { tasks: [cron({ timezone: '' })] }, 'tasks[0].timezone'],
  ['timezone a number', { tasks: [cron({ timezone: 1 })] }, 'tasks[0].timezone'],
  ['timezone on an every task', { tasks: [every({ timezone: 'Europe/Rome' })] }, 'tasks[0].timezone'],
  ['duplicate task name', { tasks: [every(), cron(), every()] }, 'tasks[2].name'],
  ['no name', { tasks: [{ every: 1000, handler }] }, 'tasks[0].name'],
  ['empty name', { tasks: [every({ name: '' })] }, 'tasks[0].name'],
  ['name with a space', { tasks: [every({ name: 'a b' })] }, 'tasks[0].name'],
  ['name too long', { tasks: [every({ name: 'a'.repeat(201) })] }, 'tasks[0].name'],
  ['no handler', { tasks: [{ name: 'a', every: 1000 }] }, 'tasks[0].handler'],
  ['handler not a function', { tasks: [every({ handler: 'run' })] }, 'tasks[0].handler'],
  ['delay negative', { tasks: [every({ delay: -1 })] }, 'tasks[0].delay'],
  ['delay an unknown unit', { tasks: [every({ delay: '5w' })] }, 'tasks[0].delay'],
  ['delay a negative string', { tasks: [every({ delay: '-5s' })] }, 'tasks[0].delay'],
  ['jitter non-integer', { tasks: [every({ jitter: 0.5 })] }, 'tasks[0].jitter'],
  ['jitter a fraction of a ms', { tasks: [every({ jitter: '0.5ms' })] }, 'tasks[0].jitter'],
  ['timeout zero', { tasks: [every({ timeout: 0 })] }, 'tasks[0].timeout'],
  ['timeout Infinity', { tasks: [every({ timeout: Infinity })] }, 'tasks[0].timeout'],
  ['timeout zero seconds', { tasks: [every({ timeout: '0s' })] }, 'tasks[0].timeout'],
  ['timeout a bare number string', { tasks: [every({ timeout: '30' })] }, 'tasks[0].timeout'],
  ['retries negative', { tasks: [every({ retries: -1 })] }, 'tasks[0].retries'],
  ['retries NaN', { tasks: [every({ retries: NaN })] }, 'tasks[0].retries'],
  ['retries a string', { tasks: [every({ retries: '1' })] }, 'tasks[0].retries'],
  ['backoff a bigint', { tasks: [every({ backoff: 10n })] }, 'tasks[0].backoff'],
  ['backoff an unknown unit', { tasks: [every({ backoff: '1 week' })] }, 'tasks[0].backoff'],
  ['overlap unknown', { tasks: [every({ overlap: 'queue' })] }, 'tasks[0].overlap'],
  ['immediate not a boolean', { tasks: [every({ immediate: 'yes' })] }, 'tasks[0].immediate'],
  ['enabled not a boolean', { tasks: [every({ enabled: 0 })] }, 'tasks[0].enabled'],
  ['loop with immediate', { tasks: [loop({ immediate: true })] }, 'tasks[0].immediate'],
  ['loop with jitter', { tasks: [loop({ jitter: 10 })] }, 'tasks[0].jitter'],
  ['loop with timeout', { tasks: [loop({ timeout: 10 })] }, 'tasks[0].timeout'],
  ['loop with overlap', { tasks: [loop({ overlap: 'allow' })] }, 'tasks[0].overlap'],
  ['loop with retries', { tasks: [loop({ retries: 1 })] }, 'tasks[0].retries'],
  ['loop with backoff', { tasks: [loop({ backoff: 10 })] }, 'tasks[0].backoff'],
  ['loop with timezone', { tasks: [loop({ timezone: 'Europe/Rome' })] }, 'tasks[0].timezone'],
  ['__proto__ key in a task (JSON)', { tasks: [{ ...JSON.parse('{"name":"a","every":1000,"__proto__":{"x":1}}'), handler }] }, 'tasks[0].__proto__'],
  ['__proto__ key at top level (JSON)', JSON.parse('{"__proto__":{"tasks":[]}}'), '__proto__'],
  ['concurrency zero', { concurrency: 0 }, 'concurrency'],
  ['concurrency a symbol', { concurrency: Symbol('ten') }, 'concurrency'],
  ['concurrency a string', { concurrency: '10' }, 'concurrency'],
  ['maxQueued a duration string', { maxQueued: '1s' }, 'maxQueued'],
  ['maxQueued negative', { maxQueued: -1 }, 'maxQueued'],
  ['shutdownTimeout NaN', { shutdownTimeout: NaN }, 'shutdownTimeout'],
  ['shutdownTimeout an unknown unit', { shutdownTimeout: '10sec' }, 'shutdownTimeout'],
  ['shutdownTimeout a negative string', { shutdownTimeout: '-1s' }, 'shutdownTimeout'],
  ['statusRoute without a param', { statusRoute: '/jobs' }, 'statusRoute'],
  ['statusRoute with two params', { statusRoute: '/jobs/:a/:b' }, 'statusRoute'],
  ['statusRoute true', { statusRoute: true }, 'statusRoute'],
  ['retention not an object', { retention: 5 }, 'retention'],
  ['unknown retention key', { retention: { ttl: 1, maxAge: 2 } }, 'retention.maxAge'],
  ['retention.ttl negative', { retention: { ttl: -1 } }, 'retention.ttl'],
  ['retention.ttl an unknown unit', { retention: { ttl: '1y' } }, 'retention.ttl'],
  ['retention.max a string', { retention: { max: '10' } }, 'retention.max'],
  ['retention.max not an integer', { retention: { max: 1.5 } }, 'retention.max'],
  ['jobs an array', { jobs: [] }, 'jobs'],
  ['job name invalid', { jobs: { 'bad name': handler } }, 'jobs["bad name"]'],
  ['job definition a string', { jobs: { a: 'handler' } }, 'jobs["a"]'],
  ['job without handler', { jobs: { a: { retries: 1 } } }, 'jobs["a"].handler'],
  ['unknown job key', { jobs: { a: { handler, every: 1000 } } }, 'jobs["a"].every'],
  ['job timeout zero', { jobs: { a: { handler, timeout: 0 } } }, 'jobs["a"].timeout'],
  ['job timeout zero ms', { jobs: { a: { handler, timeout: '0ms' } } }, 'jobs["a"].timeout'],
  ['job backoff an unknown unit', { jobs: { a: { handler, backoff: '2 secs' } } }, 'jobs["a"].backoff'],
  ['job retries a string', { jobs: { a: { handler, retries: '3' } } }, 'jobs["a"].retries'],
  ['container not a container', { container: {} }, 'container'],
  ['container null', { container: null }, 'container'],
  ['backend missing a method', { backend: { ...memoryBackend(), close: undefined } }, 'backend'],
  ['backend null', { backend: null }, 'backend'],
  ['job exposeResult not a boolean', { jobs: { a: { handler, exposeResult: 'yes' } } }, 'jobs["a"].exposeResult'],
  ['statusRoute object without path', { statusRoute: { cancel: true } }, 'statusRoute.path'],
  ['statusRoute path without a param', { statusRoute: { path: '/jobs' } }, 'statusRoute.path'],
  ['statusRoute cancel not a boolean', { statusRoute: { path: '/jobs/:id', cancel: 1 } }, 'statusRoute.cancel'],
  ['statusRoute unknown key', { statusRoute: { path: '/jobs/:id', delete: true } }, 'statusRoute.delete'],
  ['statusRoute true', { statusRoute: true }, 'statusRoute'],
  ['idempotency a string', { idempotency: 'on' }, 'idempotency'],
  ['idempotency header not a header name', { idempotency: { header: 'bad header' } }, 'idempotency.header'],
  ['idempotency header empty', { idempotency: { header: '' } }, 'idempotency.header'],
  ['idempotency ttl zero', { idempotency: { ttl: 0 } }, 'idempotency.ttl'],
  ['idempotency ttl not a duration', { idempotency: { ttl: '1 week' } }, 'idempotency.ttl'],
  ['idempotency unknown key', { idempotency: { headers: 'x' } }, 'idempotency.headers']
]

t.test('invalid options reject register and ready with FST_BACKGROUND_INVALID_OPTION naming the path', async t => {
  t.ok(INVALID.length >= 25)
  for (const [what, options, path] of INVALID) {
    const app = Fastify()
    t.teardown(() => app.close())
    // A plugin error surfaces from both register and ready().
    await app.register(fastifyBackground, options as any).then(
      () => t.fail(`${what}: register accepted it`),
      (error: any) => {
        t.equal(error.code, 'FST_BACKGROUND_INVALID_OPTION', what)
        t.ok(error.message.startsWith(`Invalid option ${path}: `), `${what}: ${error.message}`)
        t.ok(error instanceof InvalidOptionError, what)
      })
  }
})

t.test('ready() rejects too when register is not awaited', async t => {
  const app = Fastify()
  t.teardown(() => app.close())
  app.register(fastifyBackground, { tasks: [every(), every({ name: 'b', every: -1 })] } as any)
  await t.rejects(async () => await app.ready(), { code: 'FST_BACKGROUND_INVALID_OPTION', message: /^Invalid option tasks\[1\]\.every: must be a positive number/ })
})

t.test('messages say what was given, readably', async t => {
  const cases: Array<[unknown, RegExp]> = [
    [{ tasks: [every({ every: () => 1 })] }, /got a function$/],
    [{ tasks: [every({ every: 'x'.repeat(100) })] }, /got "x{60}…"$/],
    [{ tasks: [every({ backoff: 10n })] }, /got 10$/],
    [{ concurrency: Symbol('ten') }, /got Symbol\(ten\)$/],
    [{ tasks: [every({ every: [] })] }, /got an array$/],
    [{ tasks: [every({ every: {} })] }, /got an object$/],
    [{ tasks: [every({ every: NaN })] }, /got NaN$/],
    [{ tasks: [every(), every()] }, /duplicate task name "a"$/],
    [{ tasks: [cron({ cron: '61 * * * *' })] }, /not a valid cron pattern with 5 or 6 fields: .*minute/],
    [{ tasks: [cron({ cron: '0 0 31 4 *' })] }, /never fires: "0 0 31 4 \*"$/],
    [{ tasks: [cron({ timezone: 'Mars/Olympus' })] }, /not a known IANA time zone: "Mars\/Olympus"$/],
    [{ tasks: [loop({ retries: 1 })] }, /does not apply to a loop task$/],
    [{ tasks: [{ name: 'a', handler }] }, /needs a schedule/],
    [{ backend: { ...memoryBackend(), schedule: 1 } }, /"schedule" is missing$/]
  ]
  for (const [options, message] of cases) {
    await t.rejects(buildApp(options as any), { code: 'FST_BACKGROUND_INVALID_OPTION', message })
  }
})

t.test('valid options: every duration string, defaults, Fastify register keys', async t => {
  t.equal(parseDuration('250ms'), 250)
  t.equal(parseDuration('30s'), 30_000)
  t.equal(parseDuration('5m'), 300_000)
  t.equal(parseDuration('1h'), 3_600_000)
  t.equal(parseDuration('1d'), 86_400_000)
  t.equal(parseDuration('1.5s'), 1500)
  t.equal(parseDuration(' 2 m '), 120_000)
  t.equal(parseDuration(1000), 1000)
  t.equal(parseDuration('1e3ms'), undefined)
  t.equal(parseDuration('1000'), undefined, 'a bare number string has no unit')
  t.equal(parseDuration(undefined), undefined)

  const app = Fastify({ logger: false })
  t.teardown(() => app.close())
  await app.register(fastifyBackground, {
    prefix: '/bg',
    logLevel: 'warn',
    tasks: [
      { name: 'ms', every: '250ms', handler },
      { name: 's', every: '30s', handler },
      { name: 'm', every: '5m', handler },
      { name: 'h', every: '1h', handler },
      { name: 'd', every: '1d', handler },
      { name: 'rome', cron: '0 9 * * *', timezone: 'Europe/Rome', handler },
      { name: 'secs', cron: '*/10 * * * * *', handler, delay: 0, jitter: 0, immediate: false, overlap: 'allow', retries: 0, backoff: 0, timeout: 1, enabled: false },
      { name: 'worker', loop: true, handler, delay: 5, enabled: true }
    ],
    jobs: { 'report.build': handler, 'mail:send': { handler, retries: 2, backoff: 0, timeout: 5 } },
    concurrency: 1,
    maxQueued: 0,
    shutdownTimeout: 0,
    statusRoute: '/jobs/:id',
    retention: { ttl: 0, max: 0 },
    container: createContainer()
  } as any)
  t.same(app.tasks.list().map(task => [task.name, task.kind, task.state]), [
    ['ms', 'every', 'idle'], ['s', 'every', 'idle'], ['m', 'every', 'idle'], ['h', 'every', 'idle'], ['d', 'every', 'idle'],
    ['rome', 'cron', 'idle'], ['secs', 'cron', 'paused'], ['worker', 'loop', 'idle']
  ])
})

/** [path, options with a duration at that path, where the checked settings hold it] */
const DURATIONS: Array<[string, (value: unknown) => unknown, (settings: Settings) => number | undefined]> = [
  ['tasks[0].every', value => ({ tasks: [every({ every: value })] }), settings => settings.tasks[0].every],
  ['tasks[0].delay', value => ({ tasks: [every({ delay: value })] }), settings => settings.tasks[0].delay],
  ['tasks[0].jitter', value => ({ tasks: [every({ jitter: value })] }), settings => settings.tasks[0].jitter],
  ['tasks[0].timeout', value => ({ tasks: [every({ timeout: value })] }), settings => settings.tasks[0].timeout],
  ['tasks[0].backoff', value => ({ tasks: [every({ backoff: value })] }), settings => settings.tasks[0].backoff],
  ['tasks[0].delay', value => ({ tasks: [loop({ delay: value })] }), settings => settings.tasks[0].delay],
  ['tasks[0].delay', value => ({ tasks: [cron({ delay: value })] }), settings => settings.tasks[0].delay],
  ['jobs["a"].timeout', value => ({ jobs: { a: { handler, timeout: value } } }), settings => settings.jobs.get('a')?.timeout],
  ['jobs["a"].backoff', value => ({ jobs: { a: { handler, backoff: value } } }), settings => settings.jobs.get('a')?.backoff],
  ['shutdownTimeout', value => ({ shutdownTimeout: value }), settings => settings.shutdownTimeout],
  ['retention.ttl', value => ({ retention: { ttl: value } }), settings => settings.retention.ttl]
]

t.test('every duration option takes a number of ms or a duration string, with the same checks and paths', async t => {
  const day = 86_400_000
  for (const [path, options, read] of DURATIONS) {
    for (const [given, ms] of [[250, 250], ['250ms', 250], ['30s', 30_000], ['5m', 300_000], ['1h', 3_600_000], ['25d', 25 * day], [25 * day, 25 * day]] as const) {
      t.equal(read(readSettings(options(given))), ms, `${path}: ${given}`)
    }
    for (const bad of ['5w', '0.5ms', '-1s', '30', -1, 1.5, true]) {
      t.throws(() => readSettings(options(bad)), { code: 'FST_BACKGROUND_INVALID_OPTION', message: new RegExp(`^Invalid option ${path.replace(/[.[\]"]/g, '\\$&')}: must be a (positive )?number of ms or a duration such as '30s', got `) }, `${path}: ${String(bad)}`)
    }
  }
  t.ok(25 * day > MAX_TIMER_MS)
  const { app } = await buildApp(DURATIONS.reduce((options, [, make]) => ({ ...options, ...make('30s') as object }), {}) as any)
  t.teardown(() => app.close())
  await app.ready()
})

t.test('duration strings take effect: a task\'s delay, timeout and backoff, a job\'s timeout', async t => {
  const day = 86_400_000
  const attempts: number[] = []
  const { app, clock } = await fakeApp(t, {
    tasks: [
      { name: 'late', every: '1s', delay: '25d', handler },
      { name: 'slow', every: '1h', timeout: '30ms', retries: 1, backoff: '1s', handler: ctx => { attempts.push(Date.now() - T0); return ctx.sleep(60_000) } }
    ],
    jobs: { slow: { timeout: '30ms', handler: ctx => ctx.sleep(60_000) } }
  })
  await app.ready()
  t.same(app.tasks.get('late')?.nextRunAt, new Date(T0 + 25 * day + 1000))
  const run = app.tasks.trigger('slow')
  const { id } = await app.background.enqueue('slow')
  await clock.tickAsync(1060)
  t.match(await run, { status: 'timeout', error: 'Timed out after 30 ms' })
  t.same(attempts, [0, 1030], 'the retry waited the backoff after the first attempt timed out')
  t.match(await app.background.status(id), { status: 'failed', error: 'Timed out after 30 ms' })
})

t.test('shutdownTimeout as a string: close waits that long for running work, then aborts it', async t => {
  const { app, clock } = await fakeApp(t, { shutdownTimeout: '5s' })
  await app.ready()
  let abortedAt: number | undefined
  const { id } = await app.background.enqueue(async ctx => { await ctx.sleep(60_000); abortedAt = Date.now() - T0 })
  const closedIn = await closeTicking(app, clock, 10)
  t.equal(abortedAt, 5000)
  t.ok(closedIn >= 5000 && closedIn < 5100, `close took ${closedIn} ms`)
  t.match(await app.background.status(id), { status: 'cancelled' })
})

t.test('null and undefined options mean the defaults', async t => {
  for (const options of [undefined, null]) {
    const app = Fastify()
    t.teardown(() => app.close())
    await app.register(fastifyBackground, options as any)
    t.same(app.tasks.list(), [])
    t.ok(app.background.container)
  }
})

t.test('durations longer than 2^31-1 ms are valid and do not overflow the timers', async t => {
  const day = 86_400_000
  const ran: string[] = []
  const { app, clock } = await fakeApp(t, {
    tasks: [
      { name: 'monthly', every: '30d', handler: () => { ran.push('monthly') } },
      { name: 'later', every: 1000, delay: 40 * day, handler: () => { ran.push('later') } },
      { name: 'patient', every: 1000, timeout: 40 * day, backoff: 50 * day, retries: 1, handler: () => { ran.push('patient') } }
    ]
  })
  t.ok(30 * day > MAX_TIMER_MS)
  await app.ready()
  t.same(app.tasks.get('monthly')?.nextRunAt, new Date(T0 + 30 * day))
  t.same(app.tasks.get('later')?.nextRunAt, new Date(T0 + 40 * day + 1000))
  await app.tasks.remove('patient')
  // Node would clamp a longer delay to 1 ms: nothing may fire early.
  await clock.tickAsync(1000)
  t.same(ran, [])
  await clock.tickAsync(30 * day - 1001)
  t.same(ran, [], 'not a millisecond early')
  await clock.tickAsync(1)
  t.same(ran, ['monthly'])
  await clock.tickAsync(10 * day)
  t.same(ran, ['monthly'])
  await clock.tickAsync(1000)
  t.same(ran, ['monthly', 'later'])
})

t.test('a retry backoff and a ctx.sleep longer than 2^31-1 ms do not fire early', async t => {
  const day = 86_400_000
  const attempts: number[] = []
  const woke: number[] = []
  const { app, clock } = await fakeApp(t, {
    tasks: [
      { name: 'retry', every: '60d', retries: 1, backoff: 30 * day, handler: ctx => { attempts.push(Date.now() - T0); if (ctx.attempt === 1) throw new Error('again') } },
      { name: 'sleeper', every: '60d', handler: async ctx => { await ctx.sleep(30 * day); woke.push(Date.now() - T0) } }
    ]
  })
  await app.ready()
  const retried = app.tasks.trigger('retry')
  const slept = app.tasks.trigger('sleeper')
  await clock.tickAsync(day)
  t.same(attempts, [0])
  t.same(woke, [])
  await clock.tickAsync(29 * day)
  t.same(attempts, [0, 30 * day])
  t.same(woke, [30 * day])
  t.match(await retried, { status: 'succeeded' })
  t.match(await slept, { status: 'succeeded' })
})

t.test('a timeout longer than 2^31-1 ms does not fire early', async t => {
  const day = 86_400_000
  let signal: AbortSignal | undefined
  const { app, clock } = await fakeApp(t, {
    tasks: [{ name: 'slow', every: '1d', timeout: 30 * day, handler: ctx => { signal = ctx.signal; return ctx.sleep(2 * day) } }]
  })
  await app.ready()
  const result = app.tasks.trigger('slow')
  await clock.tickAsync(2 * day)
  t.match(await result, { status: 'succeeded' })
  t.equal(signal?.aborted, false)
})

t.test('app.tasks.add validates like the options, with the same code', async t => {
  const { app } = await buildApp({ tasks: [every()] } as any)
  t.teardown(() => app.close())
  const bad: Array<[unknown, string]> = [
    [every(), 'task.name'],
    [every({ name: 'b', every: '1 week' }), 'task.every'],
    [{ name: 'b', handler }, 'task'],
    [cron({ cron: 'nope' }), 'task.cron'],
    [loop({ overlap: 'skip' }), 'task.overlap'],
    [every({ name: 'b', extra: 1 }), 'task.extra'],
    [undefined, 'task'],
    [null, 'task']
  ]
  for (const [definition, path] of bad) {
    t.throws(() => app.tasks.add(definition as any), { code: 'FST_BACKGROUND_INVALID_OPTION', message: new RegExp(`^Invalid option ${path.replace(/[.[\]]/g, '\\$&')}: `) })
  }
  t.equal(app.tasks.list().length, 1, 'nothing was added')
})

t.test('a backend may refuse task options, at registration and in add', async t => {
  const picky = {
    ...memoryBackend(),
    checkTask (task: { delay: number }, path: string) {
      if (task.delay > 0) throw new InvalidOptionError(`${path}.delay`, 'is not supported by this backend')
    }
  }
  await t.rejects(buildApp({ backend: picky, tasks: [every(), every({ name: 'b', delay: 5 })] } as any),
    { code: 'FST_BACKGROUND_INVALID_OPTION', message: 'Invalid option tasks[1].delay: is not supported by this backend' })
  const { app } = await buildApp({ backend: { ...picky }, tasks: [every()] } as any)
  t.teardown(() => app.close())
  t.throws(() => app.tasks.add(every({ name: 'b', delay: 5 }) as any), { message: 'Invalid option task.delay: is not supported by this backend' })
  t.ok(app.tasks.add(every({ name: 'b' }) as any))
})

t.test('retention: null is refused', async t => {
  await t.rejects(buildApp({ retention: null as any }), { code: 'FST_BACKGROUND_INVALID_OPTION', message: /retention/ })
})
