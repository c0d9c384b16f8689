// Row 4, one round: 1,000,000 trivial jobs at a given concurrency, through the plugin's
// app.background.enqueue or through fastq. Usage: node --expose-gc throughput.mjs plugin|fastq|fastq-cb CONCURRENCY
// Every job is the same async no-op. All jobs are pushed at once (the plugin with maxQueued set
// to 1,000,000 so none is refused; fastq is unbounded), then we wait for the queue to drain.
// Before measuring, a warm-up of 20,000 jobs fills the plugin's status retention (10,000
// finished statuses by default) and warms the JIT; memory is compared after it and after drain.
import { createRequire } from 'node:module'
import { Fastify, MB, collect, fastifyBackground, progress, report } from './common.mjs'

const require = createRequire(import.meta.url)
const fastq = require('fastq')

const impl = process.argv[2]
const concurrency = Number(process.argv[3])
const JOBS = Number(process.env.BENCH_JOBS ?? 1_000_000)
const WARMUP = 20_000
/** Jobs are pushed in batches of the plugin's default maxQueued, each awaited with drain(), for both queues. */
const BATCH = 1000

const job = async () => {}

let push, drain, close
if (impl === 'plugin') {
  const app = Fastify({ logger: false })
  await app.register(fastifyBackground, { concurrency, maxQueued: BATCH })
  await app.ready()
  push = () => app.background.enqueue(job)
  drain = () => app.background.drain()
  close = () => app.close()
} else if (impl === 'fastq') {
  // The promise API, like the plugin's: push returns a promise, the worker is async.
  const q = fastq.promise(async task => task(), concurrency)
  push = () => q.push(job)
  drain = () => q.drained()
  close = async () => {}
} else {
  // The callback API Fastify itself uses (through avvio): the cheapest way to use fastq.
  const q = fastq((task, done) => { task().then(() => done(null), done) }, concurrency)
  push = () => q.push(job)
  drain = () => new Promise(resolve => { q.drain = resolve })
  close = async () => {}
}

/** Wall time of `n` jobs, and this process's CPU time for them (steadier on a machine shared with other work). */
async function pass (n) {
  const started = performance.now()
  const cpu = process.cpuUsage()
  for (let done = 0; done < n; done += BATCH) {
    for (let i = 0; i < BATCH; i++) push()
    await drain()
  }
  const { user, system } = process.cpuUsage(cpu)
  return { ms: performance.now() - started, cpuUs: user + system }
}

await pass(WARMUP)
await collect()
const before = process.memoryUsage()
const { ms, cpuUs } = await pass(JOBS)
const peak = process.memoryUsage()
await collect()
const after = process.memoryUsage()
await close()
progress(`${impl} c=${concurrency}: ${Math.round(JOBS / ms * 1000)} jobs/s, ${(cpuUs / JOBS).toFixed(2)} us of CPU a job`)
report({
  impl,
  concurrency,
  jobsPerSec: JOBS / ms * 1000,
  cpuUsPerJob: cpuUs / JOBS,
  peakHeapMB: (peak.heapUsed - before.heapUsed) / MB,
  heapAfterMB: (after.heapUsed - before.heapUsed) / MB,
  rssAfterMB: (after.rss - before.rss) / MB
})
