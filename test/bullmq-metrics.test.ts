// Metrics on the BullMQ backend, against a real Redis: counters count the replica's own work,
// the jobs gauge shows the fleet's counts, the same on every replica.
import t from 'tap'
import { Registry } from 'prom-client'
import { buildBullApp, deleteKeys, redisSkipReason, uniquePrefix, until } from './helpers/redis'
import type { JobContext } from '../lib/types'

const skip = redisSkipReason()

/** The value of one sample line of a scrape. */
function sample (scrape: string, series: string): number | undefined {
  const line = scrape.split('\n').find(each => each.startsWith(series + ' '))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

t.test('the jobs gauge shows the fleet on every replica; each replica counts the jobs it ran', { skip }, async t => {
  const prefix = uniquePrefix()
  t.teardown(() => deleteKeys(prefix))
  let release = (): void => {}
  const held = new Promise<void>(resolve => { release = resolve })
  const ran: string[] = []
  const registries = [new Registry(), new Registry()]
  const replicas = await Promise.all(registries.map((registry, index) => buildBullApp(prefix, {
    metrics: { registry },
    concurrency: 1,
    jobs: { hold: async (ctx: JobContext) => { ran.push(String(index)); await held; return ctx.data } }
  })))
  const [a, b] = replicas.map(replica => replica.app)
  t.teardown(async () => { release(); await Promise.all([a.close(), b.close()]) })
  await Promise.all([a.ready(), b.ready()])

  for (let i = 0; i < 3; i++) await a.background.enqueue('hold', i)
  await until(() => ran.length === 2, 10_000, 'one job running on each replica')
  for (const registry of registries) {
    const scrape = await registry.metrics()
    t.equal(sample(scrape, 'fastify_background_jobs{state="running"}'), 2, 'the fleet\'s running jobs')
    t.equal(sample(scrape, 'fastify_background_jobs{state="queued"}'), 1, 'the fleet\'s queued job')
  }
  const waiting = (await a.background.list({ status: 'queued' }))[0]
  t.equal(await b.background.cancel(waiting.id), true, 'the queued job cancelled from the other replica')
  release()
  await until(async () => (await a.background.stats()).succeeded === 2, 10_000, 'the two running jobs')
  const count = async (status: string): Promise<number> => {
    const counts = await Promise.all(registries.map(async registry =>
      sample(await registry.metrics(), `fastify_background_jobs_total{job="hold",status="${status}"}`) ?? 0))
    return counts[0] + counts[1]
  }
  await until(async () => await count('cancelled') === 1, 10_000, 'the cancelled job to be dropped by the replica that takes it')
  t.equal(await count('succeeded'), 2, 'the replicas\' counts add up to the fleet\'s')
  t.equal(ran.length, 2, 'the cancelled job never ran')
  const durations = await Promise.all(registries.map(async registry =>
    sample(await registry.metrics(), 'fastify_background_job_duration_seconds_count{job="hold"}') ?? 0))
  t.equal(durations[0] + durations[1], 2, 'a job that never started has no duration')
})
