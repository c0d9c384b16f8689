import t from 'tap'
import { EventEmitter, once } from 'node:events'
import type { TaskContext } from '../lib/types'
import { LEVEL, buildApp, linesWith } from './helpers/app'
import { guardUnhandled } from './helpers/tasks'

// The real thing, on Node's own timers: bounded waits, tolerant of a slow machine, and driven by
// events rather than sleeps wherever the code tells us what happened.

guardUnhandled(t)

t.test('every on real timers: anchored due times, never early', async t => {
  const runs = new EventEmitter()
  const seen: Array<{ at: number, scheduledAt: number }> = []
  const { app } = await buildApp({
    tasks: [{
      name: 'tick',
      every: 50,
      handler: (ctx: TaskContext) => {
        seen.push({ at: Date.now(), scheduledAt: ctx.scheduledAt.getTime() })
        if (seen.length === 4) runs.emit('done')
      }
    }]
  })
  t.teardown(() => app.close())
  const done = once(runs, 'done', { signal: AbortSignal.timeout(5000) })
  await app.ready()
  await done
  const first = seen[0].scheduledAt
  t.same(seen.slice(0, 4).map(run => run.scheduledAt - first), [0, 50, 100, 150], 'due times on the grid')
  t.ok(seen.every(run => run.at >= run.scheduledAt), 'no run before its due time')
})

t.test('cron with seconds on real timers fires on the second', async t => {
  const runs = new EventEmitter()
  const { app } = await buildApp({
    tasks: [{ name: 'sec', cron: '* * * * * *', handler: ctx => { runs.emit('run', ctx.scheduledAt.getTime(), Date.now()) } }]
  })
  t.teardown(() => app.close())
  const run = once(runs, 'run', { signal: AbortSignal.timeout(3000) })
  await app.ready()
  const [scheduledAt, at] = await run
  t.equal(scheduledAt % 1000, 0)
  t.ok(at >= scheduledAt)
})

t.test('a handler that ignores its timeout is given up on after the 1 s grace', async t => {
  const { app, lines } = await buildApp({
    tasks: [{ name: 'deaf', every: '1h', timeout: 50, handler: () => new Promise(() => {}) }]
  })
  t.teardown(() => app.close())
  await app.ready()
  const started = Date.now()
  const result = await app.tasks.trigger('deaf')
  const took = Date.now() - started
  t.match(result, { status: 'timeout', error: 'Timed out after 50 ms' })
  t.ok(took >= 1040 && took < 3000, `recorded after timeout + grace (${took} ms)`)
  t.match(app.tasks.get('deaf'), { running: 0, failures: 1 })
  t.equal(linesWith(lines, 'task abandoned', LEVEL.warn).length, 1)
})

t.test('close aborts a loop at once and gives up on a deaf run after shutdownTimeout + grace', async t => {
  const started = new EventEmitter()
  let loopEnded = false
  const { app, lines } = await buildApp({
    shutdownTimeout: 100,
    tasks: [
      {
        name: 'worker',
        loop: true,
        handler: async ctx => {
          started.emit('worker')
          while (!ctx.signal.aborted) await ctx.sleep(10_000)
          loopEnded = true
        }
      },
      { name: 'deaf', every: '1h', handler: () => new Promise(() => {}) }
    ]
  })
  t.teardown(() => app.close())
  const workerStarted = once(started, 'worker', { signal: AbortSignal.timeout(2000) })
  await app.ready()
  await workerStarted
  const deaf = app.tasks.trigger('deaf')
  const closing = Date.now()
  await app.close()
  const took = Date.now() - closing
  t.ok(loopEnded)
  t.ok(took >= 1090 && took < 4000, `closed after shutdownTimeout + grace (${took} ms)`)
  t.match(await deaf, { status: 'cancelled' })
  t.match(linesWith(lines, 'task run still running at the shutdown timeout', LEVEL.warn), [{ task: 'deaf' }])
  t.match(app.tasks.get('worker'), { state: 'stopped', lastRun: { status: 'cancelled' } })
})
