// Row 2, one round: a 10 ms `every` task, setInterval(fn, 10) and a toad-scheduler
// SimpleIntervalJob (through @fastify/schedule) side by side in one process, under the same load.
// Usage: node timekeeping.mjs idle|busy
// For each scheduler, start = the moment it was started (the plugin: its anchor, the ready time)
// and fire k (k = 1, 2, ...) is due at start + k * 10 ms; error = actual - due, by Date.now().
import { createRequire } from 'node:module'
import { Fastify, fastifyBackground, mean, median, percentile, progress, report } from './common.mjs'

const require = createRequire(import.meta.url)
const fastifySchedule = require('@fastify/schedule')
const { SimpleIntervalJob, Task } = require('toad-scheduler')

const mode = process.argv[2] ?? 'idle'
const PERIOD = 10
const WINDOW = 10_000
const RUNS = 1000
const CAP = 13_000
const BUSY_EVERY = 20
const BUSY_FOR = 5
/** Busy windows are [start + 20j + 7, start + 20j + 12): every other due time falls inside one. */
const BUSY_PHASE = 7

const names = ['every', 'setInterval', 'toad']
const fires = Object.fromEntries(names.map(name => [name, { start: 0, at: new Float64Array(2000), due: new Float64Array(2000), n: 0 }]))

function record (name, due) {
  const now = Date.now()
  const f = fires[name]
  if (f.n === f.at.length) return
  f.at[f.n] = now
  f.due[f.n] = due
  f.n++
}

const app = Fastify({ logger: false })
await app.register(fastifyBackground, {
  tasks: [{ name: 'tick', every: PERIOD, handler: ctx => record('every', ctx.scheduledAt.getTime()) }]
})
await app.register(fastifySchedule)
const beforeReady = Date.now()
await app.ready()
const afterReady = Date.now()

fires.setInterval.start = Date.now()
const interval = setInterval(() => record('setInterval', fires.setInterval.start + (fires.setInterval.n + 1) * PERIOD), PERIOD)
fires.toad.start = Date.now()
app.scheduler.addSimpleIntervalJob(new SimpleIntervalJob({ milliseconds: PERIOD },
  new Task('tick', () => record('toad', fires.toad.start + (fires.toad.n + 1) * PERIOD))))

// The plugin's start is its anchor (ready); recover it from the first run's scheduledAt and
// check it lies between the readings around ready().
const origin = Date.now()
let busyTimer
if (mode === 'busy') {
  const next = () => {
    const now = Date.now()
    const j = Math.ceil((now - origin - BUSY_PHASE) / BUSY_EVERY)
    const from = origin + BUSY_PHASE + j * BUSY_EVERY
    busyTimer = setTimeout(() => {
      const until = from + BUSY_FOR
      while (Date.now() < until) { /* the event loop is busy */ }
      next()
    }, from - now)
  }
  next()
}

progress(`timekeeping ${mode}: running until each scheduler has ${RUNS} runs (10 s window, cap ${CAP / 1000} s)`)
await new Promise(resolve => {
  const check = setInterval(() => {
    const enough = names.every(name => fires[name].n >= RUNS + 1) && Date.now() > origin + WINDOW
    if (enough || Date.now() > origin + CAP) {
      clearInterval(check)
      resolve()
    }
  }, 50)
})
clearInterval(interval)
clearTimeout(busyTimer)
await app.close()

fires.every.start = fires.every.due[0] - PERIOD
if (fires.every.start < beforeReady || fires.every.start > afterReady) throw new Error('the plugin anchor is not the ready time')

const result = { mode }
for (const name of names) {
  const f = fires[name]
  const errors = []
  const signed = []
  for (let i = 0; i < f.n; i++) {
    if (f.at[i] > f.start + WINDOW) break
    // Due = start + k * 10 for the k-th fire; the plugin's k comes from its scheduledAt (a merged run keeps its k).
    const due = f.start + (name === 'every' ? Math.round((f.due[i] - f.start) / PERIOD) : i + 1) * PERIOD
    signed.push(f.at[i] - due)
    errors.push(Math.abs(f.at[i] - due))
  }
  // Growth: the median signed error of the last second minus that of the first (medians, so a
  // few outliers from other processes on the machine do not decide it).
  const firstSecond = signed.filter((_, i) => f.at[i] <= f.start + 1000)
  const lastSecond = signed.filter((_, i) => f.at[i] > f.start + WINDOW - 1000)
  const first = []
  for (let i = 0; i < Math.min(RUNS, f.n); i++) {
    const due = f.start + (name === 'every' ? Math.round((f.due[i] - f.start) / PERIOD) : i + 1) * PERIOD
    first.push(Math.abs(f.at[i] - due))
  }
  result[name] = {
    fires: errors.length,
    mean: mean(errors),
    p99: percentile(errors, 99),
    driftEnd: signed[signed.length - 1],
    growth: median(lastSecond) - median(firstSecond),
    runs1000: first.length,
    mean1000: mean(first),
    max1000: Math.max(...first)
  }
}
report(result)
