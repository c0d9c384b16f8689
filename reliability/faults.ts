/* eslint-disable no-throw-literal, prefer-promise-reject-errors -- throwing values that are not Errors is the point of these faults */
import { tracingChannel } from 'node:diagnostics_channel'
import { setTimeout as sleep } from 'node:timers/promises'
import { asFunction, createContainer } from 'awilix'
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyBackground from '../lib/index'
import type { JobStatus, RunResult } from '../lib/types'
import { check, equal, LEVEL, logCapture, mb, Section, settledHeap, until, type LogLine } from './harness'

// Section 1: faults in user code, for tasks and jobs alike. Each fault must be logged, counted,
// leave the process alive with no unhandled rejection, and leave later runs unaffected.

const section = new Section('faults')

interface Fault {
  name: string
  handler: (ctx: any) => unknown
  timeout?: number
  /** The run's status for a task (a job reports 'failed' for a timeout). */
  status: 'succeeded' | 'failed' | 'timeout'
  /** A part of the recorded error message. */
  error?: string
  /** A part of the message of the log line that must name the run or job. */
  logged: string
  level: number
}

function revokedProxy (): object {
  const { proxy, revoke } = Proxy.revocable({}, {})
  revoke()
  return proxy
}

const FAULTS: Fault[] = [
  { name: 'sync-throw', handler: () => { throw new Error('sync boom') }, status: 'failed', error: 'sync boom', logged: 'failed', level: LEVEL.error },
  { name: 'rejection', handler: async () => { throw new Error('async boom') }, status: 'failed', error: 'async boom', logged: 'failed', level: LEVEL.error },
  { name: 'throw-string', handler: () => { throw 'a plain string' }, status: 'failed', error: 'a plain string', logged: 'failed', level: LEVEL.error },
  { name: 'throw-undefined', handler: () => { throw undefined }, status: 'failed', error: 'undefined', logged: 'failed', level: LEVEL.error },
  { name: 'throw-null', handler: () => { throw null }, status: 'failed', error: 'null', logged: 'failed', level: LEVEL.error },
  {
    name: 'throw-null-prototype',
    handler: () => { throw Object.assign(Object.create(null), { code: 'E_ODD' }) },
    status: 'failed',
    error: 'E_ODD',
    logged: 'failed',
    level: LEVEL.error
  },
  { name: 'reject-undefined', handler: () => Promise.reject(undefined), status: 'failed', error: 'undefined', logged: 'failed', level: LEVEL.error },
  { name: 'reject-number', handler: async () => { throw 42 }, status: 'failed', error: '42', logged: 'failed', level: LEVEL.error },
  {
    name: 'throw-cyclic-object',
    handler: () => { const o: any = {}; o.self = o; throw o },
    status: 'failed',
    logged: 'failed',
    level: LEVEL.error
  },
  { name: 'throw-revoked-proxy', handler: () => { throw revokedProxy() }, status: 'failed', logged: 'failed', level: LEVEL.error },
  {
    name: 'throw-error-with-throwing-message',
    handler: () => {
      const error = new Error('x')
      Object.defineProperty(error, 'message', { get () { throw new Error('message getter') } })
      throw error
    },
    status: 'failed',
    logged: 'failed',
    level: LEVEL.error
  },
  {
    name: 'thenable-whose-then-throws',
    handler: () => ({ then () { throw new Error('then boom') } }),
    status: 'failed',
    error: 'then boom',
    logged: 'failed',
    level: LEVEL.error
  },
  { name: 'never-settles', handler: () => new Promise(() => {}), timeout: 50, status: 'timeout', error: 'Timed out after 50 ms', logged: 'did not settle', level: LEVEL.warn },
  {
    name: 'ignores-signal-then-rejects-late',
    handler: async () => {
      await sleep(1300)
      throw new Error('too late')
    },
    timeout: 50,
    status: 'timeout',
    error: 'Timed out after 50 ms',
    logged: 'did not settle',
    level: LEVEL.warn
  },
  {
    name: 'resolution-throws',
    handler: ctx => ctx.cradle.explodes,
    status: 'failed',
    error: 'resolution boom',
    logged: 'failed',
    level: LEVEL.error
  },
  {
    name: 'disposer-throws',
    handler: ctx => { ctx.cradle.throwingDisposer.used = true },
    status: 'succeeded',
    logged: 'scope disposer failed',
    level: LEVEL.error
  },
  {
    name: 'disposer-rejects-non-error',
    handler: async ctx => { ctx.cradle.rejectingDisposer.used = true },
    status: 'succeeded',
    logged: 'scope disposer failed',
    level: LEVEL.error
  }
]

/** How many times each fault is run, as a task and as a job. */
const REPEAT = 3

function faultContainer () {
  const container = createContainer()
  container.register({
    explodes: asFunction(() => { throw new Error('resolution boom') }).scoped(),
    throwingDisposer: asFunction(() => ({ ok: true })).scoped().disposer(() => { throw new Error('disposer boom') }),
    rejectingDisposer: asFunction(() => ({ ok: true })).scoped().disposer(async () => { throw 'disposer string' }),
    healthy: asFunction(() => ({ ok: true })).scoped()
  })
  return container
}

function linesFor (lines: LogLine[], key: 'runId' | 'jobId', id: string, text: string, level: number): LogLine[] {
  return lines.filter(line => line[key] === id && line.level >= level && String(line.msg).includes(text))
}

async function buildFaultApp (): Promise<{ app: FastifyInstance, lines: LogLine[] }> {
  const { stream, lines } = logCapture(LEVEL.info)
  const app = Fastify({ logger: { level: 'info', stream } })
  const jobs: Record<string, unknown> = {}
  for (const fault of FAULTS) jobs[`fault.${fault.name}`] = { handler: fault.handler, timeout: fault.timeout }
  jobs.healthy = async (ctx: any) => { check(ctx.cradle.healthy.ok, 'healthy service') }
  const tasks: any[] = FAULTS.map(fault => ({ name: `fault.${fault.name}`, every: '1h', handler: fault.handler, timeout: fault.timeout }))
  tasks.push({ name: 'healthy', every: '1h', handler: async (ctx: any) => { check(ctx.cradle.healthy.ok, 'healthy service') } })
  await app.register(fastifyBackground, { container: faultContainer(), jobs: jobs as any, tasks, concurrency: 50, shutdownTimeout: 2000 })
  await app.ready()
  return { app, lines }
}

async function taskFault (app: FastifyInstance, lines: LogLine[], fault: Fault): Promise<void> {
  const name = `fault.${fault.name}`
  const results: RunResult[] = []
  for (let i = 0; i < REPEAT; i++) results.push(await app.tasks.trigger(name))
  for (const result of results) {
    equal(result.status, fault.status, 'run status')
    if (fault.error !== undefined) check(result.error?.includes(fault.error), `error ${JSON.stringify(result.error)} names ${fault.error}`)
    if (fault.status !== 'succeeded') check(typeof result.error === 'string' && result.error.length > 0, 'a readable error')
    check(linesFor(lines, 'runId', result.runId, fault.logged, fault.level).length > 0, `a log line "${fault.logged}" with runId`)
  }
  const info = app.tasks.get(name)
  check(info !== undefined, 'task still listed')
  equal(info?.runs, REPEAT, 'runs counted')
  equal(info?.failures, fault.status === 'succeeded' ? 0 : REPEAT, 'failures counted')
  equal(info?.running, 0, 'nothing left running')
  equal(info?.state, 'idle', 'state')
}

async function jobFault (app: FastifyInstance, lines: LogLine[], fault: Fault): Promise<void> {
  const ids: string[] = []
  for (let i = 0; i < REPEAT; i++) ids.push((await app.background.enqueue(`fault.${fault.name}`, { i })).id)
  const statuses = new Map<string, JobStatus>()
  await until(async () => {
    for (const id of ids) {
      const status = await app.background.status(id)
      if (status !== undefined && status.status !== 'queued' && status.status !== 'running') statuses.set(id, status)
    }
    return statuses.size === ids.length
  }, 5000, `${fault.name} jobs to finish`)
  const expected = fault.status === 'timeout' ? 'failed' : fault.status
  for (const id of ids) {
    const status = statuses.get(id) as JobStatus
    equal(status.status, expected, 'job status')
    if (fault.error !== undefined) check(status.error?.includes(fault.error), `error ${JSON.stringify(status.error)} names ${fault.error}`)
    check(linesFor(lines, 'jobId', id, fault.logged, fault.level).length > 0, `a log line "${fault.logged}" with jobId`)
  }
}

async function healthyStillRuns (app: FastifyInstance): Promise<void> {
  const result = await app.tasks.trigger('healthy')
  equal(result.status, 'succeeded', 'healthy task')
  const { id } = await app.background.enqueue('healthy')
  await until(async () => (await app.background.status(id))?.status === 'succeeded', 2000, 'healthy job')
}

/** A task failing on every run of a 1 ms schedule, 1,000 times, next to a healthy one. */
async function thousandFailures (): Promise<void> {
  const { stream, lines, count } = logCapture(LEVEL.fatal)
  const app = Fastify({ logger: { level: 'info', stream } })
  let healthyRuns = 0
  let failingRuns = 0
  await app.register(fastifyBackground, {
    tasks: [
      { name: 'always-fails', every: 1, handler: () => { failingRuns++; throw new Error(`run ${failingRuns}`) } },
      { name: 'neighbour', every: 5, handler: () => { healthyRuns++ } }
    ]
  })
  await app.ready()
  await until(() => (app.tasks.get('always-fails')?.runs ?? 0) >= 1000, 20_000, '1,000 failing runs', 20)
  const info = app.tasks.get('always-fails')
  const neighbour = app.tasks.get('neighbour')
  await app.close()
  equal(lines.length, 0, 'no fatal log line')
  check((info?.failures ?? 0) >= 1000 && info?.failures === info?.runs, `every run counted as a failure (${info?.runs}/${info?.failures})`)
  check(info?.lastRun?.status === 'failed', 'last run failed')
  check(count.all >= 1000, `each failure logged (${count.all} lines)`)
  check(healthyRuns > 50 && neighbour?.failures === 0, `the neighbour kept running (${healthyRuns} runs)`)
  section.note(`1,000-failure task: ${info?.runs} runs, ${info?.failures} failures, ${count.all} log lines, neighbour ${healthyRuns} runs`)
}

/** A loop task that throws is logged and restarted after its backoff. */
async function loopRestarts (): Promise<void> {
  const { stream, lines } = logCapture(LEVEL.warn)
  const app = Fastify({ logger: { level: 'info', stream } })
  let starts = 0
  await app.register(fastifyBackground, { tasks: [{ name: 'bad-loop', loop: true, handler: () => { starts++; throw 'loop string' } }] })
  await app.ready()
  await until(() => starts >= 2, 3000, 'the loop to restart')
  await app.close()
  check(lines.some(line => line.task === 'bad-loop' && String(line.msg).includes('restarting')), 'restart logged')
  check(lines.some(line => line.task === 'bad-loop' && line.level === LEVEL.error), 'failure logged')
}

/** Heap after a warm-up, then after many more failing runs and jobs of every kind: about equal. */
async function memoryBounded (): Promise<void> {
  const { stream } = logCapture(LEVEL.fatal + 1)
  const app = Fastify({ logger: { level: 'info', stream } })
  const cheap = FAULTS.filter(fault => fault.timeout === undefined)
  const jobs: Record<string, unknown> = {}
  for (const fault of cheap) jobs[fault.name] = fault.handler
  await app.register(fastifyBackground, {
    container: faultContainer(),
    jobs: jobs as any,
    concurrency: 20,
    maxQueued: 100_000,
    retention: { max: 100 },
    tasks: [{ name: 'always-fails', every: 1, handler: () => { throw new Error('again') } }]
  })
  await app.ready()
  const round = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) await app.background.enqueue(cheap[i % cheap.length].name, { i })
    await app.background.drain()
  }
  await round(5000)
  const before = await settledHeap()
  const runsBefore = app.tasks.get('always-fails')?.runs ?? 0
  for (let i = 0; i < 6; i++) await round(5000)
  // Enqueueing starves the 1 ms timer: give the failing task 1,000 runs of its own.
  const runsAfterJobs = app.tasks.get('always-fails')?.runs ?? 0
  await until(() => (app.tasks.get('always-fails')?.runs ?? 0) >= runsAfterJobs + 1000, 20_000, '1,000 more failing runs', 20)
  const after = await settledHeap()
  const runs = (app.tasks.get('always-fails')?.runs ?? 0) - runsBefore
  await app.close()
  const grown = after - before
  section.note(`memory: heap ${mb(before)} → ${mb(after)} (${grown >= 0 ? '+' : ''}${mb(grown)}) after 30,000 failing jobs and ${runs} failing task runs`)
  check(grown < 4 * 1024 * 1024, `heap grew by ${mb(grown)}`)
}

/** The whole fault table, as tasks and as jobs, on one app; `traced`: with tracing subscribers. */
async function faultTable (traced: boolean): Promise<void> {
  const suffix = traced ? ' (traced)' : ''
  const subscribers = { start () {}, end () {}, asyncStart () {}, asyncEnd () {}, error () {} }
  const channels = [tracingChannel('fastify-background:task'), tracingChannel('fastify-background:job')]
  if (traced) for (const channel of channels) channel.subscribe(subscribers)
  const { app, lines } = await buildFaultApp()
  await Promise.all(FAULTS.flatMap(fault => [
    section.scenario(`task ${fault.name}${suffix}`, () => taskFault(app, lines, fault)),
    section.scenario(`job ${fault.name}${suffix}`, () => jobFault(app, lines, fault))
  ]))
  await section.scenario(`healthy task and job after all faults${suffix}`, () => healthyStillRuns(app))
  await section.scenario(`job stats count every failed job${suffix}`, async () => {
    const stats = await app.background.stats()
    const failing = FAULTS.filter(fault => fault.status !== 'succeeded').length * REPEAT
    equal(stats.failed, failing, 'stats.failed')
    equal(stats.succeeded, (FAULTS.length * REPEAT) - failing + 1, 'stats.succeeded')
  })
  await section.scenario(`close after faults${suffix}`, async () => {
    const closing = Date.now()
    await app.close()
    check(Date.now() - closing < 2000, 'close took under 2 s')
  })
  if (traced) for (const channel of channels) channel.unsubscribe(subscribers)
}

async function main (): Promise<void> {
  await faultTable(false)
  await faultTable(true)
  await section.scenario('a task failing 1,000 times', thousandFailures)
  await section.scenario('a loop that throws is restarted', loopRestarts)
  await section.scenario('memory bounded under repeated faults', memoryBounded)
  await sleep(1500) // late rejections of abandoned handlers land here, and must be handled
}

section.run(main)
