import { networkInterfaces } from 'node:os'
import t, { test, type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import type { Browser, Page } from 'playwright-core'
import fastifyBackground from '../lib/index'
import { chromiumSkipReason, launchChromium } from './helpers/browser'
import { gate, noUnhandledRejections, until } from './helpers/jobs'
import type { FastifyBackgroundOptions, JobContext } from '../lib/types'

// The dashboard in headless Chromium: what it shows, what its buttons do, and who it serves.

const skip = chromiumSkipReason()
let browser: Browser

t.before(async () => { if (skip === false) browser = await launchChromium() })
t.teardown(async () => { await browser?.close() })

/** A client of this machine that does not come from loopback, for the loopback-only test. */
const external = Object.values(networkInterfaces()).flat().find(address => address?.family === 'IPv4' && !address.internal)

interface Served {
  app: FastifyInstance
  url: string
  origin: string
}

async function serve (t: Test, options: FastifyBackgroundOptions, host = '127.0.0.1'): Promise<Served> {
  noUnhandledRejections(t)
  const app = Fastify()
  await app.register(fastifyBackground, { dashboard: '/background', ...options })
  t.teardown(() => app.close())
  const address = await app.listen({ port: 0, host })
  return { app, url: `${address}/background`, origin: address }
}

/** A page that fails the test on a console error, a page error, or a request to another origin. */
async function open (t: Test, served: Served, headers?: Record<string, string>): Promise<Page> {
  const context = await browser.newContext({ extraHTTPHeaders: headers })
  t.teardown(() => context.close())
  const page = await context.newPage()
  page.on('console', message => { if (message.type() === 'error') t.fail(`console error: ${message.text()}`) })
  page.on('pageerror', error => t.fail(`page error: ${error.message}`))
  page.on('request', request => { if (!request.url().startsWith(served.origin)) t.fail(`a request left the origin: ${request.url()}`) })
  await page.goto(served.url)
  return page
}

const text = (page: Page, selector: string): Promise<string> => page.locator(selector).innerText()
const row = (kind: 'task' | 'job', key: string): string => `tr[data-${kind}="${key}"]`

test('it shows the counts, every task with its schedule and last run, and jobs with their status', { skip }, async t => {
  let fails = 0
  const held = gate()
  const served = await serve(t, {
    tasks: [
      { name: 'cache.refresh', every: '90s', handler: () => {} },
      { name: 'nightly', cron: '0 3 * * *', timezone: 'Europe/Paris', handler: () => {} },
      { name: 'flaky', every: '1h', handler: () => { throw new Error(`upstream down ${++fails}`) } }
    ],
    jobs: {
      double: (ctx: JobContext) => (ctx.data as number) * 2,
      hold: async (ctx: JobContext) => { await ctx.progress(40); await held.promise },
      boom: () => { throw new Error('SMTP 550') }
    }
  })
  const { app } = served
  await app.tasks.trigger('flaky')
  const done = await app.background.enqueue('double', 21)
  await app.background.enqueue('boom')
  await app.background.drain()
  const running = await app.background.enqueue('hold')
  await until(async () => (await app.background.status(running.id))?.progress === 40)

  const page = await open(t, served)
  await page.waitForSelector(row('job', running.id))
  const stats = await app.background.stats()
  for (const name of ['queued', 'running', 'succeeded', 'failed', 'rejected'] as const) {
    t.equal(await text(page, `[data-count="${name}"] dd`), String(stats[name]), `count ${name}`)
  }
  t.match(await text(page, row('task', 'cache.refresh')), /every 1\.5 min\s+idle\s+in 1 min/)
  t.match(await text(page, row('task', 'nightly')), /0 3 \* \* \*\s+Europe\/Paris/)
  t.match(await text(page, row('task', 'flaky')), /failed\s+\d+ s ago|failed\s+now/)
  t.match(await text(page, row('task', 'flaky')), /upstream down 1\s+1\s+1\s+0/, 'the error, then runs, failures, skips')
  const exact = await page.locator(`${row('task', 'cache.refresh')} time`).getAttribute('title')
  t.equal(exact, new Date(app.tasks.get('cache.refresh')?.nextRunAt as Date).toLocaleString('en-US'), 'the exact time on hover')
  t.match(await text(page, row('job', done.id)), /double\s+succeeded/)
  t.match(await text(page, 'tr:has-text("boom")'), /failed[\s\S]*SMTP 550/)
  t.equal(await page.locator(`${row('job', running.id)} progress`).getAttribute('value'), '40')

  await page.click('#job-tabs button[data-status="failed"]')
  await page.waitForSelector(row('job', done.id), { state: 'detached' })
  t.equal(await page.locator('#jobs tbody tr').count(), 1, 'the failed tab lists the failed job only')
  await page.click('#job-tabs button[data-status=""]')
  await page.click(`${row('job', done.id)} button[data-action="detail"]`)
  await page.waitForSelector('#detail:not([hidden])')
  t.equal(await text(page, '#detail-data'), '21')
  t.equal(await text(page, '#detail-result'), '42')
  t.match(await text(page, '#detail-fields'), new RegExp(`id\\s+${done.id}`))
  held.open()
})

test('its buttons change the server’s state, and it updates itself when a job ends', { skip }, async t => {
  const held = gate()
  let runs = 0
  let attempts = 0
  const served = await serve(t, {
    concurrency: 1,
    tasks: [{ name: 'tick', every: '1h', handler: () => { runs++ } }],
    jobs: {
      hold: (ctx: JobContext) => new Promise((resolve, reject) => { held.promise.then(resolve, reject); ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)) }),
      flaky: () => { if (++attempts === 1) throw new Error('first try fails') }
    }
  })
  const { app } = served
  const page = await open(t, served)
  const tick = row('task', 'tick')
  await page.click(`${tick} button[data-action="pause"]`)
  await until(() => app.tasks.get('tick')?.state === 'paused')
  await page.click(`${tick} button[data-action="resume"]`)
  await until(() => app.tasks.get('tick')?.state === 'idle')
  await page.click(`${tick} button[data-action="trigger"]`)
  await until(() => runs === 1)
  await page.waitForFunction('document.querySelector(\'tr[data-task="tick"] td[data-label="Runs"]\')?.textContent === "1"')

  const flaky = await app.background.enqueue('flaky')
  await app.background.drain()
  await page.click(`${row('job', flaky.id)} button[data-action="retry"]`)
  await until(async () => (await app.background.status(flaky.id))?.status === 'succeeded')

  const cancelled = await app.background.enqueue('hold')
  await page.click(`${row('job', cancelled.id)} button[data-action="cancel"]`)
  await until(async () => (await app.background.status(cancelled.id))?.status === 'cancelled')

  const job = await app.background.enqueue('hold')
  await page.waitForSelector(`${row('job', job.id)} .status-running`)
  held.open()
  await page.waitForSelector(`${row('job', job.id)} .status-succeeded`, { timeout: 5000 })
  t.pass('the row shows the job succeeded, without a reload')
})

test('readOnly: no buttons', { skip }, async t => {
  const served = await serve(t, { dashboard: { path: '/background', readOnly: true }, tasks: [{ name: 'tick', every: '1h', handler: () => {} }] })
  const page = await open(t, served)
  await page.waitForSelector(row('task', 'tick'))
  t.equal(await page.locator('button[data-action="pause"], button[data-action="trigger"]').count(), 0)
  t.equal(await page.locator('#tasks th.actions-head').isVisible(), false)
})

test('guard: the page is served to whom the guard lets in', { skip }, async t => {
  const served = await serve(t, {
    dashboard: { path: '/background', guard: async (request, reply) => { if (request.headers['x-admin'] !== 'yes') return reply.code(401).send('who are you?') } },
    tasks: [{ name: 'tick', every: '1h', handler: () => {} }]
  })
  const context = await browser.newContext()
  t.teardown(() => context.close())
  const refused = await (await context.newPage()).goto(served.url)
  t.equal(refused?.status(), 401)
  const page = await open(t, served, { 'x-admin': 'yes' })
  await page.waitForSelector(row('task', 'tick'))
  t.pass('with the header, the page and its API are served')
})

test('loopback only without a guard: a client reaching another address gets 403', { skip: skip || (external === undefined && 'this machine has no non-loopback IPv4 address') }, async t => {
  const served = await serve(t, {}, '0.0.0.0')
  const port = new URL(served.origin).port
  const context = await browser.newContext()
  t.teardown(() => context.close())
  const response = await (await context.newPage()).goto(`http://${external?.address as string}:${port}/background`)
  t.equal(response?.status(), 403)
  t.match(await response?.json(), { code: 'FST_BACKGROUND_FORBIDDEN' })
})

test('a page of another origin cannot act on the dashboard', { skip }, async t => {
  const served = await serve(t, { tasks: [{ name: 'tick', every: '1h', handler: () => {} }] })
  const evil = Fastify()
  evil.get('/', async (_request, reply) => reply.type('text/html').send('<p>hello</p>'))
  t.teardown(() => evil.close())
  const evilOrigin = await evil.listen({ port: 0, host: '127.0.0.1' })
  const context = await browser.newContext()
  t.teardown(() => context.close())
  const page = await context.newPage()
  await page.goto(evilOrigin)
  const status = await page.evaluate(async url => {
    // no-cors: the browser sends the POST (as a form could) but hides the answer.
    await fetch(url, { method: 'POST', mode: 'no-cors' })
    return 'sent'
  }, `${served.url}/api/tasks/tick/pause`)
  t.equal(status, 'sent')
  const asked = await served.app.inject({ method: 'POST', url: '/background/api/tasks/tick/pause', headers: { origin: evilOrigin } })
  t.equal(asked.statusCode, 403, 'what the browser was answered')
  t.equal(served.app.tasks.get('tick')?.state, 'idle', 'the task was not paused')
})
