// Row 3, one round: 100,000 tasks every second (SCALE_TASKS), with the plugin or with toad-scheduler
// through @fastify/schedule. Usage: node --expose-gc scale.mjs plugin|toad
// start: from before register to ready with every task scheduled (toad: jobs added after ready,
// as @fastify/schedule's docs do); memory added over a bare process after GC, task definitions
// included; CPU of the whole process over the next 5 s (CPU_WINDOW), per run; then the time app.close() takes.
// A bare Fastify app is made ready first, so neither side pays Fastify's first-ready costs.
import { createRequire } from 'node:module'
import { Fastify, MB, collect, fastifyBackground, progress, report, sleep } from './common.mjs'

const require = createRequire(import.meta.url)
const fastifySchedule = require('@fastify/schedule')
const { SimpleIntervalJob, Task } = require('toad-scheduler')

const impl = process.argv[2]
const TASKS = Number(process.env.SCALE_TASKS ?? 100_000)
const CPU_WINDOW = Number(process.env.CPU_WINDOW ?? 5_000)

let runs = 0
const handler = () => { runs++ }

// A bare Fastify app first, for both: the first ready() of a process pays for lazy set-up (~200 ms).
const warm = Fastify({ logger: false })
await warm.ready()
await warm.close()
await collect()
const before = process.memoryUsage()
const started = performance.now()
const app = Fastify({ logger: false })
if (impl === 'plugin') {
  const tasks = []
  for (let i = 0; i < TASKS; i++) tasks.push({ name: `task-${i}`, every: '1s', handler })
  await app.register(fastifyBackground, { tasks })
  await app.ready()
} else {
  await app.register(fastifySchedule)
  await app.ready()
  for (let i = 0; i < TASKS; i++) {
    app.scheduler.addSimpleIntervalJob(new SimpleIntervalJob({ seconds: 1 }, new Task(`task-${i}`, handler), { id: `task-${i}` }))
  }
}
const startMs = performance.now() - started
await collect()
const ready = process.memoryUsage()
runs = 0
const cpu0 = process.cpuUsage()
await sleep(CPU_WINDOW)
const cpu = process.cpuUsage(cpu0)
const runsInWindow = runs
const closing = performance.now()
await app.close()
const closeMs = performance.now() - closing
progress(`${impl}: start ${startMs.toFixed(1)} ms, close ${closeMs.toFixed(1)} ms, ${runsInWindow} runs, ${((cpu.user + cpu.system) / runsInWindow).toFixed(2)} us CPU/run, heap ${((ready.heapUsed - before.heapUsed) / TASKS).toFixed(0)} B/task, RSS ${((ready.rss - before.rss) / TASKS).toFixed(0)} B/task`)
const cpuMs = (cpu.user + cpu.system) / 1000
report({
  impl,
  tasks: TASKS,
  startMs,
  closeMs,
  rssMB: (ready.rss - before.rss) / MB,
  heapMB: (ready.heapUsed - before.heapUsed) / MB,
  rssPerTask: (ready.rss - before.rss) / TASKS,
  heapPerTask: (ready.heapUsed - before.heapUsed) / TASKS,
  cpuMs,
  cpuUsPerRun: cpuMs * 1000 / runsInWindow,
  runs: runsInWindow
})
