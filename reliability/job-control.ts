import { Agent, request as httpRequest } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { asFunction, createContainer } from 'awilix'
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyBackground from '../lib/index'
import type { JobContext, JobState } from '../lib/types'
import { check, equal, LEVEL, logCapture, Section } from './harness'

// Section 6: job control under races. A cancel sent at a random moment around the job's own end;
// one `key` enqueued from many requests at once; clients retrying one Idempotency-Key request
// many times at once against a real listener with a small queue; delayed, prioritised and
// retry-waiting jobs at close. Every job ends with one status, and nothing is lost.

const section = new Section('job-control')
const CANCEL_JOBS = Number(process.env.RELIABILITY_CANCEL_JOBS ?? 4000)
const KEYS = 200
const REQUESTS_PER_KEY = 25
const IDEMPOTENT_KEYS = Number(process.env.RELIABILITY_IDEMPOTENT_KEYS ?? 1000)
const RETRIES_AT_ONCE = 4
const CLOSE_ROUNDS = 10
const SHUTDOWN_TIMEOUT = 200
const ABORT_GRACE = 1000
const SLACK = 500
const FINAL: ReadonlySet<JobState> = new Set(['succeeded', 'failed', 'cancelled'])

const random = (min: number, max: number): number => min + Math.floor(Math.random() * (max - min + 1))
const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]

function count<T extends string> (counts: Record<string, number>, key: T): void {
  counts[key] = (counts[key] ?? 0) + 1
}

// --- cancel racing the job's end ---------------------------------------------------------------

/** How a job of the cancel race behaves: how long it takes, how it ends, whether it heeds its signal. */
interface RacePlan {
  n: number
  ms: number
  ends: 'succeeds' | 'fails' | 'fails-once' | 'sync'
  heedsSignal: boolean
  usesScope: boolean
}

/** What the job ends as when no cancel reaches it: retries: 1, so 'fails-once' succeeds at its second attempt. */
function ownOutcome (plan: RacePlan): JobState {
  return plan.ends === 'fails' ? 'failed' : 'succeeded'
}

interface RaceRecord {
  plan: RacePlan
  id: string
  attempts: number
  answers: boolean[]
  /** The status read as each cancel answered. */
  statusAtAnswer: Array<JobState | undefined>
  /** Attempts started when the first true answer came. */
  attemptsAtTrue: number | undefined
  /** Sends the cancel(s) around the moment the first attempt should end, when that is its plan. */
  atFirstStart: (() => void) | undefined
}

/** Counts the attempt, and arms the cancel planned around the end of the first. */
function attemptStarted (record: RaceRecord): void {
  if (record.attempts++ === 0 && record.atFirstStart !== undefined) {
    const fire = record.atFirstStart
    setTimeout(fire, Math.max(0, record.plan.ms + random(-2, 2)))
  }
}

async function raceHandler (ctx: JobContext<RacePlan>, records: Map<number, RaceRecord>): Promise<number> {
  const plan = ctx.data
  attemptStarted(records.get(plan.n) as RaceRecord)
  // A scoped value with a slow disposer: a cancel may come while the attempt's scope is disposed.
  if (plan.usesScope) ctx.scope.resolve('token')
  if (plan.heedsSignal) await ctx.sleep(plan.ms)
  else await sleep(plan.ms)
  if (plan.ends === 'fails' || (plan.ends === 'fails-once' && ctx.attempt === 1)) throw new Error('planned failure')
  return plan.n
}

function syncRace (ctx: JobContext<RacePlan>, records: Map<number, RaceRecord>): number {
  attemptStarted(records.get(ctx.data.n) as RaceRecord)
  return ctx.data.n
}

function racePlan (n: number): RacePlan {
  return { n, ms: random(0, 8), ends: pick(['succeeds', 'fails', 'fails-once', 'succeeds', 'sync'] as const), heedsSignal: Math.random() < 0.7, usesScope: Math.random() < 0.2 }
}

async function raceApp (records: Map<number, RaceRecord>): Promise<FastifyInstance> {
  const container = createContainer()
  // A scoped value whose disposer takes a random while.
  container.register({ token: asFunction(() => ({})).scoped().disposer(() => sleep(random(0, 3))) })
  const app = Fastify({ logger: false })
  await app.register(fastifyBackground, {
    container,
    concurrency: 16,
    maxQueued: CANCEL_JOBS,
    retention: { max: CANCEL_JOBS * 2 },
    jobs: {
      race: { handler: (ctx: JobContext<RacePlan>) => ctx.data.ends === 'sync' ? syncRace(ctx, records) : raceHandler(ctx, records), retries: 1, backoff: 2 }
    }
  })
  await app.ready()
  return app
}

/**
 * Thousands of jobs, each cancelled (or not) at a random moment: most around the moment their
 * first attempt should end (± 2 ms, so also during its retry's backoff), some at once while it
 * waits in line or for its delay, some twice at once. The job ends with one status: cancelled
 * when a cancel answered true, its own outcome when they answered false.
 */
async function cancelRace (): Promise<void> {
  const records = new Map<number, RaceRecord>()
  const app = await raceApp(records)
  const answered: Array<Promise<void>> = []
  for (let n = 0; n < CANCEL_JOBS; n++) {
    const plan = racePlan(n)
    const placement = Math.random() < 0.2 ? { delay: random(0, 6) } : Math.random() < 0.2 ? { priority: random(0, 5) } : {}
    const { id } = await app.background.enqueue('race', plan, placement)
    const record: RaceRecord = { plan, id, attempts: 0, answers: [], statusAtAnswer: [], attemptsAtTrue: undefined, atFirstStart: undefined }
    records.set(n, record)
    const cancel = async (): Promise<void> => {
      const answer = await app.background.cancel(id)
      record.answers.push(answer)
      if (answer) record.attemptsAtTrue ??= record.attempts
      record.statusAtAnswer.push((await app.background.status(id))?.status)
    }
    const r = Math.random()
    if (r < 0.1) continue
    if (r < 0.2) {
      answered.push(cancel())
    } else if (r < 0.3) {
      answered.push(sleep(random(0, 10)).then(() => Promise.all([cancel(), cancel()])).then(() => {}))
    } else {
      answered.push(new Promise<void>(resolve => {
        record.atFirstStart = () => { cancel().then(resolve, resolve) }
      }))
    }
    // Enqueue about as fast as the jobs run, so that jobs start soon after they are queued.
    if (n % 16 === 15) await sleep(random(2, 5))
  }
  await Promise.all(answered)
  await app.background.drain()
  await sleep(30)
  const counts: Record<string, number> = {}
  let survived = 0
  const problems: string[] = []
  for (const record of records.values()) {
    const problem = await raceProblem(app, record, counts)
    if (problem === undefined) survived++
    else if (problems.length < 5) problems.push(`job ${record.plan.n} ${JSON.stringify(record.plan)}: ${problem}`)
  }
  section.tally('cancel races: jobs with one final status', records.size, survived)
  for (const problem of problems) console.error(`  ${problem}`)
  const stats = await app.background.stats()
  await section.scenario('cancel races: nothing queued or running after drain', () => equal(stats.queued + stats.running, 0, 'queued + running'))
  section.note(`cancel races: ${records.size} jobs; ${JSON.stringify(counts)}`)
  await app.close()
}

/** Why a job of the cancel race broke the contract, or undefined when it did not. */
async function raceProblem (app: FastifyInstance, record: RaceRecord, counts: Record<string, number>): Promise<string | undefined> {
  const status = await app.background.status(record.id)
  if (status === undefined) return 'status missing'
  if (!FINAL.has(status.status)) return `ended ${status.status}`
  const cancelledTrue = record.answers.includes(true)
  if (record.answers.length === 0) {
    count(counts, `not cancelled -> ${status.status}`)
    return status.status === ownOutcome(record.plan) ? undefined : `not cancelled, yet ${status.status}`
  }
  count(counts, `cancel ${cancelledTrue ? 'true' : 'false'}${record.answers.length > 1 ? ' (twice)' : ''} -> ${status.status}`)
  // Each answer saw the final status at once, and that status never changed afterwards.
  const changed = record.statusAtAnswer.find(seen => seen !== status.status)
  if (changed !== undefined) return `read ${changed} as cancel answered, ${status.status} later`
  if (cancelledTrue) {
    if (status.status !== 'cancelled') return `cancel answered true, yet ${status.status}`
    if (record.attempts !== record.attemptsAtTrue) return `started again after a true cancel (${record.attemptsAtTrue} -> ${record.attempts} attempts)`
    if (status.result !== undefined) return 'a cancelled job kept a result'
    return undefined
  }
  if (status.status !== ownOutcome(record.plan)) return `cancel answered false, yet ${status.status} (own outcome ${ownOutcome(record.plan)})`
  return undefined
}

// --- one key from many requests at once --------------------------------------------------------

interface KeyedRuns {
  running: Map<string, number>
  /** The ids of the jobs that ran, per key, in order. */
  ran: Map<string, string[]>
  overlaps: number
}

/** An app whose job 'sync' records its runs per key, and lasts until `hold()` resolves. */
async function keyedApp (keyed: KeyedRuns, hold: () => Promise<unknown>): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  await app.register(fastifyBackground, {
    concurrency: 8,
    maxQueued: 100_000,
    retention: { max: 100_000 },
    shutdownTimeout: 1000,
    statusRoute: '/jobs/:id',
    jobs: {
      sync: async (ctx: JobContext<{ key: string }>) => {
        const key = ctx.data.key
        const now = (keyed.running.get(key) ?? 0) + 1
        keyed.running.set(key, now)
        if (now > 1) keyed.overlaps++
        keyed.ran.set(key, [...(keyed.ran.get(key) ?? []), ctx.id])
        try {
          await hold()
        } finally {
          keyed.running.set(key, now - 1)
        }
      }
    }
  })
  app.post('/sync/:key', async (request, reply) => {
    const { key } = request.params as { key: string }
    const { delay } = request.query as { delay?: string }
    return reply.accepted('sync', { key }, delay === undefined ? { key } : { key, delay: Number(delay) })
  })
  await app.ready()
  return app
}

/** One wave: every key asked for by REQUESTS_PER_KEY injected requests and 5 `enqueue` calls, all at once; the ids answered. */
async function keyWave (app: FastifyInstance, wave: number): Promise<Array<[string, string]>> {
  const answered: Array<[string, string]> = []
  const calls: Array<Promise<void>> = []
  for (let k = 0; k < KEYS; k++) {
    const key = `account-${k}`
    // Half the keys wait for a delay first: a delayed job holds its key too.
    const url = `/sync/${key}${k % 2 === 0 ? '?delay=20' : ''}`
    for (let i = 0; i < REQUESTS_PER_KEY; i++) {
      calls.push(app.inject({ method: 'POST', url }).then(response => {
        equal(response.statusCode, 202, `wave ${wave}: POST ${url}`)
        const body = response.json()
        check(body.status === 'queued' || body.status === 'running', `wave ${wave}: 202 status ${body.status}`)
        equal(response.headers.location, `/jobs/${body.id}`, `wave ${wave}: Location`)
        answered.push([key, body.id])
      }))
    }
    for (let i = 0; i < 5; i++) {
      calls.push(app.background.enqueue('sync', { key }, k % 2 === 0 ? { key, delay: 20 } : { key }).then(job => { answered.push([key, job.id]) }))
    }
  }
  // Every call is awaited even when one fails, so no promise is left to reject unhandled.
  const failures = (await Promise.allSettled(calls)).filter(result => result.status === 'rejected')
  if (failures.length > 0) throw (failures[0] as PromiseRejectedResult).reason
  return answered
}

async function manyRequestsOneKey (): Promise<void> {
  const keyed: KeyedRuns = { running: new Map(), ran: new Map(), overlaps: 0 }
  let open!: () => void
  let shut = new Promise<void>(resolve => { open = resolve })
  const app = await keyedApp(keyed, () => shut)
  const answers = KEYS * (REQUESTS_PER_KEY + 5)
  for (const wave of [1, 2]) {
    await section.scenario(`key wave ${wave}: ${answers} answers at once, one job per key`, async () => {
      let answered: Array<[string, string]>
      let stats
      try {
        answered = await keyWave(app, wave)
        stats = await app.background.stats()
      } finally {
        // Whatever failed, the held jobs end, so the next wave and the close are not stuck behind them.
        open()
      }
      equal(stats.queued + stats.running, KEYS, 'jobs queued or running while they are held')
      await app.background.drain()
      shut = new Promise<void>(resolve => { open = resolve })
      // Each key's job of this wave is the one that ran; wave 2 made new ones, as wave 1's had ended.
      let survived = 0
      for (const [key, id] of answered) if (keyed.ran.get(key)?.length === wave && keyed.ran.get(key)?.[wave - 1] === id) survived++
      section.tally(`key wave ${wave}: answers carrying their key's one job`, answered.length, survived)
      equal(keyed.ran.size, KEYS, 'keys whose job ran')
      equal(keyed.overlaps, 0, 'two jobs of one key running at once')
    })
  }
  await app.close()
  await section.scenario('key churn: enqueues at random moments while jobs end', keyChurn)
}

/** Keys enqueued again and again at random moments while their jobs end at random moments: never two at once per key. */
async function keyChurn (): Promise<void> {
  const keyed: KeyedRuns = { running: new Map(), ran: new Map(), overlaps: 0 }
  const app = await keyedApp(keyed, () => sleep(random(0, 3)))
  const made = new Map<string, string[]>()
  const duplicates: Array<[string, string]> = []
  const calls: Array<Promise<void>> = []
  for (let i = 0; i < 4000; i++) {
    const key = `k${random(0, 49)}`
    calls.push(sleep(random(0, 800)).then(async () => {
      const job = await app.background.enqueue('sync', { key }, { key })
      if (job.duplicate === true) duplicates.push([key, job.id])
      else made.set(key, [...(made.get(key) ?? []), job.id])
    }))
  }
  await Promise.all(calls)
  await app.background.drain()
  equal(keyed.overlaps, 0, 'two jobs of one key running at once')
  let jobs = 0
  for (const [key, ids] of made) {
    jobs += ids.length
    equal(keyed.ran.get(key)?.join(), ids.join(), `jobs run for ${key}`)
    let previousEnd = -Infinity
    for (const id of ids) {
      const status = await app.background.status(id)
      equal(status?.status, 'succeeded', `${key}: job ${id}`)
      // Each job of a key was enqueued once the one before had ended.
      check((status?.enqueuedAt.getTime() as number) >= previousEnd, `${key}: job ${id} enqueued before the previous one ended`)
      previousEnd = status?.finishedAt?.getTime() as number
    }
  }
  for (const [key, id] of duplicates) check(made.get(key)?.includes(id), `${key}: a duplicate answered ${id}, not a job of that key`)
  section.note(`key churn: 4000 enqueues of 50 keys, ${jobs} jobs made, ${duplicates.length} answered as duplicates, 0 overlaps`)
  await app.close()
}

// --- idempotent retries under load, over real sockets --------------------------------------------

interface Answer {
  status: number
  body: any
  retryAfter: string | undefined
}

function post (agent: Agent, url: URL, key: string | undefined, payload: unknown): Promise<Answer> {
  const body = JSON.stringify(payload)
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }
    if (key !== undefined) headers['idempotency-key'] = key
    const req = httpRequest(url, { method: 'POST', agent, headers }, response => {
      let text = ''
      response.setEncoding('utf8')
      response.on('data', chunk => { text += chunk })
      response.on('end', () => {
        const retryAfter = response.headers['retry-after']
        resolve({ status: response.statusCode as number, body: text === '' ? undefined : JSON.parse(text), retryAfter })
      })
      response.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

interface KeyClient {
  key: string
  data: { order: number, items: string[] }
  ids: Set<string>
  answers: Record<string, number>
  problems: string[]
}

/** One client's retries of its request: RETRIES_AT_ONCE at once, then again after each all-503 round until one is accepted. */
async function retryUntilAccepted (agent: Agent, url: URL, client: KeyClient): Promise<void> {
  const giveUpAt = Date.now() + 10_000
  while (Date.now() < giveUpAt) {
    const answers = await Promise.all(Array.from({ length: RETRIES_AT_ONCE }, () => post(agent, url, client.key, client.data)))
    for (const answer of answers) {
      count(client.answers, String(answer.status))
      if (answer.status === 202) client.ids.add(answer.body.id)
      else if (answer.status !== 503) client.problems.push(`answered ${answer.status} ${JSON.stringify(answer.body)}`)
      else if (!(Number(answer.retryAfter) >= 1)) client.problems.push('503 without Retry-After')
    }
    if (client.ids.size > 0) return
    // Retry-After says 1 s; the clients come back sooner, to keep the queue under pressure.
    await sleep(random(5, 30))
  }
  client.problems.push('not accepted within 10 s')
}

async function idempotentLoad (): Promise<void> {
  const runs = new Map<number, number>()
  const app = Fastify({ logger: false })
  await app.register(fastifyBackground, {
    concurrency: 4,
    maxQueued: 100,
    idempotency: true,
    retention: { max: IDEMPOTENT_KEYS * 2 },
    statusRoute: '/jobs/:id',
    jobs: {
      order: async (ctx: JobContext<{ order: number }>) => {
        runs.set(ctx.data.order, (runs.get(ctx.data.order) ?? 0) + 1)
        await sleep(random(0, 2))
      }
    }
  })
  app.post('/orders', async (request, reply) => reply.accepted('order', request.body))
  const address = await app.listen({ host: '127.0.0.1', port: 0 })
  const url = new URL('/orders', address)
  const agent = new Agent({ keepAlive: true, maxSockets: 64 })
  const clients: KeyClient[] = Array.from({ length: IDEMPOTENT_KEYS }, (_, order) => ({
    key: `order-${order}-${Math.random().toString(36).slice(2)}`,
    data: { order, items: ['a', String(order)] },
    ids: new Set(),
    answers: {},
    problems: []
  }))
  const started = Date.now()
  await Promise.all(clients.map(client => retryUntilAccepted(agent, url, client)))
  const loadMs = Date.now() - started
  // Each key again, with other data (422), and with the same data once its job has finished (the same 202).
  const mismatches = await Promise.all(clients.map(client => post(agent, url, client.key, { ...client.data, items: ['other'] })))
  await app.background.drain()
  const afterFinish = await Promise.all(clients.map(client => post(agent, url, client.key, client.data)))
  const malformed = await Promise.all(['', 'x'.repeat(256)].map(key => post(agent, url, key, { order: -1 })))
  agent.destroy()

  let survived = 0
  const totals: Record<string, number> = {}
  for (const [index, client] of clients.entries()) {
    for (const [status, n] of Object.entries(client.answers)) totals[status] = (totals[status] ?? 0) + n
    const [id] = client.ids
    if (client.ids.size > 1) client.problems.push(`${client.ids.size} distinct ids`)
    if (runs.get(client.data.order) !== 1) client.problems.push(`${runs.get(client.data.order) ?? 0} jobs ran`)
    const mismatch = mismatches[index]
    if (mismatch.status !== 422 || mismatch.body?.code !== 'FST_BACKGROUND_IDEMPOTENCY_MISMATCH') client.problems.push(`other data answered ${mismatch.status}`)
    const again = afterFinish[index]
    if (again.status !== 202 || again.body.id !== id || again.body.status !== 'succeeded') client.problems.push(`after the job finished: ${again.status} ${JSON.stringify(again.body)}`)
    if (client.problems.length === 0) survived++
    else console.error(`  ${client.key}: ${client.problems.join('; ')}`)
  }
  section.tally('idempotent clients: one job per key, one id in every 202', clients.length, survived)
  const stats = await app.background.stats()
  await section.scenario('idempotent load: the queue pushed back (some 503s), and made one job per key', () => {
    check((totals['503'] ?? 0) > 0, 'no 503 at all: the load did not fill the queue')
    equal(stats.succeeded, IDEMPOTENT_KEYS, 'jobs succeeded')
    equal(runs.size, IDEMPOTENT_KEYS, 'keys whose job ran')
  })
  await section.scenario('idempotent load: a malformed key is 400', () => {
    for (const answer of malformed) equal(`${answer.status} ${answer.body?.code}`, '400 FST_BACKGROUND_INVALID_IDEMPOTENCY_KEY', 'malformed key')
  })
  section.note(`idempotent load: ${IDEMPOTENT_KEYS} clients x ${RETRIES_AT_ONCE} retries at once in ${(loadMs / 1000).toFixed(1)} s over 64 sockets, answers ${JSON.stringify(totals)}; then ${IDEMPOTENT_KEYS} mismatches (422) and ${IDEMPOTENT_KEYS} retries after the job ended (202, same id)`)
  await app.close()
}

// --- delayed, prioritised and retry-waiting jobs at close -----------------------------------------

async function closeRound (round: number): Promise<string> {
  const { stream, lines } = logCapture(LEVEL.warn)
  const app = Fastify({ logger: { level: 'warn', stream } })
  const ran = new Set<string>()
  await app.register(fastifyBackground, {
    concurrency: 8,
    maxQueued: 10_000,
    shutdownTimeout: SHUTDOWN_TIMEOUT,
    jobs: {
      quick: async (ctx: JobContext) => { await sleep(random(0, 3)); ran.add(ctx.id) },
      polite: async (ctx: JobContext) => { await ctx.sleep(random(0, 80)); ran.add(ctx.id) },
      flaky: {
        handler: async (ctx: JobContext) => {
          if (ctx.attempt === 1) throw new Error('first attempt fails')
          ran.add(ctx.id)
        },
        retries: 2,
        backoff: random(20, 300)
      }
    }
  })
  await app.ready()
  const ids = new Set<string>()
  for (let i = 0; i < 300; i++) {
    const kind = pick(['quick', 'quick', 'quick', 'polite', 'flaky'] as const)
    const r = Math.random()
    const opts = r < 0.3
      ? { delay: random(0, 2 * SHUTDOWN_TIMEOUT) }
      : r < 0.4
        ? { runAt: new Date(Date.now() + random(-100, 2 * SHUTDOWN_TIMEOUT)) }
        : r < 0.7 ? { priority: random(0, 10) } : r < 0.8 ? { key: `k${random(0, 20)}`, priority: random(0, 3) } : {}
    ids.add((await app.background.enqueue(kind, { i }, opts)).id)
  }
  await sleep(random(0, 100))
  const closing = Date.now()
  await app.close()
  const closeMs = Date.now() - closing
  check(closeMs <= SHUTDOWN_TIMEOUT + ABORT_GRACE + SLACK, `round ${round}: close took ${closeMs} ms`)
  const counts: Record<string, number> = {}
  let survived = 0
  for (const id of ids) {
    const status = (await app.background.status(id))?.status ?? 'missing'
    count(counts, status)
    const logged = lines.some(line => line.jobId === id && line.level === LEVEL.warn)
    if ((status === 'succeeded' && ran.has(id)) || (status === 'cancelled' && logged)) survived++
    else console.error(`  round ${round}: job ${id} ended ${status}${status === 'cancelled' ? ' without a log line' : ''}`)
  }
  section.tally(`close round ${round}: jobs that ran or were cancelled and logged`, ids.size, survived)
  const stats = await app.background.stats()
  equal(stats.queued + stats.running, 0, `round ${round}: queued + running after close`)
  return `${closeMs} ms, ${ids.size} jobs: ${JSON.stringify(counts)}`
}

async function main (): Promise<void> {
  await section.scenario('cancel races', cancelRace)
  await section.scenario('one key from many requests', manyRequestsOneKey)
  await section.scenario('idempotent retries under load', idempotentLoad)
  for (let round = 1; round <= CLOSE_ROUNDS; round++) {
    await section.scenario(`close round ${round}`, async () => section.note(`close round ${round}: ${await closeRound(round)}`))
  }
}

section.run(main)
