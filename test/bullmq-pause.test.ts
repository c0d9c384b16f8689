// A fleet-wide pause is kept in Redis: it outlasts a replica's reconnect and restart, and any
// replica may resume it.
import { Queue } from 'bullmq'
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { bullmqBackend } from '../lib/bullmq'
import type { TaskDefinition } from '../lib/types'
import { buildApp } from './helpers/app'
import { buildBullApp, deleteKeys, redisSkipReason, REDIS_URL, uniquePrefix, until } from './helpers/redis'

const skip = redisSkipReason()
const TASKS_QUEUE = 'fastify-background.tasks'

/** Two every-100-ms tasks, 'paused' (the one the tests pause) and 'beat' (left running), counting their runs. */
function counted (): { tasks: TaskDefinition[], runs: Record<string, number> } {
  const runs: Record<string, number> = { paused: 0, beat: 0 }
  const tasks = ['paused', 'beat'].map(name => ({ name, every: 100, handler: async () => { runs[name]++ } }))
  return { tasks, runs }
}

/** A prefix of the test's own, a queue to read its schedulers, and its keys deleted at the end. */
function fleet (t: Test): { prefix: string, schedulers: () => Promise<string[]> } {
  const prefix = uniquePrefix()
  const queue = new Queue(TASKS_QUEUE, { connection: { url: REDIS_URL }, prefix })
  t.teardown(async () => {
    await queue.close()
    await deleteKeys(prefix)
  })
  return { prefix, schedulers: async () => (await queue.getJobSchedulers(0, -1)).map(s => s.key).sort() }
}

async function ready (t: Test, app: FastifyInstance): Promise<FastifyInstance> {
  t.teardown(() => app.close())
  await app.ready()
  return app
}

/**
 * Resolves once 'beat' has run `more` times: time enough for a paused task to have fired, had it
 * been on. A run handed back by a replica closing just before waits for the next fetch (BullMQ's
 * drainDelay, 5 s): allow for that on a loaded machine.
 */
async function beats (runs: Record<string, number>, more: number): Promise<void> {
  const target = runs.beat + more
  await until(() => runs.beat >= target, 15_000, `${more} more runs of 'beat'`)
}

t.test('a fleet-wide pause outlasts a Redis reconnect, of the replica that paused it and of another', { skip }, async t => {
  const { prefix, schedulers } = fleet(t)
  const { tasks, runs } = counted()
  // The replicas' queues use ioredis instances of the test's, so the test can cut their connections.
  const [pausing, other] = await Promise.all([1, 2].map(async () => {
    const instance = new Redis(REDIS_URL)
    t.teardown(() => instance.disconnect())
    const { app } = await buildApp({ tasks, backend: bullmqBackend({ connection: instance, prefix }) })
    return { app: await ready(t, app), instance }
  }))
  await until(async () => (await schedulers()).join() === 'beat,paused', 2000, 'both schedulers')

  pausing.app.tasks.pause('paused')
  await until(async () => (await schedulers()).join() === 'beat', 2000, 'the pause to reach Redis')
  // Deleted behind the replicas' backs: their reconnections write it again.
  const behindTheBack = new Queue(TASKS_QUEUE, { connection: { url: REDIS_URL }, prefix })
  await behindTheBack.removeJobScheduler('beat')
  await behindTheBack.close()
  pausing.instance.disconnect(true)
  other.instance.disconnect(true)
  await until(async () => (await schedulers()).includes('beat'), 5000, "the reconnections to write 'beat' again")
  const before = runs.paused
  await beats(runs, 5)
  t.same(await schedulers(), ['beat'], 'the paused task was not written back')
  t.equal(runs.paused, before, 'and did not run')
  t.equal(other.app.tasks.get('paused')?.state, 'paused', 'the other replica read the pause from Redis as it reconnected')
  t.equal(pausing.app.tasks.get('paused')?.state, 'paused')
})

t.test('a fleet-wide pause outlasts a restart; another replica resumes it; a replica that saw it paused runs it again', { skip }, async t => {
  const { prefix, schedulers } = fleet(t)
  const { tasks, runs } = counted()
  const { app: first } = await buildBullApp(prefix, { tasks })
  await first.ready()
  await until(async () => (await schedulers()).join() === 'beat,paused', 2000, 'both schedulers')
  first.tasks.pause('paused')
  await first.close()

  const { app: restarted } = await buildBullApp(prefix, { tasks })
  const { app: watching } = await buildBullApp(prefix, { tasks })
  await Promise.all([ready(t, restarted), ready(t, watching)])
  await until(() => restarted.tasks.get('paused')?.state === 'paused' && watching.tasks.get('paused')?.state === 'paused',
    2000, 'the replicas starting to see the task paused')
  const before = runs.paused
  await beats(runs, 5)
  t.equal(runs.paused, before, 'the paused task did not run')
  t.same(await schedulers(), ['beat'])
  t.match(restarted.tasks.get('paused'), { state: 'paused', nextRunAt: null })

  restarted.tasks.resume('paused')
  await until(async () => (await schedulers()).join() === 'beat,paused', 2000, 'the resume to reach Redis')
  await restarted.close()
  // Only the replica that saw the task paused at its start is left: the runs of the resumed task land on it.
  // A run that landed on the closing replica is handed back and waits for the next fetch, or, if
  // the close caught it running, for its lock to lapse (lockDuration + stalledInterval, 25 s).
  await until(() => runs.paused > before, 30_000, 'the resumed task to run')
  // The first run counted may be one the closing replica took in flight: wait for one to land here.
  await until(() => watching.tasks.get('paused')?.state !== 'paused', 30_000, 'a run landing on it to tell it the task was resumed')
  t.not(watching.tasks.get('paused')?.state, 'paused', 'a run landing on it tells it the task was resumed')
})

t.test('a task deployed disabled stays off whatever Redis says; resuming it lifts the pause fleet-wide', { skip }, async t => {
  const { prefix, schedulers } = fleet(t)
  const { tasks, runs } = counted()
  const disabled = tasks.map(task => task.name === 'paused' ? { ...task, enabled: false } : task)
  const { app } = await buildBullApp(prefix, { tasks: disabled })
  await ready(t, app)
  await beats(runs, 3)
  t.equal(runs.paused, 0)
  t.same(await schedulers(), ['beat'])
  app.tasks.resume('paused')
  await until(() => runs.paused > 0, 5000, 'the resumed task to run')
  t.equal(app.tasks.get('paused')?.state === 'paused', false)
})

t.test('a due time that reaches a replica before the pause does is skipped, and tells it the task is paused', { skip }, async t => {
  const { prefix, schedulers } = fleet(t)
  const { tasks, runs } = counted()
  const { app } = await buildBullApp(prefix, { tasks })
  await ready(t, app)
  await until(async () => (await schedulers()).join() === 'beat,paused', 2000, 'both schedulers')
  // Paused by a replica whose schedule removal has not reached Redis yet: its due times still come.
  const pausing = new Queue(TASKS_QUEUE, { connection: { url: REDIS_URL }, prefix })
  t.teardown(() => pausing.close())
  await (await pausing.backend.client).hset(pausing.toKey('paused-tasks'), { paused: Date.now() })
  await until(() => app.tasks.get('paused')?.state === 'paused', 5000, 'a due time to tell the replica')
  const before = runs.paused
  await beats(runs, 5)
  t.equal(runs.paused, before, 'the paused task did not run')
  t.match(app.tasks.get('paused'), { state: 'paused', nextRunAt: null })
})
