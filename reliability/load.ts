import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify, { LogController } from 'fastify'
import fastifyBackground from '../lib/index'
import { check, equal, LEVEL, logCapture, mb, Section } from './harness'

// Section 2: 100,000 requests from a real HTTP client at full speed against a real listener,
// with maxQueued 1,000: every 202 job succeeds, every 503 carries Retry-After, the queue never
// exceeds its bound, and RSS stays bounded.

const section = new Section('load')
const REQUESTS = Number(process.env.RELIABILITY_REQUESTS ?? 100_000)
const MAX_QUEUED = 1000
const CONCURRENCY = 10
const CONNECTIONS = 64

interface ClientResult {
  ids: string[]
  statuses: Record<string, number>
  missingRetryAfter: number
  badBodies: number
  errors: number
  timeouts: number
  requests: number
  durationMs: number
  rps: number
}

function runClient (url: string): Promise<ClientResult> {
  const dir = mkdtempSync(join(tmpdir(), 'fastify-background-load-'))
  const out = join(dir, 'result.json')
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'load-client.ts'), url, String(REQUESTS), String(CONNECTIONS), out], { stdio: 'inherit' })
    child.on('exit', code => {
      if (code === 0) resolve(JSON.parse(readFileSync(out, 'utf8')))
      else reject(new Error(`client exited with ${code}`))
      rmSync(dir, { recursive: true, force: true })
    })
  })
}

async function main (): Promise<void> {
  const { stream, lines, count } = logCapture(LEVEL.fatal)
  const app = Fastify({ logger: { level: process.env.RELIABILITY_LOG_LEVEL ?? 'warn', stream }, logController: new LogController({ disableRequestLogging: process.env.RELIABILITY_REQLOG === '0' }) })
  let ran = 0
  await app.register(fastifyBackground, {
    concurrency: CONCURRENCY,
    maxQueued: MAX_QUEUED,
    retention: { max: REQUESTS * 2 },
    statusRoute: '/jobs/:id',
    jobs: {
      work: async () => {
        ran++
        await sleep(1)
      }
    }
  })
  app.post('/work', async (_request, reply) => reply.accepted('work', { at: Date.now() }))
  const address = await app.listen({ host: '127.0.0.1', port: 0 })

  // Sample the queue on every turn of a 2 ms interval while the client runs.
  const samples = { n: 0, peakQueued: 0, peakRunning: 0, peakWaitingPlusRunning: 0, over: 0, peakRss: process.memoryUsage.rss(), rssBefore: process.memoryUsage.rss() }
  const sampler = setInterval(() => {
    app.background.stats().then(stats => {
      samples.n++
      samples.peakQueued = Math.max(samples.peakQueued, stats.queued)
      samples.peakRunning = Math.max(samples.peakRunning, stats.running)
      samples.peakWaitingPlusRunning = Math.max(samples.peakWaitingPlusRunning, stats.queued + stats.running)
      if (stats.queued > MAX_QUEUED || stats.running > CONCURRENCY) samples.over++
      samples.peakRss = Math.max(samples.peakRss, process.memoryUsage.rss())
    }, () => {})
  }, 2)

  const client = await runClient(`${address}/work`)
  const drainStarted = Date.now()
  await app.background.drain()
  const drainMs = Date.now() - drainStarted
  clearInterval(sampler)
  const stats = await app.background.stats()
  const accepted = client.statuses['202'] ?? 0
  const refused = client.statuses['503'] ?? 0

  section.note(`client: ${client.requests} requests in ${(client.durationMs / 1000).toFixed(1)} s (${Math.round(client.rps)}/s avg), statuses ${JSON.stringify(client.statuses)}, errors ${client.errors}, timeouts ${client.timeouts}`)
  section.note(`queue: ${samples.n} samples, peak queued ${samples.peakQueued} (bound ${MAX_QUEUED}), peak running ${samples.peakRunning} (bound ${CONCURRENCY}), samples over a bound ${samples.over}; drained ${drainMs} ms after the client ended`)
  section.note(`memory: RSS ${mb(samples.rssBefore)} before, peak ${mb(samples.peakRss)}; ${count.all} log lines`)

  // Each request is an item: it survives as a 202 whose job succeeded, or a 503 with Retry-After.
  let succeededJobs = 0
  for (const id of client.ids) if ((await app.background.status(id))?.status === 'succeeded') succeededJobs++
  section.tally('requests', REQUESTS, succeededJobs + refused - client.missingRetryAfter)
  await section.scenario('every request answered 202 or 503, no transport error', () => {
    equal(client.requests, REQUESTS, 'responses')
    equal(accepted + refused, REQUESTS, '202 + 503')
    equal(client.errors + client.timeouts, 0, 'errors and timeouts')
    equal(client.badBodies, 0, '202 bodies without an id')
  })
  await section.scenario('the queue applied backpressure (some 503s)', () => check(refused > 0, 'no 503 at all: the load did not fill the queue'))
  await section.scenario('every 503 carries Retry-After', () => equal(client.missingRetryAfter, 0, '503s without Retry-After'))
  await section.scenario('every 202 job reached succeeded', async () => {
    equal(new Set(client.ids).size, accepted, 'distinct ids')
    let succeeded = 0
    for (const id of client.ids) if ((await app.background.status(id))?.status === 'succeeded') succeeded++
    equal(succeeded, accepted, 'statuses succeeded')
    equal(ran, accepted, 'handler runs')
    equal(stats.succeeded, accepted, 'stats.succeeded')
    equal(stats.failed + stats.queued + stats.running, 0, 'failed + queued + running')
    equal(stats.rejected, refused, 'stats.rejected')
  })
  await section.scenario('the queue never exceeded maxQueued, nor running concurrency', () => equal(samples.over, 0, 'samples over a bound'))
  await section.scenario('RSS bounded (peak under 400 MiB)', () => check(samples.peakRss < 400 * 1024 * 1024, `peak RSS ${mb(samples.peakRss)}`))
  await section.scenario('no fatal log line, every log line JSON', () => {
    equal(lines.length, 0, 'fatal lines')
    equal(count.bad, 0, 'unparsable lines')
  })
  await section.scenario('close after load', async () => {
    const closing = Date.now()
    await app.close()
    check(Date.now() - closing < 1000, `close took ${Date.now() - closing} ms`)
  })
  section.note(`tried ${REQUESTS} requests: ${accepted} accepted and succeeded, ${refused} refused with Retry-After, lost 0`)
}

section.run(main)
