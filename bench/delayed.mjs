// Row 7, one round: 100,000 jobs enqueued with random delays (uniform in 0-10 s), on the default
// concurrency. For each job, lateness = the moment its handler starts minus (the moment it was
// enqueued + its delay). Usage: node delayed.mjs
// Measured twice: on Date.now() (the clock runAt is kept in: "early" means before runAt), and on
// performance.now() (sub-millisecond: how much real time passed, against the delay asked for).
import { setImmediate as yieldTurn } from 'node:timers/promises'
import { Fastify, fastifyBackground, percentile, progress, report } from './common.mjs'

const JOBS = Number(process.env.BENCH_DELAYED_JOBS ?? 100_000)
const MAX_DELAY_MS = Number(process.env.BENCH_MAX_DELAY_MS ?? 10_000)
/** Enqueued in chunks with a turn of the event loop between them, so jobs due meanwhile can start. */
const CHUNK = 1000

const late = new Float64Array(JOBS)
const lateHr = new Float64Array(JOBS)
const dueHrs = new Float64Array(JOBS)
let started = 0
const app = Fastify({ logger: false })
await app.register(fastifyBackground, {
  maxQueued: JOBS,
  jobs: {
    delayed: ctx => {
      const { i, due, dueHr } = ctx.data
      late[i] = Date.now() - due
      lateHr[i] = performance.now() - dueHr
      started++
    }
  }
})
await app.ready()

const began = performance.now()
for (let i = 0; i < JOBS; i++) {
  const delay = Math.floor(Math.random() * (MAX_DELAY_MS + 1))
  // Read before enqueue: the job's own enqueue time is this or later, so its runAt is no earlier than `due`.
  const due = Date.now() + delay
  const dueHr = performance.now() + delay
  dueHrs[i] = dueHr
  app.background.enqueue('delayed', { i, due, dueHr }, { delay })
  if (i % CHUNK === CHUNK - 1) await yieldTurn()
}
const enqueueMs = performance.now() - began
await app.background.drain()
const totalMs = performance.now() - began
await app.close()
if (started !== JOBS) throw new Error(`${started} of ${JOBS} jobs started`)

const values = Array.from(late)
const valuesHr = Array.from(lateHr)
// Jobs due while the enqueue loop still ran wait for its chunks: the figures after it are apart.
const enqueueEnd = began + enqueueMs
const steady = values.filter((_, i) => dueHrs[i] > enqueueEnd)
const early = values.filter(v => v < 0).length
const earlyHr = valuesHr.filter(v => v < 0)
progress(`delayed: ${JOBS} jobs enqueued in ${enqueueMs.toFixed(0)} ms, drained after ${(totalMs / 1000).toFixed(1)} s; lateness p50 ${percentile(values, 50)} ms, max ${Math.max(...values)} ms, early ${early}`)
report({
  jobs: JOBS,
  enqueueMs,
  totalMs,
  p50: percentile(values, 50),
  p95: percentile(values, 95),
  p99: percentile(values, 99),
  max: Math.max(...values),
  early,
  steadyJobs: steady.length,
  steadyP50: percentile(steady, 50),
  steadyP99: percentile(steady, 99),
  steadyMax: Math.max(...steady),
  hrP50: percentile(valuesHr, 50),
  hrP99: percentile(valuesHr, 99),
  hrMax: Math.max(...valuesHr),
  hrEarly: earlyHr.length,
  hrEarliest: earlyHr.length === 0 ? 0 : Math.min(...earlyHr)
})
