// Jobs per second through fastify-background's BullMQ backend, next to raw BullMQ (a Queue and a
// Worker with the same concurrency, the same store, in the same run), on Redis or PostgreSQL.
//
//   npm run build && node bench/bullmq.mjs              (STORE=redis, the default)
//   npm run build && STORE=postgres node bench/bullmq.mjs
//
// REDIS_URL (default redis://127.0.0.1:6379), DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/test), JOBS (jobs per measurement, default 5000 on Redis,
// 2000 on PostgreSQL) and ROUNDS (measurements per figure, of which the median is shown; default
// 3) tune it. Each measurement uses its own key prefix (Redis) or schema (PostgreSQL); all are
// deleted at the end.
import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { createPostgresBackend, Queue, Worker } from 'bullmq'
import Fastify from 'fastify'
import { Redis } from 'ioredis'
import pg from 'pg'

const dist = new URL('../dist/bullmq.js', import.meta.url)
if (!existsSync(dist)) {
  console.error('bench/bullmq.mjs measures the built package: run `npm run build` first')
  process.exit(1)
}
const { bullmqBackend } = await import('../dist/bullmq.js')
const { default: fastifyBackground } = await import('../dist/index.js')

const STORE = process.env.STORE ?? 'redis'
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const POSTGRES = STORE === 'postgres'
const JOBS = Number(process.env.JOBS ?? (POSTGRES ? 2000 : 5000))
const CONCURRENCIES = [1, 10, 50]
const ROUNDS = Number(process.env.ROUNDS ?? 3)
/** Enqueues in flight at once, for both systems. */
const IN_FLIGHT = 50
const RUN = `fbg_bench_${randomUUID().slice(0, 8)}`
const QUEUE = 'bench'
/** The job options the backend gives a job by default (retention of one hour, 10 000 jobs). */
const KEEP = { age: 3600, count: 10_000 }
const JOB_OPTS = { attempts: 1, backoff: { type: 'exponential', delay: 1000 }, removeOnComplete: KEEP, removeOnFail: KEEP }
const WORKER_OPTS = { lockDuration: 15_000, stalledInterval: 10_000 }

const prefixes = []
/** A namespace of the measurement's own: a Redis key prefix, or a PostgreSQL schema. */
function prefix () {
  const p = `${RUN}_${prefixes.length}`
  prefixes.push(p)
  return p
}

/** The backend's options on the store, in namespace `p`. */
function storeOptions (p) {
  return POSTGRES ? { connection: DATABASE_URL, schema: p } : { connection: REDIS_URL, prefix: p }
}

/** Raw BullMQ's connection options and backend factory on the store, in namespace `p`. */
function rawStore (p) {
  return POSTGRES
    ? { options: { connection: { connectionString: DATABASE_URL, schema: p, migrate: true } }, factory: createPostgresBackend }
    : { options: { connection: { url: REDIS_URL }, prefix: p }, factory: undefined }
}

/** Calls `add(i)` JOBS times with IN_FLIGHT calls at once; resolves with the elapsed ms. */
async function enqueueAll (add) {
  const started = performance.now()
  let next = 0
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (next < JOBS) await add(next++)
  }))
  return performance.now() - started
}

/**
 * A promise that resolves when `done()` has been called JOBS times, with the ms from the first
 * call to the last: the steady processing rate, without the consumer's start-up (a Fastify app
 * with the plugin on one side, a bare Worker on the other), which is not what this row compares.
 */
function counter () {
  let count = 0
  let started = 0
  let finish
  const finished = new Promise(resolve => { finish = resolve })
  return {
    done: () => {
      if (count++ === 0) started = performance.now()
      if (count === JOBS) finish(performance.now() - started)
    },
    finished
  }
}

async function backgroundApp (p, concurrency, handler, autorun = true) {
  const app = Fastify({ logger: false })
  await app.register(fastifyBackground, {
    concurrency,
    maxQueued: JOBS * 2,
    jobs: { noop: handler },
    backend: bullmqBackend({ ...storeOptions(p), queueName: QUEUE, workerOptions: { autorun } })
  })
  await app.ready()
  return app
}

async function measureBackground (concurrency) {
  const p = prefix()
  const producer = await backgroundApp(p, concurrency, async () => {}, false)
  const enqueueMs = await enqueueAll(i => producer.background.enqueue('noop', { i }))
  const count = counter()
  const consumer = await backgroundApp(p, concurrency, async () => { count.done() })
  const processMs = await count.finished
  await Promise.all([producer.close(), consumer.close()])
  return { enqueue: JOBS / enqueueMs * 1000, process: (JOBS - 1) / processMs * 1000 }
}

async function measureRaw (concurrency) {
  const { options, factory } = rawStore(prefix())
  const queue = new Queue(QUEUE, options, factory)
  // Connected (and on PostgreSQL migrated) before the clock starts, as the backend is at ready().
  await queue.waitUntilReady()
  const enqueueMs = await enqueueAll(i => queue.add('noop', { i }, { ...JOB_OPTS, jobId: randomUUID() }))
  const count = counter()
  const worker = new Worker(QUEUE, async () => { count.done() }, { ...WORKER_OPTS, concurrency, ...options }, factory)
  const processMs = await count.finished
  await worker.close()
  await queue.close()
  return { enqueue: JOBS / enqueueMs * 1000, process: (JOBS - 1) / processMs * 1000 }
}

async function forget () {
  if (POSTGRES) {
    const pool = new pg.Pool({ connectionString: DATABASE_URL })
    for (const p of prefixes) await pool.query(`DROP SCHEMA IF EXISTS "${p}" CASCADE`)
    await pool.end()
    return
  }
  const redis = new Redis(REDIS_URL)
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${RUN}_*`, 'COUNT', 1000)
    if (keys.length > 0) await redis.del(...keys)
    cursor = next
  } while (cursor !== '0')
  redis.disconnect()
}

/** The median of each field over the rounds. */
function median (results) {
  const mid = values => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]
  return { enqueue: mid(results.map(r => r.enqueue)), process: mid(results.map(r => r.process)) }
}

const rows = []
try {
  // A discarded round first: JIT, script loading and connections are warm for both systems.
  await measureRaw(10)
  await measureBackground(10)
  for (const concurrency of CONCURRENCIES) {
    const ours = []
    const raw = []
    // Interleaved, so that a busy moment on the machine hits both systems alike.
    for (let round = 0; round < ROUNDS; round++) {
      raw.push(await measureRaw(concurrency))
      ours.push(await measureBackground(concurrency))
    }
    rows.push({ concurrency, ours: median(ours), raw: median(raw) })
    console.error(`concurrency ${concurrency} measured`)
  }
} finally {
  await forget()
}

const fixed = n => n.toFixed(0).padStart(8)
const ratio = (a, b) => (a / b).toFixed(2).padStart(6)
console.log(`\n${JOBS} no-op jobs per measurement, median of ${ROUNDS} rounds, ${POSTGRES ? `PostgreSQL at ${DATABASE_URL}` : `Redis at ${REDIS_URL}`}, Node ${process.version}\n`)
console.log('concurrency | process jobs/s: backend    raw  ratio | enqueue jobs/s: backend    raw  ratio')
console.log('----------- | -------------------------------------- | --------------------------------------')
for (const { concurrency, ours, raw } of rows) {
  console.log(`${String(concurrency).padStart(11)} |                ${fixed(ours.process)} ${fixed(raw.process)} ${ratio(ours.process, raw.process)} |                ${fixed(ours.enqueue)} ${fixed(raw.enqueue)} ${ratio(ours.enqueue, raw.enqueue)}`)
}
console.log('\nratio = backend / raw BullMQ (1.00 = no overhead). Enqueue runs with', IN_FLIGHT, 'calls in flight; the backend also counts the queue in the store for maxQueued.')
