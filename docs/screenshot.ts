// Makes docs/dashboard.png (and docs/dashboard-narrow.png, 360 px wide): the dashboard of an app
// with tasks and jobs in several states. Run: node --import tsx docs/screenshot.ts
import { join } from 'node:path'
import Fastify from 'fastify'
import { chromium } from 'playwright-core'
import fastifyBackground from '../lib/index'

async function main () {
  const app = Fastify()
  let n = 0
  await app.register(fastifyBackground, {
    dashboard: '/background',
    jobs: {
      'report.build': async (ctx: any) => { await ctx.progress(40); await ctx.sleep(60_000); return ctx.data },
      'email.send': async ({ data }: any) => { if (data.fail) throw new Error('SMTP 550: mailbox unavailable'); return { sent: true } },
    },
    tasks: [
      { name: 'cache.refresh', every: '5s', handler: async () => {} },
      { name: 'nightly.report', cron: '0 3 * * *', timezone: 'Europe/Paris', handler: async () => {} },
      { name: 'flaky.sync', every: '1s', handler: async () => { if (++n % 2) throw new Error('upstream timed out') } },
      { name: 'queue.poller', loop: true, handler: async ({ signal, sleep }: any) => { while (!signal.aborted) await sleep(1000) } }
    ]
  } as any)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `http://127.0.0.1:${(app.server.address() as any).port}/background`
  await app.background.enqueue('report.build', { month: '2026-11' })
  await app.background.enqueue('email.send', { to: 'a@example.com' })
  await app.background.enqueue('email.send', { to: 'b@example.com', fail: true })
  const late = await app.background.enqueue('email.send', { to: 'c@example.com' }, { delay: '1h' })
  await app.background.cancel(late.id)
  app.tasks.pause('nightly.report')
  await app.background.enqueue('report.build', { month: '2026-10' }, { delay: '10m' })
  await new Promise(resolve => setTimeout(resolve, 2500))
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] })
  for (const [w, h, f] of [[1280, 900, 'dashboard'], [360, 1400, 'dashboard-narrow']] as const) {
    const page = await browser.newPage({ viewport: { width: w, height: h } })
    page.on('console', m => console.log('console', m.type(), m.text()))
    await page.goto(url)
    await page.waitForSelector('#jobs tbody tr')
    await page.screenshot({ path: join(__dirname, `${f}.png`), fullPage: f === 'dashboard' })
    await page.close()
  }
  await browser.close()
  await app.close()
}
main().catch(e => { console.error(e); process.exit(1) })
