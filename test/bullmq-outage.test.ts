// Redis going away and coming back: the app keeps serving, says so once, and resumes.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import t from 'tap'
import { Registry } from 'prom-client'
import { bullmqBackend } from '../lib/bullmq'
import { linesWith, LEVEL } from './helpers/app'
import { freePort, outageApp } from './helpers/outage'
import { redisSkipReason, uniquePrefix, until } from './helpers/redis'

const hasServer = spawnSync('redis-server', ['--version']).status === 0
const skip = hasServer ? false : 'redis-server is not on the PATH: the outage test starts a private one'

async function startRedis (port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  await until(() => redisSkipReason(`redis://127.0.0.1:${port}`) === false, 5000, 'redis-server to answer')
  return child
}

async function stopRedis (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGKILL')
  await exited
}

t.test('a Redis restart is survived: the app serves, logs the outage once, refuses jobs with 503, then resumes', { skip }, async t => {
  const port = await freePort()
  let redis = await startRedis(port)
  t.teardown(() => stopRedis(redis))
  const registry = new Registry()
  const backend = bullmqBackend({ connection: `redis://127.0.0.1:${port}`, prefix: uniquePrefix() })
  const { app, lines, ran, ticks, echo } = await outageApp(t, { metrics: { registry }, dashboard: '/background', backend })
  await echo('before')
  await until(() => ran.includes('before') && ticks() > 0, 5000, 'a job and a tick before the outage')
  t.match(await registry.metrics(), /fastify_background_jobs\{state="queued"\} 0\n/, 'a scrape before the outage')

  await stopRedis(redis)
  await until(() => linesWith(lines, 'Redis error', LEVEL.error).length > 0, 5000, 'the outage to be logged')
  t.equal((await app.inject({ url: '/health' })).statusCode, 200, 'the app keeps serving')
  const refused = await echo('during')
  t.equal(refused.statusCode, 503)
  t.equal(refused.headers['retry-after'], '1')
  t.equal(refused.json().code, 'FST_BACKGROUND_UNAVAILABLE')
  await t.rejects(app.background.status('x'), { code: 'FST_BACKGROUND_UNAVAILABLE' })
  const overview = await app.inject('/background/api/overview')
  t.equal(overview.json().code, 'FST_BACKGROUND_UNAVAILABLE', 'the dashboard says the store is away')
  const scrape = await registry.metrics()
  t.match(scrape, /fastify_background_jobs_rejected_total\{reason="unavailable"\} 1\n/, 'the refused POST counts; failed reads do not')
  t.match(scrape, /fastify_background_jobs\{state="queued"\} 0\n/, 'a scrape during it answers, with the last counts read')
  await new Promise(resolve => setTimeout(resolve, 1500))
  t.equal(linesWith(lines, 'Redis', LEVEL.error).length, 1, 'one error line for the whole outage')

  // The new Redis is empty: the schedule is written again from this replica's tasks.
  redis = await startRedis(port)
  await until(() => linesWith(lines, 'Redis reachable again', LEVEL.info).length > 0, 10_000, 'the reconnection to be logged')
  const ticksBefore = ticks()
  await echo('after')
  await until(() => ran.includes('after') && ticks() > ticksBefore, 10_000, 'a job and a tick after the outage')
  t.notOk(ran.includes('during'))

  // Closing while Redis is away again neither hangs nor throws.
  await stopRedis(redis)
  const closing = Date.now()
  await app.close()
  t.ok(Date.now() - closing < 6000, `close returned in ${Date.now() - closing} ms`)
})
