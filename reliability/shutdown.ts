import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { asFunction, createContainer } from 'awilix'
import autocannon from 'autocannon'
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyBackground from '../lib/index'
import type { JobContext } from '../lib/types'
import { check, equal, LEVEL, logCapture, Section, until, type LogLine } from './harness'

// Section 3: close at random moments under load, 20 times. Every job that got a 202 finished, or
// (past shutdownTimeout) was logged by id and marked cancelled; close always resolves within
// shutdownTimeout + the 1 s abort grace + a little. Then SIGTERM to the example server.

const section = new Section('shutdown')
const ROUNDS = Number(process.env.RELIABILITY_ROUNDS ?? 20)
const SHUTDOWN_TIMEOUT = 300
const ABORT_GRACE = 1000
/** What close may take beyond shutdownTimeout + grace: closing the listener, disposal, event-loop lag. */
const SLACK = 500

const random = (min: number, max: number): number => min + Math.floor(Math.random() * (max - min + 1))

const JOBS = {
  quick: async () => { await sleep(random(0, 3)) },
  // Cooperative: ends as soon as its signal aborts.
  polite: async (ctx: JobContext) => { await ctx.sleep(random(20, 600)) },
  // Ignores its signal, and outlives the grace.
  stubborn: async () => { await sleep(random(200, 2500)) },
  // Fails its first attempt, then waits to retry.
  flaky: { handler: async (ctx: JobContext) => { if (ctx.attempt === 1) throw new Error('first attempt fails') }, retries: 2, backoff: 100 }
}
type Kind = keyof typeof JOBS

function pickKind (): Kind {
  const r = Math.random()
  return r < 0.8 ? 'quick' : r < 0.9 ? 'polite' : r < 0.95 ? 'flaky' : 'stubborn'
}

interface Round {
  app: FastifyInstance
  lines: LogLine[]
  accepted: Set<string>
}

async function buildRound (): Promise<Round> {
  const { stream, lines } = logCapture(LEVEL.warn)
  const app = Fastify({ logger: { level: 'warn', stream } })
  const accepted = new Set<string>()
  await app.register(fastifyBackground, {
    concurrency: 4,
    maxQueued: 200,
    shutdownTimeout: SHUTDOWN_TIMEOUT,
    jobs: JOBS,
    tasks: [
      { name: 'busy', every: 10, overlap: 'allow', handler: async (ctx) => { await ctx.sleep(random(0, 400)) } },
      { name: 'deaf', every: 50, handler: async () => { await sleep(random(0, 1500)) } },
      { name: 'looping', loop: true, handler: async (ctx) => { while (!ctx.signal.aborted) await ctx.sleep(5) } }
    ]
  })
  app.post('/work', async (_request, reply) => reply.accepted(pickKind(), { n: 1 }))
  // Every 202 the server sent, whether or not the client saw it.
  app.addHook('onSend', async (_request, reply, payload) => {
    if (reply.statusCode === 202) accepted.add(JSON.parse(String(payload)).id)
  })
  return { app, lines, accepted }
}

const closeTimes: number[] = []

async function shutdownRound (index: number): Promise<string> {
  const { app, lines, accepted } = await buildRound()
  const address = await app.listen({ host: '127.0.0.1', port: 0 })
  const client = autocannon({ url: `${address}/work`, method: 'POST', connections: 16, duration: 30 })
  client.on('error', () => {})
  await sleep(random(50, 800))
  const closing = Date.now()
  await app.close()
  const closeMs = Date.now() - closing
  closeTimes.push(closeMs)
  client.stop()

  const limit = SHUTDOWN_TIMEOUT + ABORT_GRACE + SLACK
  check(closeMs <= limit, `round ${index}: close took ${closeMs} ms (limit ${limit})`)
  check(accepted.size > 0, `round ${index}: no job accepted before the close`)
  const counts: Record<string, number> = {}
  let survived = 0
  for (const id of accepted) {
    const status = (await app.background.status(id))?.status
    const logged = lines.some(line => line.jobId === id && line.level === LEVEL.warn)
    if (status === 'succeeded' || (status === 'cancelled' && logged)) survived++
  }
  section.tally(`round ${index}: accepted jobs`, accepted.size, survived)
  for (const id of accepted) {
    const status = await app.background.status(id)
    const state = status?.status ?? 'missing'
    counts[state] = (counts[state] ?? 0) + 1
    check(state === 'succeeded' || state === 'cancelled', `round ${index}: job ${id} ended ${state}`)
    if (state === 'cancelled') {
      check(lines.some(line => line.jobId === id && line.level === LEVEL.warn), `round ${index}: cancelled job ${id} not logged by id at warn level`)
    }
  }
  const stats = await app.background.stats()
  equal(stats.queued + stats.running, 0, `round ${index}: queued + running after close`)
  for (const info of app.tasks.list()) {
    equal(info.running, 0, `round ${index}: task ${info.name} still running after close`)
    equal(info.state, 'stopped', `round ${index}: task ${info.name} state`)
  }
  return `${closeMs} ms, ${accepted.size} accepted: ${JSON.stringify(counts)}`
}

/** A run ended by remove() or close whose handler honours its signal is 'cancelled', not 'succeeded'. */
async function cooperativeCancel (): Promise<void> {
  const { stream, lines } = logCapture(LEVEL.warn)
  const app = Fastify({ logger: { level: 'warn', stream } })
  await app.register(fastifyBackground, {
    shutdownTimeout: 100,
    jobs: { polite: async (ctx: JobContext) => { await ctx.sleep(60_000) } },
    tasks: [{ name: 'polite', every: '1h', handler: async (ctx) => { await ctx.sleep(60_000) } }]
  })
  await app.ready()
  const run = app.tasks.trigger('polite')
  await sleep(20)
  await app.tasks.remove('polite')
  equal((await run).status, 'cancelled', 'removed task run')
  const { id } = await app.background.enqueue('polite')
  await sleep(20)
  await app.close()
  equal((await app.background.status(id))?.status, 'cancelled', 'job cut short by close')
  check(lines.some(line => line.jobId === id && line.level === LEVEL.warn), 'the job is logged by id')
}

/** close() while ready() is pending (SIGTERM during start-up): nothing starts after it, no timer is left armed. */
async function closeDuringReady (): Promise<void> {
  let runs = 0
  const app = Fastify({ logger: false })
  await app.register(fastifyBackground, {
    tasks: [
      { name: 'every', every: 5, immediate: true, handler: () => { runs++ } },
      { name: 'loop', loop: true, handler: async (ctx) => { runs++; await ctx.sleep(60_000) } }
    ]
  })
  const timersBefore = process.getActiveResourcesInfo().filter(kind => kind === 'Timeout').length
  const ready = app.ready()
  await app.close()
  await ready
  await sleep(50)
  equal(runs, 0, 'runs after a close during ready')
  for (const info of app.tasks.list()) equal(info.nextRunAt, null, `${info.name}: nextRunAt`)
  const timersAfter = process.getActiveResourcesInfo().filter(kind => kind === 'Timeout').length
  check(timersAfter <= timersBefore, `${timersAfter - timersBefore} timer(s) left armed`)
}

/** A scope disposer that never settles cannot hold close past shutdownTimeout + the grace and as long again. */
async function stuckDisposer (): Promise<void> {
  const container = createContainer()
  container.register({ stuck: asFunction(() => ({})).scoped().disposer(() => new Promise(() => {})) })
  const { stream, lines } = logCapture(LEVEL.warn)
  const app = Fastify({ logger: { level: 'warn', stream } })
  await app.register(fastifyBackground, {
    container,
    shutdownTimeout: SHUTDOWN_TIMEOUT,
    jobs: { stuck: async (ctx: JobContext) => { ctx.scope.resolve<{ used: boolean }>('stuck').used = true } },
    tasks: [{ name: 'stuck', every: 5, handler: async (ctx) => { ctx.scope.resolve<{ used: boolean }>('stuck').used = true } }]
  })
  await app.ready()
  const { id } = await app.background.enqueue('stuck')
  await sleep(50)
  const closing = Date.now()
  await app.close()
  const closeMs = Date.now() - closing
  check(closeMs <= SHUTDOWN_TIMEOUT + 2 * ABORT_GRACE + SLACK, `close took ${closeMs} ms`)
  equal((await app.background.status(id))?.status, 'cancelled', 'the abandoned job')
  equal((await app.background.stats()).running, 0, 'jobs running after close')
  check(lines.some(line => line.jobId === id && String(line.msg).includes('did not finish disposing')), 'the abandoned job logged by id')
  check(lines.some(line => line.task === 'stuck' && typeof line.runId === 'string' && String(line.msg).includes('did not finish disposing')), 'the abandoned task run logged by runId')
}

/** SIGTERM to `npm start` while the example serves a few requests: it drains the accepted job and exits 0. */
async function exampleSigterm (): Promise<void> {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  const child = spawn(npm, ['start', '--silent'], {
    cwd: join(__dirname, '..'),
    env: { ...process.env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.on('data', chunk => { output += chunk })
  child.stderr.on('data', chunk => { output += chunk })
  const exited = new Promise<number | null>(resolve => child.on('exit', code => resolve(code)))
  try {
    await until(() => /listening at http:\/\/[\w.[\]:]+:\d+/.test(output), 20_000, 'the example to print its address', 20)
    const address = (/http:\/\/[\w.[\]:]+:\d+/.exec(output.slice(output.indexOf('listening at'))) as RegExpExecArray)[0]
    const hello = await Promise.all([1, 2, 3].map(async () => (await fetch(address)).status))
    check(hello.every(status => status === 200), `GET / answered ${hello.join(', ')}`)
    const accepted = await fetch(`${address}/reports`, { method: 'POST' })
    equal(accepted.status, 202, 'POST /reports')
    const { id } = await accepted.json() as { id: string }
    const closing = Date.now()
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
    const code = await exited
    clearTimeout(timer)
    equal(code, 0, `exit code after SIGTERM (output: ${output.slice(-300)})`)
    const done = output.split('\n').filter(line => line.includes('"Done!"') && line.includes(id))
    equal(done.length, 1, 'the accepted report job finished before the exit')
    section.note(`example: SIGTERM → exit 0 in ${Date.now() - closing} ms, its accepted job drained`)
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL')
  }
}

async function main (): Promise<void> {
  for (let i = 1; i <= ROUNDS; i++) {
    await section.scenario(`close at a random moment under load, round ${i}`, async () => {
      section.note(`round ${i}: ${await shutdownRound(i)}`)
    })
  }
  section.note(`close under load: ${Math.min(...closeTimes)}–${Math.max(...closeTimes)} ms over ${closeTimes.length} rounds (limit ${SHUTDOWN_TIMEOUT + ABORT_GRACE + SLACK} ms = shutdownTimeout ${SHUTDOWN_TIMEOUT} + grace ${ABORT_GRACE} + ${SLACK})`)
  await section.scenario('a cooperative run ended by remove() or close is cancelled', cooperativeCancel)
  await section.scenario('a disposer that never settles does not hold close', stuckDisposer)
  await section.scenario('close() while ready() is pending starts nothing', closeDuringReady)
  await section.scenario('SIGTERM to the example server (npm start) exits 0 after draining', exampleSigterm)
  await sleep(1500) // late settlements of abandoned handlers land here, and must be handled
}

section.run(main)
