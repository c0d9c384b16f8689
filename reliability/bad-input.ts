import Fastify, { type FastifyInstance } from 'fastify'
import fastifyBackground from '../lib/index'
import type { JobContext } from '../lib/types'
import { check, equal, Section } from './harness'

// Section 4: bad input. A generated table of invalid option sets and runtime `app.tasks.add`
// calls, each refused with FST_BACKGROUND_INVALID_OPTION and its path, with nothing half
// registered; odd job names answered 500 FST_BACKGROUND_UNKNOWN_JOB; odd ids on the status
// route answered 404; job control's options, list queries, ids and progress values refused.

const section = new Section('bad-input')
const INVALID = 'FST_BACKGROUND_INVALID_OPTION'
/** Handlers of definitions that are refused: none may ever run. */
let refusedRuns = 0
const neverRuns = (): void => { refusedRuns++ }
const handler = (): void => {}

/** An object with an own, enumerable key that plain object literals cannot create. */
function withOwn (base: Record<string, unknown>, key: string, value: unknown): Record<string, unknown> {
  const copy = { ...base }
  Object.defineProperty(copy, key, { value, enumerable: true, configurable: true, writable: true })
  return copy
}

interface Case {
  label: string
  /** The refused value, given as plugin options (register) or as a task definition (add). */
  value: unknown
  /** The path the message must name. */
  path: string
}

const TASK_FIELD_VALUES: Record<string, unknown[]> = {
  name: ['', ' ', 'a b', 'a'.repeat(201), 'tâche', '../x', '-start', 'x\n', '.hidden', 'a\u0000b', '😀', 42, null],
  every: [0, -5, 1.5, NaN, Infinity, 2 ** 53, '', '5', '5 minutes', '1w', '-1s', '0s', '0.5ms', '1e3ms', true, {}, []],
  immediate: ['yes', 1, null],
  delay: [-1, 1.5, NaN, Infinity, '1 week', '-1s', 2 ** 53],
  jitter: [-1, 0.5, Infinity, '10', '-5ms'],
  timeout: [0, -1, 1.5, '0s', '1sec', null],
  overlap: ['queue', '', null, true],
  retries: [-1, 1.5, Infinity, '3'],
  backoff: [-1, NaN, '-1s', '1 week'],
  enabled: ['false', 0, null],
  handler: ['fn', 42, {}, null]
}
const CRON_VALUES: unknown[] = ['', '* * *', '* * * *', '* * * * * * *', '61 * * * *', '* * 32 * *', '0 0 30 2 *', 'nonsense', '@never', 42, null]
const TIMEZONE_VALUES: unknown[] = ['Mars/Olympus', '', 'Europe/Nowhere', 'UTC+25', 42, null]

/** Invalid task definitions, each with the path (relative to the definition) its refusal must name. */
function invalidTasks (): Array<{ label: string, task: unknown, field: string }> {
  const valid = { name: 'refused', every: 1000, immediate: true, handler: neverRuns }
  const cases: Array<{ label: string, task: unknown, field: string }> = []
  for (const [field, values] of Object.entries(TASK_FIELD_VALUES)) {
    for (const value of values) cases.push({ label: `task ${field}: ${show(value)}`, task: { ...valid, [field]: value }, field })
  }
  const cron = { name: 'refused-cron', cron: '* * * * * *', immediate: true, handler: neverRuns }
  for (const value of CRON_VALUES) cases.push({ label: `task cron: ${show(value)}`, task: { ...cron, cron: value }, field: 'cron' })
  for (const value of TIMEZONE_VALUES) cases.push({ label: `task timezone: ${show(value)}`, task: { ...cron, timezone: value }, field: 'timezone' })
  cases.push({ label: 'timezone on an every task', task: { ...valid, timezone: 'Europe/Rome' }, field: 'timezone' })
  const { every: _every, ...unscheduled } = valid
  cases.push({ label: 'no schedule', task: unscheduled, field: '' })
  cases.push({ label: 'no name', task: { every: 1000, handler: neverRuns }, field: 'name' })
  cases.push({ label: 'no handler', task: { name: 'refused', every: 1000 }, field: 'handler' })
  cases.push({ label: 'every and cron', task: { ...valid, cron: '* * * * *' }, field: 'cron' })
  cases.push({ label: 'every and loop', task: { ...valid, loop: true }, field: 'loop' })
  cases.push({ label: 'cron and loop', task: { ...cron, loop: true }, field: 'loop' })
  for (const value of [false, 1, 'yes']) cases.push({ label: `loop: ${show(value)}`, task: { name: 'refused-loop', loop: value, handler: neverRuns }, field: 'loop' })
  for (const key of ['immediate', 'jitter', 'timeout', 'overlap', 'retries', 'backoff']) {
    const value = key === 'overlap' ? 'allow' : key === 'immediate' ? true : 10
    cases.push({ label: `loop with ${key}`, task: { name: 'refused-loop', loop: true, handler: neverRuns, [key]: value }, field: key })
  }
  for (const key of ['evry', 'constructor', 'toString', '__proto__', 'prototype']) {
    cases.push({ label: `unknown task key ${key}`, task: withOwn(valid, key, 1), field: key })
  }
  for (const value of [null, 42, 'every 1s', [], new Map(), new (class Task { name = 'x' })(), Object.create({ name: 'inherited' })]) {
    cases.push({ label: `definition ${show(value)}`, task: value, field: '' })
  }
  return cases
}

function show (value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 20 ? `${value.slice(0, 20)}…` : value)
  if (typeof value === 'number' || value === null || typeof value === 'boolean') return String(value)
  if (Array.isArray(value)) return '[]'
  return Object.prototype.toString.call(value)
}

/** Invalid plugin option sets (each also holds a valid task that must never run). */
function invalidOptions (): Case[] {
  const good = { name: 'must-not-run', every: 1, immediate: true, handler: neverRuns }
  const cases: Case[] = []
  const top: Record<string, unknown[]> = {
    concurrency: [0, -1, 1.5, NaN, Infinity, '10', null, true, 2 ** 53, {}],
    maxQueued: [-1, 1.5, NaN, Infinity, '1000', null],
    shutdownTimeout: [-1, 0.5, NaN, Infinity, '10 sec', '-10s', null],
    statusRoute: [true, '', 'jobs/:id', '/jobs', '/jobs/:id/:x', 42, null],
    retention: ['x', [], 42, null],
    container: [{}, 'x', 42, null],
    backend: [{}, { open () {} }, 'redis://localhost', null],
    jobs: [[], 'x', null, 42],
    tasks: [null, {}, 'x']
  }
  for (const [key, values] of Object.entries(top)) {
    for (const value of values) cases.push({ label: `${key}: ${show(value)}`, value: { tasks: [good], [key]: value }, path: key })
  }
  const retention: Array<[unknown, string]> = [[{ ttl: -1 }, 'retention.ttl'], [{ max: 1.5 }, 'retention.max'], [{ ttl: NaN }, 'retention.ttl'], [{ ttl: '1 week' }, 'retention.ttl'], [{ extra: 1 }, 'retention.extra']]
  for (const [value, path] of retention) cases.push({ label: `retention ${JSON.stringify(value)}`, value: { tasks: [good], retention: value }, path })
  const jobs: Array<[string, unknown, string]> = [
    ['bad name', handler, 'jobs["bad name"]'],
    ['', handler, 'jobs[""]'],
    ['é', handler, 'jobs["é"]'],
    ['a'.repeat(201), handler, `jobs["${'a'.repeat(201)}"]`],
    ['ok', 42, 'jobs["ok"]'],
    ['ok', {}, 'jobs["ok"].handler'],
    ['ok', { handler: 'x' }, 'jobs["ok"].handler'],
    ['ok', { handler, retries: -1 }, 'jobs["ok"].retries'],
    ['ok', { handler, timeout: 0 }, 'jobs["ok"].timeout'],
    ['ok', { handler, backoff: 1.5 }, 'jobs["ok"].backoff'],
    ['ok', { handler, extra: 1 }, 'jobs["ok"].extra'],
    ['__proto__', 42, 'jobs["__proto__"]'],
    ['constructor', { handler, retries: 'x' }, 'jobs["constructor"].retries']
  ]
  for (const [name, definition, path] of jobs) {
    cases.push({ label: `job ${show(name)}: ${show(definition)}`, value: { tasks: [good], jobs: withOwn({}, name, definition) }, path })
  }
  for (const key of ['concurency', 'constructor', 'toString', '__proto__', 'hasOwnProperty']) {
    cases.push({ label: `unknown option ${key}`, value: withOwn({ tasks: [good] }, key, 1), path: key })
  }
  cases.push({ label: 'duplicate task names', value: { tasks: [good, { ...good }] }, path: 'tasks[1].name' })
  for (const { label, task, field } of invalidTasks()) {
    cases.push({ label: `options ${label}`, value: { tasks: [good, task] }, path: field === '' ? 'tasks[1]' : `tasks[1].${field}` })
  }
  return cases
}

function checkRefusal (error: unknown, path: string): void {
  const { code, message } = (error ?? {}) as { code?: string, message?: string }
  equal(code, INVALID, 'error code')
  check(message?.startsWith(`Invalid option ${path}:`), `message ${JSON.stringify(message?.slice(0, 120))} names ${path}`)
}

async function refusedRegistration ({ value, path }: Case): Promise<void> {
  const app = Fastify({ logger: false })
  let error: unknown
  try {
    await app.register(fastifyBackground, value as any)
    await app.ready()
  } catch (caught) {
    error = caught
  }
  if (error === undefined) await app.close()
  checkRefusal(error, path)
  check(!app.hasDecorator('tasks') && !app.hasDecorator('background') && !app.hasReplyDecorator('accepted'), 'nothing decorated')
  await app.close().catch(() => {})
}

async function acceptedDurationOptions (): Promise<void> {
  const app = Fastify({ logger: false })
  await app.register(fastifyBackground, {
    shutdownTimeout: '1s',
    retention: { ttl: '1m' },
    idempotency: { ttl: '30s' },
    jobs: { 'report.build': { handler, timeout: '1s', backoff: '1s' } }
  })
  await app.ready()
  await app.close()
}

async function refusedAdd (app: FastifyInstance, task: unknown, path: string): Promise<void> {
  const before = JSON.stringify(app.tasks.list().map(info => info.name))
  let error: unknown
  try {
    app.tasks.add(task as any)
  } catch (caught) {
    error = caught
  }
  checkRefusal(error, path)
  equal(JSON.stringify(app.tasks.list().map(info => info.name)), before, 'list() after a refused add')
}

async function oddJobNames (): Promise<void> {
  const app = Fastify({ logger: false })
  await app.register(fastifyBackground, { jobs: { 'report.build': handler }, statusRoute: '/jobs/:id' })
  app.post('/named', async (request, reply) => reply.accepted((request.body as { name: string }).name, { x: 1 }))
  app.post('/null-prototype', async (_request, reply) => reply.accepted(Object.create(null)))
  app.post('/symbol', async (_request, reply) => reply.accepted(Symbol('job') as any))
  await app.ready()
  const names: unknown[] = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'a'.repeat(100_000), '😀 tâche', '', ' ', '\u0000', 'report.build ', 'REPORT.BUILD', 42, null, true, {}, [], { __proto__: { x: 1 } }]
  for (const name of names) {
    await section.scenario(`reply.accepted(${show(name)})`, async () => {
      const response = await app.inject({ method: 'POST', url: '/named', payload: { name } })
      equal(response.statusCode, 500, 'status')
      equal(response.json().code, 'FST_BACKGROUND_UNKNOWN_JOB', 'code')
      check(response.body.length < 2000, `body of ${response.body.length} bytes`)
    })
    await section.scenario(`background.enqueue(${show(name)})`, async () => {
      const error = await app.background.enqueue(name as string).then(() => undefined, (caught: unknown) => caught)
      equal((error as { code?: string } | undefined)?.code, 'FST_BACKGROUND_UNKNOWN_JOB', 'code')
    })
  }
  for (const url of ['/null-prototype', '/symbol']) {
    await section.scenario(`reply.accepted via ${url}`, async () => {
      const response = await app.inject({ method: 'POST', url })
      equal(response.statusCode, 500, 'status')
      equal(response.json().code, 'FST_BACKGROUND_UNKNOWN_JOB', 'code')
    })
  }
  await section.scenario('background.enqueue(an object without a prototype)', async () => {
    const error = await app.background.enqueue(Object.create(null)).then(() => undefined, (caught: unknown) => caught)
    equal((error as { code?: string } | undefined)?.code, 'FST_BACKGROUND_UNKNOWN_JOB', 'code')
  })
  const stats = await app.background.stats()
  await section.scenario('nothing was queued by odd names', () => equal(stats.queued + stats.running + stats.succeeded + stats.failed, 0, 'jobs'))
  await app.close()
}

async function oddStatusIds (): Promise<void> {
  const app = Fastify({ logger: false })
  await app.register(fastifyBackground, { jobs: { 'report.build': handler }, statusRoute: '/jobs/:id' })
  await app.ready()
  const ids = [
    'a'.repeat(100), '..%2F..%2Fetc%2Fpasswd', '..', '%2e%2e', '..%5C..%5Cwindows',
    '%00', '%0d%0aSet-Cookie:%20x', '%E2%82%AC', '%F0%9F%98%80', '😀', 'tâche', '__proto__', 'constructor', 'toString',
    '%20', ';', '00000000-0000-4000-8000-000000000000', 'x?id=1', 'x#frag', '%252e%252e', encodeURIComponent('{"$ne":null}')
  ]
  for (const id of ids) {
    await section.scenario(`GET /jobs/${show(id)}`, async () => {
      const response = await app.inject({ method: 'GET', url: `/jobs/${id}` })
      equal(response.statusCode, 404, `status for ${show(id)}`)
    })
  }
  // Ids longer than Fastify's maxParamLength (100) are refused by its router before our route: 414.
  for (const id of ['a'.repeat(101), 'a'.repeat(10_000)]) {
    await section.scenario(`GET /jobs/${show(id)} (over maxParamLength)`, async () => {
      const response = await app.inject({ method: 'GET', url: `/jobs/${id}` })
      check(response.statusCode === 404 || response.statusCode === 414, `status ${response.statusCode}`)
    })
  }
  // Malformed percent-encoding is refused by Fastify's router before our route: a 400, never a 500.
  for (const id of ['%', '%ZZ', '%E0%A4%A']) {
    await section.scenario(`GET /jobs/${id} (malformed encoding)`, async () => {
      const response = await app.inject({ method: 'GET', url: `/jobs/${id}` })
      check(response.statusCode === 404 || response.statusCode === 400, `status ${response.statusCode} for ${id}`)
    })
  }
  await app.close()
}

/** Invalid enqueue options, each with the path its refusal must name. */
function invalidPlacements (): Array<{ opts: unknown, path: string }> {
  const cases: Array<{ opts: unknown, path: string }> = []
  const values: Record<string, unknown[]> = {
    delay: [-1, 1.5, NaN, Infinity, '1 week', '-1s', '5', true, {}, null],
    runAt: ['tomorrow', 1_700_000_000_000, new Date('not a date'), {}, null, true],
    priority: [-1, 1.5, 2 ** 21, NaN, Infinity, '1', true, null, {}],
    key: ['', 'k'.repeat(201), 42, null, {}, ['k'], true]
  }
  for (const [option, list] of Object.entries(values)) {
    for (const value of list) cases.push({ opts: { [option]: value }, path: `opts.${option}` })
  }
  cases.push({ opts: { delay: 10, runAt: new Date() }, path: 'opts.runAt' })
  cases.push({ opts: { priority: 1, prio: 1 }, path: 'opts.prio' })
  for (const key of ['__proto__', 'constructor', 'delai']) cases.push({ opts: withOwn({}, key, 1), path: `opts.${key}` })
  for (const opts of ['1s', 42, [], null, new Map(), new (class Options { delay = 10 })()]) cases.push({ opts, path: 'opts' })
  return cases
}

const INVALID_QUERIES: Array<[unknown, string]> = [
  [{ status: 'done' }, 'query.status'], [{ status: 42 }, 'query.status'], [{ status: 'QUEUED' }, 'query.status'],
  [{ limit: 0 }, 'query.limit'], [{ limit: 1001 }, 'query.limit'], [{ limit: 1.5 }, 'query.limit'], [{ limit: '10' }, 'query.limit'], [{ limit: NaN }, 'query.limit'],
  [{ offset: -1 }, 'query.offset'], [{ offset: 0.5 }, 'query.offset'], [{ offset: '1' }, 'query.offset'],
  [{ extra: 1 }, 'query.extra'], ['queued', 'query'], [42, 'query'], [[], 'query']
]

const cyclic: Record<string, unknown> = {}
cyclic.self = cyclic
const INVALID_PROGRESS: unknown[] = [NaN, Infinity, -Infinity, 'half', true, null, [1], new Map(), { n: 1n }, cyclic, { f: () => {} }, { s: Symbol('x') }, () => {}]

/**
 * Job control's bad input: invalid enqueue options through `enqueue` (named and function jobs)
 * and `reply.accepted`, invalid `list()` queries, odd ids for `cancel`, `retry` and DELETE,
 * progress values JSON can't carry. Each is refused with its code and path; nothing is queued.
 */
async function badJobControl (): Promise<void> {
  let ran = 0
  const placements = invalidPlacements()
  const app = Fastify({ logger: false })
  await app.register(fastifyBackground, { jobs: { 'report.build': () => { ran++ } }, statusRoute: { path: '/jobs/:id', cancel: true } })
  app.post('/bad/:index', async (request, reply) => reply.accepted('report.build', { x: 1 }, placements[Number((request.params as { index: string }).index)].opts as any))
  await app.ready()
  for (const [index, { opts, path }] of placements.entries()) {
    await section.scenario(`enqueue opts ${show(opts)} (${path})`, async () => {
      checkRefusal(await app.background.enqueue('report.build', { x: 1 }, opts as any).then(() => undefined, (caught: unknown) => caught), path)
      checkRefusal(await app.background.enqueue(() => { ran++ }, opts as any).then(() => undefined, (caught: unknown) => caught), path)
      const response = await app.inject({ method: 'POST', url: `/bad/${index}` })
      equal(response.statusCode, 500, 'reply.accepted status')
      checkRefusal(response.json(), path)
    })
  }
  for (const [query, path] of INVALID_QUERIES) {
    await section.scenario(`list(${show(query)})`, async () => {
      checkRefusal(await app.background.list(query as any).then(() => undefined, (caught: unknown) => caught), path)
    })
  }
  for (const id of [42, undefined, null, {}, '', 'not-a-job', '00000000-0000-4000-8000-000000000000', '__proto__']) {
    await section.scenario(`cancel and retry (${show(id)})`, async () => {
      equal(await app.background.cancel(id as any), false, 'cancel')
      equal(await app.background.retry(id as any), false, 'retry')
    })
  }
  for (const id of ['not-a-job', '__proto__', '%00', '..%2F..', '00000000-0000-4000-8000-000000000000']) {
    await section.scenario(`DELETE /jobs/${id}`, async () => {
      const response = await app.inject({ method: 'DELETE', url: `/jobs/${id}` })
      equal(response.statusCode, 404, 'status')
    })
  }
  const stats = await app.background.stats()
  await section.scenario('nothing was queued by refused options', () => {
    equal(stats.queued + stats.running + stats.succeeded + stats.failed, 0, 'jobs')
    equal(ran, 0, 'handler runs')
  })
  await app.close()
  await badProgress()
  section.note(`job control: ${placements.length} invalid enqueue options (x3 ways), ${INVALID_QUERIES.length} list queries, ${INVALID_PROGRESS.length} progress values`)
}

/** Each progress value JSON can't carry rejects with FST_BACKGROUND_INVALID_DATA; the last good one stays. */
async function badProgress (): Promise<void> {
  const refusals: unknown[] = []
  const app = Fastify({ logger: false })
  await app.register(fastifyBackground, {
    jobs: {
      progress: async (ctx: JobContext) => {
        await ctx.progress({ done: 1 })
        for (const value of INVALID_PROGRESS) refusals.push(await ctx.progress(value as any).then(() => undefined, (caught: unknown) => caught))
      }
    }
  })
  await app.ready()
  const { id } = await app.background.enqueue('progress')
  await app.background.drain()
  const status = await app.background.status(id)
  await section.scenario('progress values JSON cannot carry', () => {
    equal(status?.status, 'succeeded', 'the job still succeeds')
    equal(JSON.stringify(status?.progress), '{"done":1}', 'the last good progress')
    equal(refusals.length, INVALID_PROGRESS.length, 'refusals')
    for (const refusal of refusals) equal((refusal as { code?: string } | undefined)?.code, 'FST_BACKGROUND_INVALID_DATA', 'code')
  })
  await app.close()
}

async function main (): Promise<void> {
  const options = invalidOptions()
  for (const refusal of options) await section.scenario(`register ${refusal.label}`, () => refusedRegistration(refusal))

  const app = Fastify({ logger: false })
  await app.register(fastifyBackground, { tasks: [{ name: 'existing', every: '1h', handler }] })
  await app.ready()
  const adds = invalidTasks()
  for (const { label, task, field } of adds) {
    await section.scenario(`add ${label}`, () => refusedAdd(app, task, field === '' ? 'task' : `task.${field}`))
  }
  await section.scenario('add a duplicate name', () => refusedAdd(app, { name: 'existing', every: 1000, handler: neverRuns }, 'task.name'))
  await section.scenario('odd but valid names are accepted', () => {
    for (const name of ['__proto__', 'constructor', 'a'.repeat(200), 'a:b@c/d-e.f_g']) app.tasks.add({ name, every: '1h', handler })
    equal(app.tasks.list().length, 5, 'tasks listed')
    equal(app.tasks.get('__proto__')?.name, '__proto__', '__proto__ task')
  })
  await section.scenario('duration strings are accepted where a duration is', () => {
    app.tasks.add({ name: 'durations', every: '1h', delay: '1s', jitter: '5 ms', timeout: '1s', backoff: '1s', retries: 1, handler })
    equal(app.tasks.get('durations')?.name, 'durations', 'task added')
  })
  await section.scenario('duration strings are accepted in the plugin options', acceptedDurationOptions)
  await new Promise(resolve => setTimeout(resolve, 100))
  await section.scenario('no refused definition ever ran', () => equal(refusedRuns, 0, 'runs of refused tasks'))
  await app.close()
  section.note(`generated: ${options.length} invalid option sets, ${adds.length + 1} invalid runtime add calls`)

  await oddJobNames()
  await oddStatusIds()
  await badJobControl()
}

section.run(main)
