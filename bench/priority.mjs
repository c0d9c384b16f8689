// Row 8, one round: 100,000 jobs through app.background.enqueue, with random priorities or
// without. Usage: node priority.mjs with|without CONCURRENCY
// The job is the same named no-op on both sides (its data is its priority); only the `priority`
// option differs. Jobs are pushed in batches of 1,000 (the default maxQueued), each followed by
// drain(), as in the throughput row. At concurrency 1 a whole batch waits in line before the
// first starts, so starts within a batch must come in priority order: counted as `outOfOrder`.
import { Fastify, fastifyBackground, progress, report } from './common.mjs'

const withPriority = process.argv[2] === 'with'
const concurrency = Number(process.argv[3])
const JOBS = Number(process.env.BENCH_JOBS ?? 100_000)
const WARMUP = 20_000
const BATCH = 1000
const PRIORITIES = 2 ** 21

let last = -1
let outOfOrder = 0
const app = Fastify({ logger: false })
await app.register(fastifyBackground, {
  concurrency,
  maxQueued: BATCH,
  jobs: {
    p: ctx => {
      if (ctx.data < last) outOfOrder++
      last = ctx.data
    }
  }
})
await app.ready()

async function pass (n) {
  const started = performance.now()
  for (let done = 0; done < n; done += BATCH) {
    last = -1
    for (let i = 0; i < BATCH; i++) {
      const priority = withPriority ? Math.floor(Math.random() * PRIORITIES) : 0
      app.background.enqueue('p', priority, withPriority ? { priority } : undefined)
    }
    await app.background.drain()
  }
  return performance.now() - started
}

await pass(WARMUP)
outOfOrder = 0
const ms = await pass(JOBS)
await app.close()
progress(`priority ${withPriority ? 'with' : 'without'} c=${concurrency}: ${Math.round(JOBS / ms * 1000)} jobs/s, out of order ${outOfOrder}`)
report({ withPriority, concurrency, jobsPerSec: JOBS / ms * 1000, outOfOrder: concurrency === 1 ? outOfOrder : undefined })
