// Row 5, one round: close with 1,000 queued 1 ms jobs at concurrency 10; the time from the end
// of the last job to app.close() resolving. Usage: node shutdown.mjs plugin|fastq
// Baseline: the same jobs on fastq (promise API, concurrency 10) in a bare Fastify app whose
// onClose hook awaits the queue's drained(): what one would write by hand.
import { createRequire } from 'node:module'
import { Fastify, fastifyBackground, progress, report, sleep } from './common.mjs'

const require = createRequire(import.meta.url)
const fastq = require('fastq')

const impl = process.argv[2]
const JOBS = 1000
let lastEnd = 0
let ended = 0
const job = async () => {
  await sleep(1)
  lastEnd = performance.now()
  ended++
}

const app = Fastify({ logger: false })
let push
if (impl === 'plugin') {
  await app.register(fastifyBackground, { concurrency: 10, maxQueued: JOBS })
  await app.ready()
  push = () => app.background.enqueue(job)
} else {
  const q = fastq.promise(async task => task(), 10)
  app.addHook('onClose', async () => { await q.drained() })
  await app.ready()
  push = () => q.push(job)
}
for (let i = 0; i < JOBS; i++) push()
const closing = performance.now()
await app.close()
const closed = performance.now()
if (ended !== JOBS) throw new Error(`${ended} of ${JOBS} jobs ran`)
progress(`${impl}: close took ${(closed - closing).toFixed(0)} ms, ${(closed - lastEnd).toFixed(3)} ms after the last job`)
report({ impl, afterLastJobMs: closed - lastEnd, closeMs: closed - closing })
