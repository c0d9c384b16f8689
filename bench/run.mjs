// `npm run bench`: every row, each against its baseline measured side by side in the same run,
// medians of several rounds. Rows that load the CPU run in child processes, one at a time.
// Progress goes to stderr; the tables go to stdout. BENCH_QUICK=1 shortens everything (a smoke run).
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { median, sleep } from './common.mjs'

const require = createRequire(import.meta.url)
const autocannon = require('autocannon')

const QUICK = process.env.BENCH_QUICK === '1'
/** Another build's dist/ (the code before a change): the HTTP and throughput rows also measure it, round by round. */
const BEFORE = process.env.BENCH_BEFORE
const ROUNDS = QUICK ? 1 : 3
const HTTP_SECONDS = QUICK ? 2 : 10
const here = fileURLToPath(new URL('.', import.meta.url))
const began = Date.now()

function log (message) {
  process.stderr.write(`[${((Date.now() - began) / 1000).toFixed(0).padStart(3)} s] ${message}\n`)
}

/** Runs a row script in its own process (on the build `dist`, default ../dist); resolves with the JSON it printed last. */
async function child (script, args = [], nodeArgs = [], dist = undefined) {
  const env = dist === undefined ? process.env : { ...process.env, BENCH_DIST: dist }
  const proc = spawn(process.execPath, [...nodeArgs, here + script, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env })
  let out = ''
  proc.stdout.on('data', chunk => { out += chunk })
  const [code] = await once(proc, 'close')
  if (code !== 0) throw new Error(`${script} ${args.join(' ')} exited with ${code}`)
  return JSON.parse(out.trim().split('\n').pop())
}

const rows = []
const tables = []
const fmt = (n, digits = 0) => Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : String(n)
const met = ok => ok ? 'met' : 'MISSED'

function row (section, measure, ours, baseline, ratio, goal, ok, note = '') {
  rows.push({ section, measure, ours, baseline, ratio: Number.isFinite(ratio) ? ratio.toFixed(2) : '', goal, status: ok === undefined ? '' : met(ok) + note })
}

function table (title, header, lines) {
  const all = [header, ...lines]
  const widths = header.map((_, i) => Math.max(...all.map(line => String(line[i]).length)))
  const text = all.map((line, index) => {
    const cells = line.map((cell, i) => i === 0 ? String(cell).padEnd(widths[i]) : String(cell).padStart(widths[i]))
    const out = '| ' + cells.join(' | ') + ' |'
    return index === 0 ? out + '\n|' + widths.map((w, i) => (i === 0 ? ':' + '-'.repeat(w + 1) : '-'.repeat(w + 1) + ':').slice(0, w + 2)).join('|') + '|' : out
  })
  return `${title}\n\n${text.join('\n')}\n`
}

/** The HTTP row's server in a child process, on the build `dist` (default ../dist); resolves with its URL. */
async function httpServer (dist, extraEnv = {}) {
  const env = { ...process.env, ...extraEnv, ...(dist === undefined ? {} : { BENCH_DIST: dist }) }
  const proc = spawn(process.execPath, [here + 'http-server.mjs'], { stdio: ['pipe', 'pipe', 'inherit'], env })
  const [line] = await once(proc.stdout, 'data')
  return { proc, url: String(line).trim() }
}

// Row 1: HTTP.
async function http () {
  log(`HTTP: server in a child process, autocannon 100 connections, ${HTTP_SECONDS} s x ${ROUNDS} rounds per route, rounds interleaved`)
  const server = await httpServer(undefined)
  // With BENCH_BEFORE, a second server on the build before the change answers the same routes, in the same rounds.
  const before = BEFORE === undefined ? undefined : await httpServer(BEFORE)
  // The same app with metrics on, in the same rounds: metrics must cost under 5%.
  const metered = await httpServer(undefined, { BENCH_METRICS: '1' })
  const routes = { plain: [server, '/plain'], plainBody: [server, '/plain-body'], hand: [server, '/hand'], fn: [server, '/fn'], named: [server, '/named'], meteredFn: [metered, '/fn'], meteredNamed: [metered, '/named'] }
  if (before !== undefined) Object.assign(routes, { beforePlain: [before, '/plain'], beforeFn: [before, '/fn'], beforeNamed: [before, '/named'] })
  const results = Object.fromEntries(Object.keys(routes).map(name => [name, []]))
  const run = (url, duration) => autocannon({ url, method: 'POST', connections: 100, duration })
  // The server's own CPU time per request: steadier than req/s on a machine shared with other work.
  const cpu = async ({ url }) => { const { user, system } = await (await fetch(url + '/cpu')).json(); return user + system }
  for (const [target, path] of Object.values(routes)) await run(target.url + path, 1) // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, [target, path]] of Object.entries(routes)) {
      const cpuBefore = await cpu(target)
      const result = await run(target.url + path, HTTP_SECONDS)
      const cpuUs = (await cpu(target) - cpuBefore) / result.requests.total
      const bad = result.non2xx + result.errors + result.timeouts
      results[name].push({ rps: result.requests.average, p99: result.latency.p99, bad, cpuUs })
      log(`  round ${round + 1} ${name}: ${fmt(result.requests.average)} req/s, p99 ${result.latency.p99} ms, server CPU ${fmt(cpuUs, 1)} us/request${bad > 0 ? `, ${bad} not 2xx/errors` : ''}`)
    }
  }
  const stats = await (await fetch(server.url + '/stats')).json()
  for (const { proc } of before === undefined ? [server, metered] : [server, metered, before]) {
    proc.stdin.end()
    await once(proc, 'close')
  }
  const m = name => ({
    rps: median(results[name].map(r => r.rps)),
    p99: median(results[name].map(r => r.p99)),
    cpuUs: median(results[name].map(r => r.cpuUs)),
    bad: results[name].reduce((sum, r) => sum + r.bad, 0)
  })
  const plain = m('plain')
  const body = m('plainBody')
  // Other work on the machine moves req/s a lot from one 10 s run to the next; say so when it did.
  const spread = name => Math.max(...results[name].map(r => r.rps)) / Math.min(...results[name].map(r => r.rps))
  const noisy = names => names.some(name => spread(name) > 1.2) ? ` (noisy: rounds of one route differ up to ${fmt(Math.max(...names.map(spread)), 1)}x)` : ''
  const hand = m('hand')
  for (const [name, label] of [['fn', 'reply.accepted(fn)'], ['named', "reply.accepted('noop', data)"]]) {
    const r = m(name)
    const flag = noisy(['hand', name])
    // The baseline (issue 13): the hand-written fire-and-forget route.
    row('1 HTTP', `${label} req/s`, fmt(r.rps), `hand-written: ${fmt(hand.rps)}`, r.rps / hand.rps, '>= 0.95', r.rps / hand.rps >= 0.95, flag)
    row('1 HTTP', `${label} p99 ms`, fmt(r.p99), `hand-written: ${fmt(hand.p99)}`, r.p99 / hand.p99, '<= 1.20', r.p99 <= 1.2 * hand.p99, flag)
    // What the ratio would be on a server that is CPU-bound: req/s is inversely proportional to CPU per request.
    row('1 HTTP', `${label} req/s ratio implied by server CPU`, fmt(hand.cpuUs / r.cpuUs, 2), 'hand-written: 1.00', hand.cpuUs / r.cpuUs, '>= 0.95', hand.cpuUs / r.cpuUs >= 0.95)
    row('1 HTTP', `${label} server CPU us/request`, fmt(r.cpuUs, 1), `hand-written: ${fmt(hand.cpuUs, 1)}`, r.cpuUs / hand.cpuUs, '(info)', undefined)
    row('1 HTTP', `${label} req/s`, fmt(r.rps), `plain 202: ${fmt(plain.rps)}`, r.rps / plain.rps, '(info)', undefined)
    row('1 HTTP', `${label} server CPU us/request`, fmt(r.cpuUs, 1), `plain 202: ${fmt(plain.cpuUs, 1)}`, r.cpuUs / plain.cpuUs, '(info)', undefined)
    row('1 HTTP', `${label} server CPU us/request`, fmt(r.cpuUs, 1), `202 + same JSON body: ${fmt(body.cpuUs, 1)}`, r.cpuUs / body.cpuUs, '(info)', undefined)
    row('1 HTTP', `${label} req/s`, fmt(r.rps), `202 + same JSON body: ${fmt(body.rps)}`, r.rps / body.rps, '(info)', undefined)
    row('1 HTTP', `${label} p99 ms`, fmt(r.p99), `202 + same JSON body: ${fmt(body.p99)}`, r.p99 / body.p99, '(info)', undefined)
    if (r.bad > 0) row('1 HTTP', `${label} responses not 2xx`, fmt(r.bad), '', NaN, '0', false)
  }
  httpMetrics(m, noisy)
  if (before !== undefined) httpBeforeAfter(m, noisy)
  log(`  jobs run by the server: ${stats.succeeded} succeeded, ${stats.failed} failed, ${stats.rejected} refused`)
}

/** The same routes with metrics on against metrics off, measured in the same rounds: goal within 5%. */
function httpMetrics (m, noisy) {
  const section = '1 HTTP, metrics on / off'
  for (const [name, metered, label] of [['fn', 'meteredFn', 'reply.accepted(fn)'], ['named', 'meteredNamed', "reply.accepted('noop', data)"]]) {
    const on = m(metered)
    const off = m(name)
    row(section, `${label} req/s`, fmt(on.rps), `metrics off: ${fmt(off.rps)}`, on.rps / off.rps, '>= 0.95', on.rps / off.rps >= 0.95, noisy([name, metered]))
    row(section, `${label} server CPU us/request`, fmt(on.cpuUs, 1), `metrics off: ${fmt(off.cpuUs, 1)}`, off.cpuUs / on.cpuUs, 'off/on >= 0.95', off.cpuUs / on.cpuUs >= 0.95)
    row(section, `${label} p99 ms`, fmt(on.p99), `metrics off: ${fmt(off.p99)}`, on.p99 / off.p99, '(info)', undefined)
  }
}

/** The plain path against the build before the change, measured in the same rounds: goal within 10%. */
function httpBeforeAfter (m, noisy) {
  const section = '1 HTTP, now / before'
  for (const [name, previous, label] of [['fn', 'beforeFn', 'reply.accepted(fn)'], ['named', 'beforeNamed', "reply.accepted('noop', data)"]]) {
    const now = m(name)
    const then = m(previous)
    row(section, `${label} req/s`, fmt(now.rps), `before: ${fmt(then.rps)}`, now.rps / then.rps, '>= 0.90', now.rps / then.rps >= 0.9, noisy([name, previous]))
    // Less CPU per request is more req/s once the server is CPU-bound: the ratio is before / now.
    row(section, `${label} server CPU us/request`, fmt(now.cpuUs, 1), `before: ${fmt(then.cpuUs, 1)}`, then.cpuUs / now.cpuUs, 'before/now >= 0.90', then.cpuUs / now.cpuUs >= 0.9)
    row(section, `${label} p99 ms`, fmt(now.p99), `before: ${fmt(then.p99)}`, now.p99 / then.p99, '(info)', undefined)
  }
  const plain = m('plain')
  const plainThen = m('beforePlain')
  row(section, 'plain 202 req/s (the same route on both servers)', fmt(plain.rps), `before: ${fmt(plainThen.rps)}`, plain.rps / plainThen.rps, '(info)', undefined)
}

// Row 2: timekeeping.
async function timekeeping () {
  const names = { every: 'plugin every: 10', setInterval: 'setInterval(fn, 10)', toad: 'toad SimpleIntervalJob' }
  const detail = []
  const thousand = []
  for (const mode of ['idle', 'busy']) {
    const rounds = []
    for (let round = 0; round < ROUNDS; round++) {
      log(`timekeeping ${mode}, round ${round + 1}/${ROUNDS} (~10.5 s)`)
      rounds.push(await child('timekeeping.mjs', [mode]))
    }
    const m = (name, key) => median(rounds.map(r => r[name][key]))
    for (const name of Object.keys(names)) {
      detail.push([mode, names[name], fmt(m(name, 'fires')), fmt(m(name, 'mean'), 2), fmt(m(name, 'p99')), fmt(m(name, 'driftEnd')), fmt(m(name, 'growth'), 2)])
    }
    const ours = m('every', 'mean')
    const si = m('setInterval', 'mean')
    const toad = m('toad', 'mean')
    const growth = m('every', 'growth')
    row('2 Timekeeping', `${mode}: mean |actual - due| ms`, fmt(ours, 2), `setInterval ${fmt(si, 2)} / toad ${fmt(toad, 2)}`, ours / si,
      mode === 'idle' ? '<= 1 ms' : '(see note)', mode === 'idle' ? ours <= 1 : undefined)
    row('2 Timekeeping', `${mode}: drift at end / growth ms`, `${fmt(m('every', 'driftEnd'))} / ${fmt(growth, 2)}`,
      `setInterval ${fmt(m('setInterval', 'driftEnd'))} / toad ${fmt(m('toad', 'driftEnd'))}`, NaN, 'growth <= 1 ms', Math.abs(growth) <= 1)
    if (mode === 'idle') {
      for (const [name, label] of [['every', names.every], ['setInterval', names.setInterval]]) {
        thousand.push([label, rounds.map(r => fmt(r[name].runs1000)).join(' / '), fmt(m(name, 'mean1000'), 3), rounds.map(r => fmt(r[name].max1000)).join(' / ')])
      }
    }
  }
  tables.push(table('Timekeeping detail (medians of the rounds; due = start + k * 10 ms; growth = median signed error in the last second minus the first)',
    ['load', 'scheduler', 'fires in 10 s', 'mean |err| ms', 'p99 |err| ms', 'drift at end ms', 'growth ms'], detail))
  tables.push(table('1,000 runs of a 10 ms task, idle (issue 2): |actual - due|, median of the rounds\' means; max and run counts per round',
    ['scheduler', 'runs', 'mean ms', 'max ms (per round)'], thousand))
}

// Row 3: scale.
async function scale () {
  const results = { plugin: [], toad: [] }
  for (let round = 0; round < ROUNDS; round++) {
    for (const impl of ['plugin', 'toad']) {
      log(`scale ${impl}, round ${round + 1}/${ROUNDS} (~8 s)`)
      results[impl].push(await child('scale.mjs', [impl], ['--expose-gc']))
    }
  }
  const m = (impl, key) => median(results[impl].map(r => r[key]))
  const section = `3 Scale (${fmt(results.plugin[0].tasks)} tasks)`
  const line = (label, key, digits, goal, ok) =>
    row(section, label, fmt(m('plugin', key), digits), `toad: ${fmt(m('toad', key), digits)}`, m('plugin', key) / m('toad', key), goal, ok)
  // Issue 13: CPU per run, heap and RSS per task at most toad's; start under 1 s, close under 200 ms.
  line('CPU per run us', 'cpuUsPerRun', 2, '<= toad', m('plugin', 'cpuUsPerRun') <= m('toad', 'cpuUsPerRun'))
  line('heap added per task B', 'heapPerTask', 0, '<= toad', m('plugin', 'heapPerTask') <= m('toad', 'heapPerTask'))
  line('RSS added per task B', 'rssPerTask', 0, '<= toad', m('plugin', 'rssPerTask') <= m('toad', 'rssPerTask'))
  line('start (register to ready) ms', 'startMs', 1, '< 1,000 ms', m('plugin', 'startMs') < 1000)
  line('close ms', 'closeMs', 1, '< 200 ms', m('plugin', 'closeMs') < 200)
  line('runs in the CPU window', 'runs', 0, '', undefined)
}

// Row 4: job throughput.
async function throughput () {
  for (const concurrency of [1, 10, 100]) {
    const results = BEFORE === undefined ? { plugin: [], fastq: [], 'fastq-cb': [] } : { plugin: [], 'plugin-before': [], fastq: [], 'fastq-cb': [] }
    for (let round = 0; round < ROUNDS; round++) {
      for (const impl of Object.keys(results)) {
        log(`throughput ${impl} concurrency ${concurrency}, round ${round + 1}/${ROUNDS}`)
        const before = impl === 'plugin-before'
        results[impl].push(await child('throughput.mjs', [before ? 'plugin' : impl, String(concurrency)], ['--expose-gc'], before ? BEFORE : undefined))
      }
    }
    const m = (impl, key) => median(results[impl].map(r => r[key]))
    const ours = m('plugin', 'jobsPerSec')
    const base = m('fastq', 'jobsPerSec')
    row('4 Throughput (1e6 jobs)', `c=${concurrency} jobs/s`, fmt(ours), `fastq.promise: ${fmt(base)}`, ours / base, '>= 0.5', ours / base >= 0.5)
    row('4 Throughput (1e6 jobs)', `c=${concurrency} jobs/s vs callback fastq`, fmt(ours), `fastq (callback): ${fmt(m('fastq-cb', 'jobsPerSec'))}`, ours / m('fastq-cb', 'jobsPerSec'), '(info)', undefined)
    if (BEFORE !== undefined) {
      const then = m('plugin-before', 'jobsPerSec')
      row('4 Throughput, now / before', `c=${concurrency} jobs/s`, fmt(ours), `before: ${fmt(then)}`, ours / then, '>= 0.90', ours / then >= 0.9)
    }
    const after = m('plugin', 'heapAfterMB')
    row('4 Throughput (1e6 jobs)', `c=${concurrency} heap after drain MB (peak)`, `${fmt(after, 2)} (${fmt(m('plugin', 'peakHeapMB'), 0)})`,
      `fastq.promise: ${fmt(m('fastq', 'heapAfterMB'), 2)} (${fmt(m('fastq', 'peakHeapMB'), 0)})`, NaN, '~0 (< 1 MB)', after < 1)
  }
}

// Row 5: shutdown.
async function shutdown () {
  const rounds = QUICK ? 1 : 5
  const results = { plugin: [], fastq: [] }
  for (let round = 0; round < rounds; round++) {
    for (const impl of ['plugin', 'fastq']) {
      log(`shutdown ${impl}, round ${round + 1}/${rounds}`)
      results[impl].push(await child('shutdown.mjs', [impl]))
    }
  }
  const m = (impl, key) => median(results[impl].map(r => r[key]))
  const ours = m('plugin', 'afterLastJobMs')
  row('5 Shutdown', 'last job end -> close resolved ms', fmt(ours, 3), `fastq + onClose drained(): ${fmt(m('fastq', 'afterLastJobMs'), 3)}`,
    ours / m('fastq', 'afterLastJobMs'), '< 5 ms', ours < 5)
}

// Row 7 (job control): delayed jobs, how late each starts after its runAt.
async function delayed () {
  const rounds = []
  for (let round = 0; round < ROUNDS; round++) {
    log(`delayed: 100,000 jobs, random delays 0-10 s, round ${round + 1}/${ROUNDS} (~12 s)`)
    rounds.push(await child('delayed.mjs'))
  }
  const m = key => median(rounds.map(r => r[key]))
  const early = rounds.reduce((sum, r) => sum + r.early, 0)
  const section = '7 Delayed (1e5 jobs)'
  row(section, 'started before runAt (Date.now), all rounds', fmt(early), '', NaN, '0', early === 0)
  row(section, 'lateness p50 ms', fmt(m('p50'), 1), '', NaN, '<= 5 ms', m('p50') <= 5)
  row(section, 'lateness p95 / p99 / max ms', `${fmt(m('p95'))} / ${fmt(m('p99'))} / ${fmt(m('max'))}`, '', NaN, '(info)', undefined)
  row(section, 'due after the enqueue loop: p50 / p99 / max ms', `${fmt(m('steadyP50'))} / ${fmt(m('steadyP99'))} / ${fmt(m('steadyMax'))}`, '', NaN, '(info)', undefined)
  tables.push(table('Delayed jobs (bench/delayed.mjs): lateness = start - (enqueue + delay), per round',
    ['round', 'enqueue ms', 'p50', 'p95', 'p99', 'max', 'early', 'due after enqueue loop: jobs, p50 / p99 / max', 'performance.now(): p50, p99, started < delay in real time (earliest)'],
    rounds.map((r, i) => [i + 1, fmt(r.enqueueMs), fmt(r.p50), fmt(r.p95), fmt(r.p99), fmt(r.max), fmt(r.early),
      `${fmt(r.steadyJobs)}, ${fmt(r.steadyP50)} / ${fmt(r.steadyP99)} / ${fmt(r.steadyMax)}`,
      `${fmt(r.hrP50, 2)}, ${fmt(r.hrP99, 2)}, ${fmt(r.hrEarly)} (${fmt(r.hrEarliest, 2)} ms)`])))
}

// Row 8 (job control): jobs with random priorities next to the same jobs without.
async function priority () {
  const section = '8 Priority (1e5 jobs)'
  for (const concurrency of [1, 10]) {
    const results = { with: [], without: [] }
    for (let round = 0; round < ROUNDS; round++) {
      for (const side of ['without', 'with']) {
        log(`priority ${side} concurrency ${concurrency}, round ${round + 1}/${ROUNDS}`)
        results[side].push(await child('priority.mjs', [side, String(concurrency)]))
      }
    }
    const ours = median(results.with.map(r => r.jobsPerSec))
    const base = median(results.without.map(r => r.jobsPerSec))
    row(section, `c=${concurrency} jobs/s, random priorities`, fmt(ours), `no priority: ${fmt(base)}`, ours / base, '(info)', undefined)
    if (concurrency === 1) {
      const outOfOrder = results.with.reduce((sum, r) => sum + r.outOfOrder, 0)
      row(section, 'c=1 starts out of priority order, all rounds', fmt(outOfOrder), '', NaN, '0', outOfOrder === 0)
    }
  }
}

// Row 6 (the many-replicas issues): the BullMQ backend next to raw BullMQ, on the Redis at
// REDIS_URL, then on the PostgreSQL at DATABASE_URL.
async function bullmq () {
  const stores = {
    redis: `Redis at ${process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'}`,
    postgres: `PostgreSQL at ${process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'}`
  }
  for (const [store, where] of Object.entries(stores)) {
    log(`BullMQ backend next to raw BullMQ at concurrency 1, 10, 50 (${where})`)
    const env = { ...process.env, STORE: store, ROUNDS: String(ROUNDS), ...(QUICK ? { JOBS: '500' } : {}) }
    const proc = spawn(process.execPath, [here + 'bullmq.mjs'], { stdio: ['ignore', 'pipe', 'inherit'], env })
    let out = ''
    proc.stdout.on('data', chunk => { out += chunk })
    const [code] = await once(proc, 'close')
    tables.push(code === 0
      ? `BullMQ backend next to raw BullMQ on ${store}, jobs/s (bench/bullmq.mjs)\n${out}`
      : `BullMQ row on ${store} not measured: bench/bullmq.mjs exited with ${code} (is the store running: ${where}?)\n`)
  }
}

// Row 7 (the dashboard issue): an overview with 10,000 tasks and 10,000 kept jobs, and the CPU a polling page adds.
async function dashboard () {
  log('dashboard: overview and jobs page with 10,000 tasks and 10,000 kept jobs; an idle server with and without a page polling every 2 s')
  const result = await child('dashboard.mjs', [QUICK ? 'quick' : 'full'])
  const section = '7 dashboard'
  row(section, 'GET api/overview, 10,000 tasks + 10,000 jobs, median ms', fmt(result.overviewMs, 1), 'goal: 50 ms', result.overviewMs / 50, '< 50 ms', result.overviewMs < 50)
  row(section, 'GET api/overview p99 ms', fmt(result.overviewP99, 1), '', NaN, '(info)', undefined)
  row(section, 'GET api/jobs (a page of 50 of 10,000), median ms', fmt(result.jobsMs, 1), '', NaN, '(info)', undefined)
  row(section, 'overview body, KiB', fmt(result.overviewKiB), '', NaN, '(info)', undefined)
  row(section, `idle server CPU, a page polling every 2 s, over ${result.seconds} s`, `${fmt(result.pollingCpu, 2)} %`, `no page: ${fmt(result.idleCpu, 2)} %`, NaN, 'adds < 1 %', result.pollingCpu - result.idleCpu < 1)
}

const only = process.argv[2]?.split(',')
const sections = { http, timekeeping, scale, throughput, shutdown, delayed, priority, bullmq, dashboard }
for (const [name, section] of Object.entries(sections)) {
  if (only !== undefined && !only.includes(name)) continue
  await section()
  await sleep(200)
}

const cpu = require('node:os').cpus()
process.stdout.write(`\nfastify-background benchmarks: node ${process.version}, ${cpu[0].model}, ${cpu.length} cores, ${ROUNDS} rounds (medians)${QUICK ? ' QUICK smoke run, not figures' : ''}; took ${((Date.now() - began) / 1000).toFixed(0)} s\n\n`)
process.stdout.write(table('Ratios against the baseline measured in the same run',
  ['row', 'measure', 'fastify-background', 'baseline', 'ratio', 'goal', 'status'],
  rows.map(r => [r.section, r.measure, r.ours, r.baseline, r.ratio, r.goal, r.status])) + '\n')
for (const t of tables) process.stdout.write(t + '\n')
