// Row 7: the dashboard's cost. (1) An app with 10,000 tasks and 10,000 kept jobs: how long
// GET <dashboard>/api/overview and a page of GET <dashboard>/api/jobs take over real HTTP.
// (2) An idle server (a few tasks, a few hundred kept jobs): its own CPU over a window with
// nobody looking, then with a client in another process making the page's requests every 2 s
// (the overview and a page of jobs, as dashboard.js does).
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { median, percentile, sleep } from './common.mjs'
import { Fastify, fastifyBackground } from './common.mjs'

const quick = process.argv[2] === 'quick'
const TASKS = 10_000
const JOBS = 10_000
const REQUESTS = quick ? 5 : 30
const WINDOW_S = quick ? 4 : 20

async function timed (url) {
  const began = performance.now()
  const response = await fetch(url)
  const body = await response.text()
  if (response.status !== 200) throw new Error(`${url}: ${response.status}`)
  return { ms: performance.now() - began, bytes: body.length }
}

async function big () {
  const app = Fastify({ logger: false })
  const tasks = Array.from({ length: TASKS }, (_, i) => ({ name: `task-${i}`, every: '1h', handler: () => {} }))
  await app.register(fastifyBackground, { dashboard: '/background', tasks, jobs: { noop: async () => {} }, maxQueued: JOBS, retention: { max: JOBS } })
  const base = await app.listen({ port: 0, host: '127.0.0.1' })
  for (let i = 0; i < JOBS; i++) await app.background.enqueue('noop', { i })
  await app.background.drain()
  const overview = []
  const jobs = []
  let bytes = 0
  await timed(`${base}/background/api/overview`) // warm-up
  for (let i = 0; i < REQUESTS; i++) {
    const o = await timed(`${base}/background/api/overview`)
    overview.push(o.ms)
    bytes = o.bytes
    jobs.push((await timed(`${base}/background/api/jobs?limit=51&offset=0`)).ms)
  }
  await app.close()
  return { overviewMs: median(overview), overviewP99: percentile(overview, 99), jobsMs: median(jobs), overviewKiB: bytes / 1024 }
}

/** CPU time of this process over `seconds`, as a share of one core, in %. */
async function cpuOver (seconds, during = async () => {}) {
  const before = process.cpuUsage()
  const began = performance.now()
  await during(began + seconds * 1000)
  await sleep(Math.max(0, began + seconds * 1000 - performance.now()))
  const { user, system } = process.cpuUsage(before)
  return (user + system) / 1000 / (performance.now() - began) * 100
}

/** The page's requests, every 2 s for the window, from another process. */
const POLLER = `
const [base, seconds] = process.argv.slice(1)
const end = Date.now() + seconds * 1000 - 1000
while (Date.now() < end) {
  await Promise.all(['/background/api/overview', '/background/api/jobs?limit=51&offset=0'].map(async path => (await fetch(base + path)).text()))
  await new Promise(resolve => setTimeout(resolve, 2000))
}`

async function idle () {
  const app = Fastify({ logger: false })
  const tasks = ['cleanup', 'report', 'sync'].map(name => ({ name, every: '1m', handler: () => {} }))
  await app.register(fastifyBackground, { dashboard: '/background', tasks, jobs: { noop: async () => {} } })
  const base = await app.listen({ port: 0, host: '127.0.0.1' })
  for (let i = 0; i < 300; i++) await app.background.enqueue('noop', { i })
  await app.background.drain()
  await sleep(500)
  const idleCpu = await cpuOver(WINDOW_S)
  // Warm-up: the first answers compile the routes' code.
  for (let i = 0; i < 5; i++) await Promise.all([timed(`${base}/background/api/overview`), timed(`${base}/background/api/jobs?limit=51&offset=0`)])
  const pollingCpu = await cpuOver(WINDOW_S, async () => {
    const page = spawn(process.execPath, ['--input-type=module', '-e', POLLER, base, String(WINDOW_S)], { stdio: 'inherit' })
    await once(page, 'close')
  })
  await app.close()
  return { idleCpu, pollingCpu, seconds: WINDOW_S }
}

process.stdout.write(JSON.stringify({ ...await big(), ...await idle() }) + '\n')
