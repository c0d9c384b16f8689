import t from 'tap'
import { createContainer, asFunction } from 'awilix'
import { memoryBackend } from '../lib/backends/memory/backend'
import type { BackendAdapter } from '../lib/backends/backend'
import type { ScheduledTask } from '../lib/core/model'
import type { TaskContext } from '../lib/types'
import { LEVEL, linesWith } from './helpers/app'
import { closeTicking, deferred, fakeApp, guardUnhandled, T0 } from './helpers/tasks'

guardUnhandled(t)

const TASK_INFO_KEYS = ['failures', 'kind', 'lastRun', 'name', 'nextRunAt', 'running', 'runs', 'skips', 'state']
const RUN_RESULT_KEYS = ['durationMs', 'finishedAt', 'runId', 'startedAt', 'status']
const noop = (): void => {}

/** A handler that runs until its signal aborts, then resolves. */
const untilAborted = (ctx: TaskContext): Promise<void> => new Promise(resolve => ctx.signal.addEventListener('abort', () => resolve()))

t.test('TaskInfo and RunResult have exactly the documented shape', async t => {
  const { app, clock } = await fakeApp(t, {
    tasks: [
      { name: 'ok', every: 1000, handler: noop },
      { name: 'bad', cron: '* * * * *', handler: () => { throw new Error('bad') } },
      { name: 'worker', loop: true, handler: untilAborted }
    ]
  })
  t.same(app.tasks.list(), [
    { name: 'ok', kind: 'every', state: 'idle', nextRunAt: null, running: 0, runs: 0, failures: 0, skips: 0, lastRun: null },
    { name: 'bad', kind: 'cron', state: 'idle', nextRunAt: null, running: 0, runs: 0, failures: 0, skips: 0, lastRun: null },
    { name: 'worker', kind: 'loop', state: 'idle', nextRunAt: null, running: 0, runs: 0, failures: 0, skips: 0, lastRun: null }
  ], 'before ready: nothing planned')
  await app.ready()
  t.same(app.tasks.get('ok')?.nextRunAt, new Date(T0 + 1000))
  t.same(app.tasks.get('bad')?.nextRunAt, new Date(T0), 'ready fell exactly on a due time of the pattern')
  t.match(app.tasks.get('worker'), { state: 'idle', running: 0, nextRunAt: new Date(T0) })
  await clock.tickAsync(0)
  t.match(app.tasks.get('worker'), { state: 'running', running: 1, nextRunAt: null })
  await clock.tickAsync(60_000)
  const ok = app.tasks.get('ok')
  t.same(Object.keys(ok ?? {}).sort(), TASK_INFO_KEYS)
  t.same(Object.keys(ok?.lastRun ?? {}).sort(), RUN_RESULT_KEYS, 'no error key when there is no error')
  t.match(ok, { runs: 60, failures: 0, lastRun: { status: 'succeeded', startedAt: new Date(T0 + 60_000), finishedAt: new Date(T0 + 60_000), durationMs: 0 } })
  const bad = app.tasks.get('bad')?.lastRun
  t.same(Object.keys(bad ?? {}).sort(), [...RUN_RESULT_KEYS, 'error'].sort())
  t.equal(bad?.error, 'bad')
  t.equal(app.tasks.get('nope'), undefined)
  // TaskInfo is a snapshot: changing it changes nothing.
  const info = app.tasks.get('ok')
  if (info?.lastRun != null) info.lastRun.status = 'failed'
  t.equal(app.tasks.get('ok')?.lastRun?.status, 'succeeded')
})

t.test('trigger: runs now outside the schedule, counts in runs; skipped while a run is in progress', async t => {
  const gate = deferred()
  const scheduled: Date[] = []
  const { app, clock } = await fakeApp(t, {
    tasks: [
      { name: 'a', every: '1h', handler: async ctx => { scheduled.push(ctx.scheduledAt); await gate.promise } },
      { name: 'b', every: '1h', overlap: 'allow', handler: async ctx => { scheduled.push(ctx.scheduledAt); await gate.promise } }
    ]
  })
  await app.ready()
  await clock.tickAsync(1234)
  const first = app.tasks.trigger('a')
  const second = await app.tasks.trigger('a')
  t.same(Object.keys(second).sort(), RUN_RESULT_KEYS)
  t.match(second, { status: 'skipped', durationMs: 0, startedAt: new Date(T0 + 1234), finishedAt: new Date(T0 + 1234) })
  t.equal(app.tasks.get('a')?.skips, 0, 'skips counts due runs, not refused triggers')
  const b1 = app.tasks.trigger('b')
  const b2 = app.tasks.trigger('b')
  t.match(app.tasks.get('b'), { running: 2, state: 'running' })
  gate.resolve()
  const results = await Promise.all([first, b1, b2])
  t.same(results.map(result => result.status), ['succeeded', 'succeeded', 'succeeded'])
  t.equal(new Set(results.map(result => result.runId)).size, 3)
  t.same(scheduled, [new Date(T0 + 1234), new Date(T0 + 1234), new Date(T0 + 1234)], 'scheduledAt is when the run was asked for')
  t.match(app.tasks.get('a'), { runs: 1, state: 'idle', nextRunAt: new Date(T0 + 3_600_000) }, 'the schedule did not move')
  t.match(app.tasks.get('b'), { runs: 2 })
})

t.test('trigger before ready, for an unknown task, and after close: coded errors', async t => {
  const { app, clock } = await fakeApp(t, { tasks: [{ name: 'a', every: 1000, handler: noop }] })
  await t.rejects(app.tasks.trigger('a'), { code: 'FST_BACKGROUND_NOT_READY', message: 'Task a cannot run before the application is ready' })
  await app.ready()
  await t.rejects(app.tasks.trigger('nope'), { code: 'FST_BACKGROUND_UNKNOWN_TASK' })
  await closeTicking(app, clock)
  await t.rejects(app.tasks.trigger('a'), { code: 'FST_BACKGROUND_CLOSING' })
  t.throws(() => app.tasks.add({ name: 'late', every: 1000, handler: noop }), { code: 'FST_BACKGROUND_CLOSING' })
  t.match(app.tasks.list(), [{ name: 'a', state: 'stopped', nextRunAt: null }])
  t.equal(app.tasks.pause('a'), true)
  t.equal(app.tasks.resume('a'), true)
  t.equal(app.tasks.get('a')?.state, 'stopped', 'pause and resume change nothing once stopped')
})

t.test('add: before ready it waits for ready; after ready it starts at once, anchored at the moment it was added', async t => {
  const starts: Array<[string, number]> = []
  const handler = (ctx: TaskContext): void => { starts.push([ctx.name, Date.now() - T0]) }
  const { app, clock } = await fakeApp(t)
  const info = app.tasks.add({ name: 'early', every: 1000, handler })
  t.same(info, { name: 'early', kind: 'every', state: 'idle', nextRunAt: null, running: 0, runs: 0, failures: 0, skips: 0, lastRun: null })
  await clock.tickAsync(5000)
  t.same(starts, [])
  await app.ready()
  await clock.tickAsync(500)
  t.match(app.tasks.add({ name: 'late', every: 1000, handler }), { name: 'late', nextRunAt: new Date(T0 + 6500) })
  app.tasks.add({ name: 'now', every: 1000, immediate: true, handler })
  app.tasks.add({ name: 'off', every: 1000, enabled: false, handler })
  t.throws(() => app.tasks.add({ name: 'late', every: 1000, handler }), { code: 'FST_BACKGROUND_INVALID_OPTION', message: 'Invalid option task.name: duplicate task name "late"' })
  await clock.tickAsync(1000)
  t.same(starts, [['now', 5500], ['early', 6000], ['late', 6500], ['now', 6500]])
  t.same(app.tasks.list().map(task => task.name), ['early', 'late', 'now', 'off'])
  t.match(app.tasks.get('off'), { state: 'paused', runs: 0 })
})

t.test('add: a loop added to a ready app starts at once (after its delay)', async t => {
  const starts: number[] = []
  const { app, clock } = await fakeApp(t)
  await app.ready()
  app.tasks.add({ name: 'worker', loop: true, handler: ctx => { starts.push(Date.now() - T0); return untilAborted(ctx) } })
  app.tasks.add({ name: 'later', loop: true, delay: 500, handler: ctx => { starts.push(Date.now() - T0); return untilAborted(ctx) } })
  await clock.tickAsync(1000)
  t.same(starts, [0, 500])
  t.match(app.tasks.list(), [{ state: 'running' }, { state: 'running' }])
})

t.test('remove: stops the schedule, aborts the running run, waits for it; false for an unknown name', async t => {
  let signal: AbortSignal | undefined
  const { app, lines, clock } = await fakeApp(t, {
    tasks: [
      { name: 'a', every: 1000, handler: ctx => { signal = ctx.signal; return untilAborted(ctx) } },
      { name: 'idle', every: 1000, delay: 10_000, handler: noop }
    ]
  })
  await app.ready()
  await clock.tickAsync(1000)
  t.equal(app.tasks.get('a')?.state, 'running')
  let removed: boolean | undefined
  const removing = app.tasks.remove('a').then(value => { removed = value })
  t.equal(signal?.aborted, true)
  t.match(signal?.reason, { code: 'FST_BACKGROUND_CANCELLED', message: 'Cancelled: the task was removed' })
  t.equal(app.tasks.get('a'), undefined, 'gone from the registry at once')
  await removing
  t.equal(removed, true)
  t.match(linesWith(lines, 'task cancelled: Cancelled: the task was removed', LEVEL.info), [{ task: 'a' }])
  t.equal(await app.tasks.remove('idle'), true)
  t.equal(await app.tasks.remove('idle'), false)
  t.equal(await app.tasks.remove('nope'), false)
  await clock.tickAsync(20_000)
  t.same(app.tasks.list(), [])
  t.equal(app.tasks.pause('a'), false)
  t.equal(app.tasks.resume('a'), false)
})

t.test('remove waits for a handler that ignores its signal for its 1 s grace, no longer', async t => {
  const { app, lines, clock } = await fakeApp(t, { tasks: [{ name: 'deaf', every: 1000, handler: () => new Promise(noop) }] })
  await app.ready()
  await clock.tickAsync(1000)
  let done = false
  const removing = app.tasks.remove('deaf').then(() => { done = true })
  await clock.tickAsync(999)
  t.equal(done, false)
  await clock.tickAsync(1)
  await removing
  t.match(linesWith(lines, 'task abandoned', LEVEL.warn), [{ task: 'deaf', graceMs: 1000 }])
})

t.test('a removed run that rejects when aborted is cancelled, not failed', async t => {
  const results: string[] = []
  const { app, clock } = await fakeApp(t, {
    tasks: [{
      name: 'a',
      every: '1h',
      handler: ctx => new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)))
    }]
  })
  await app.ready()
  const run = app.tasks.trigger('a').then(result => { results.push(result.status) })
  await clock.tickAsync(10)
  await app.tasks.remove('a')
  await run
  t.same(results, ['cancelled'])
})

t.test('remove during the backoff between attempts cancels the run at once', async t => {
  let attempts = 0
  const { app, clock } = await fakeApp(t, {
    tasks: [{ name: 'a', every: '1h', retries: 3, backoff: 60_000, handler: () => { attempts++; throw new Error('x') } }]
  })
  await app.ready()
  const run = app.tasks.trigger('a')
  await clock.tickAsync(10)
  await app.tasks.remove('a')
  t.match(await run, { status: 'cancelled', error: 'Cancelled: the task was removed', durationMs: 10 })
  t.equal(attempts, 1)
})

t.test('pause and resume: the schedule goes on from the moment of resume, no stale run', async t => {
  const starts: Array<{ at: number, scheduledAt: number }> = []
  const { app, clock } = await fakeApp(t, {
    tasks: [{ name: 'a', every: 1000, immediate: true, handler: ctx => { starts.push({ at: Date.now() - T0, scheduledAt: ctx.scheduledAt.getTime() - T0 }) } }]
  })
  await app.ready()
  await clock.tickAsync(1500)
  t.equal(app.tasks.pause('a'), true)
  t.equal(app.tasks.pause('a'), true, 'pausing twice is harmless')
  t.match(app.tasks.get('a'), { state: 'paused', nextRunAt: null })
  await clock.tickAsync(4000)
  t.same(starts.map(s => s.at), [0, 1000])
  t.match(await app.tasks.trigger('a'), { status: 'succeeded' }, 'a paused task can still be triggered')
  t.equal(app.tasks.resume('a'), true)
  t.equal(app.tasks.resume('a'), true, 'resuming twice is harmless')
  t.match(app.tasks.get('a'), { state: 'idle', nextRunAt: new Date(T0 + 6000) })
  await clock.tickAsync(1000)
  t.same(starts, [{ at: 0, scheduledAt: 0 }, { at: 1000, scheduledAt: 1000 }, { at: 5500, scheduledAt: 5500 }, { at: 6000, scheduledAt: 6000 }])
})

t.test('enabled: false registers the task paused; resume starts it (before ready: at ready)', async t => {
  const starts: Array<[string, number]> = []
  const handler = (ctx: TaskContext): void => { starts.push([ctx.name, Date.now() - T0]) }
  const { app, clock } = await fakeApp(t, {
    tasks: [
      { name: 'off', every: 1000, enabled: false, immediate: true, handler },
      { name: 'early', cron: '*/2 * * * * *', enabled: false, handler }
    ]
  })
  app.tasks.resume('early')
  await app.ready()
  t.match(app.tasks.get('off'), { state: 'paused', nextRunAt: null })
  t.match(app.tasks.get('early'), { state: 'idle', nextRunAt: new Date(T0) })
  await clock.tickAsync(3500)
  t.same(starts, [['early', 0], ['early', 2000]])
  app.tasks.resume('off')
  t.same(app.tasks.get('off')?.nextRunAt, new Date(T0 + 4000), 'neither the immediate run nor the missed ones run late')
  await clock.tickAsync(500)
  t.same(starts, [['early', 0], ['early', 2000], ['early', 4000], ['off', 4000]])
})

t.test('pause before ready: at ready the task stays paused; resume starts it', async t => {
  const starts: string[] = []
  const { app, clock } = await fakeApp(t, {
    tasks: [
      { name: 'a', every: 1000, handler: ctx => { starts.push(ctx.name) } },
      { name: 'worker', loop: true, handler: ctx => { starts.push(ctx.name); return untilAborted(ctx) } }
    ]
  })
  t.equal(app.tasks.pause('a'), true)
  t.equal(app.tasks.pause('worker'), true)
  t.match(app.tasks.list(), [{ state: 'paused' }, { state: 'paused' }])
  await app.ready()
  await clock.tickAsync(5000)
  t.same(starts, [])
  t.match(app.tasks.list(), [{ state: 'paused', nextRunAt: null }, { state: 'paused', nextRunAt: null }])
  app.tasks.resume('a')
  app.tasks.resume('worker')
  await clock.tickAsync(0)
  t.same(starts, ['a', 'worker'])
})

t.test('states: idle, running, paused, stopped', async t => {
  const gate = deferred()
  const { app, clock } = await fakeApp(t, { tasks: [{ name: 'a', every: 1000, handler: () => gate.promise }] })
  await app.ready()
  t.equal(app.tasks.get('a')?.state, 'idle')
  await clock.tickAsync(1000)
  t.equal(app.tasks.get('a')?.state, 'running')
  app.tasks.pause('a')
  t.equal(app.tasks.get('a')?.state, 'paused', 'paused wins over running: the run goes on, nothing new starts')
  t.equal(app.tasks.get('a')?.running, 1)
  gate.resolve()
  await clock.tickAsync(0)
  app.tasks.resume('a')
  t.equal(app.tasks.get('a')?.state, 'idle')
  await closeTicking(app, clock)
  t.equal(app.tasks.get('a')?.state, 'stopped')
})

t.test('a paused every task can be triggered: running while that run lasts, then paused again; its schedule stays paused', async t => {
  const gate = deferred()
  const starts: number[] = []
  const { app, clock } = await fakeApp(t, {
    tasks: [{ name: 'a', every: 1000, handler: async () => { starts.push(Date.now() - T0); await gate.promise } }]
  })
  await app.ready()
  app.tasks.pause('a')
  const run = app.tasks.trigger('a')
  t.match(app.tasks.get('a'), { state: 'running', running: 1, nextRunAt: null })
  t.match(await app.tasks.trigger('a'), { status: 'skipped' }, "overlap 'skip': a second trigger while the first one runs")
  await clock.tickAsync(5000)
  t.same(starts, [0], 'no due time fired while the triggered run lasted')
  gate.resolve()
  t.match(await run, { status: 'succeeded', durationMs: 5000 })
  t.match(app.tasks.get('a'), { state: 'paused', running: 0, runs: 1, skips: 0, nextRunAt: null })
  await clock.tickAsync(5000)
  t.same(starts, [0], 'the trigger did not resume the schedule')
})

t.test('a paused loop cannot be triggered: FST_BACKGROUND_TASK_PAUSED, nothing starts, resume does', async t => {
  const starts: string[] = []
  const handler = (ctx: TaskContext): Promise<void> => { starts.push(ctx.name); return untilAborted(ctx) }
  const { app, clock } = await fakeApp(t, {
    tasks: [{ name: 'worker', loop: true, handler }, { name: 'off', loop: true, enabled: false, handler }]
  })
  await t.rejects(app.tasks.trigger('off'), { code: 'FST_BACKGROUND_NOT_READY' }, 'before ready, not ready comes first')
  await app.ready()
  await clock.tickAsync(0)
  app.tasks.pause('worker')
  await clock.tickAsync(0)
  for (const name of ['worker', 'off']) {
    await t.rejects(app.tasks.trigger(name), {
      code: 'FST_BACKGROUND_TASK_PAUSED',
      statusCode: 409,
      message: `Task ${name} is a paused loop, which cannot be triggered: resume it instead`
    })
  }
  await clock.tickAsync(10_000)
  t.same(starts, ['worker'])
  t.match(app.tasks.list(), [{ state: 'paused', running: 0, runs: 1 }, { state: 'paused', running: 0, runs: 0 }])
  app.tasks.resume('worker')
  await clock.tickAsync(0)
  t.same(starts, ['worker', 'worker'])
  t.match(app.tasks.get('worker'), { state: 'running', running: 1 })
  await closeTicking(app, clock)
  await t.rejects(app.tasks.trigger('worker'), { code: 'FST_BACKGROUND_CLOSING' }, 'a stopped loop: closing')
  await t.rejects(app.tasks.trigger('off'), { code: 'FST_BACKGROUND_CLOSING' }, 'a stopped paused loop: closing')
  t.equal(await app.tasks.remove('off'), true, 'removing a stopped task is harmless')
})

t.test('a backend that fires a paused or stopped task gets a skipped result, not a run', async t => {
  let fired: ScheduledTask | undefined
  const base = memoryBackend()
  const backend: BackendAdapter = { ...base, schedule: task => { fired = task; base.schedule(task) } }
  let runs = 0
  const { app, clock } = await fakeApp(t, { backend, tasks: [{ name: 'a', every: 1000, handler: () => { runs++ } }] })
  await app.ready()
  app.tasks.pause('a')
  t.match(await fired?.fire(Date.now()), { status: 'skipped' })
  app.tasks.resume('a')
  await closeTicking(app, clock)
  t.match(await fired?.fire(Date.now()), { status: 'skipped' })
  t.equal(runs, 0)
  t.match(app.tasks.get('a'), { runs: 0, skips: 0 })
})

t.test('loop: starts once at ready (+ delay), runs until its signal aborts; close aborts it at once', async t => {
  let started = 0
  let endedAt = -1
  const { app, lines, clock } = await fakeApp(t, {
    shutdownTimeout: 60_000,
    tasks: [{
      name: 'worker',
      loop: true,
      delay: 2000,
      handler: async ctx => {
        started++
        while (!ctx.signal.aborted) await ctx.sleep(100)
        endedAt = Date.now() - T0
      }
    }]
  })
  await clock.tickAsync(1000)
  t.equal(started, 0, 'nothing before ready')
  await app.ready()
  t.match(app.tasks.get('worker'), { state: 'idle', nextRunAt: new Date(T0 + 3000) })
  await clock.tickAsync(2000)
  t.equal(started, 1)
  t.match(app.tasks.get('worker'), { state: 'running', running: 1, nextRunAt: null })
  await clock.tickAsync(600_000)
  t.equal(started, 1, 'never restarted while it runs')
  const closedIn = await closeTicking(app, clock, 10)
  t.ok(closedIn <= 100, `close did not wait for shutdownTimeout (${closedIn} ms)`)
  t.equal(endedAt, 603_000)
  t.match(app.tasks.get('worker'), { state: 'stopped', runs: 1, failures: 0, lastRun: { status: 'cancelled', error: 'Cancelled: the application is closing' } })
  t.same(linesWith(lines, 'restarting'), [], 'a loop ended by close is not restarted')
})

t.test('loop: restarted after a throw or a return, with 1 s doubling to 60 s backoff, reset after a healthy minute', async t => {
  const starts: number[] = []
  let healthyFrom = Infinity
  const { app, lines, clock } = await fakeApp(t, {
    tasks: [{
      name: 'crashy',
      loop: true,
      handler: async ctx => {
        starts.push(Date.now() - T0)
        if (starts.length === 9) {
          healthyFrom = Date.now()
          await ctx.sleep(60_000)
          return
        }
        if (starts.length % 2 === 0) return
        throw new Error(`crash ${starts.length}`)
      }
    }]
  })
  await app.ready()
  await clock.tickAsync(1)
  t.match(app.tasks.get('crashy'), { state: 'idle', running: 0, runs: 1, failures: 1, nextRunAt: new Date(T0 + 1000) })
  await clock.tickAsync(400_000)
  const gaps = starts.slice(1).map((at, i) => at - starts[i])
  // Runs 1-8 end at once: 1, 2, 4, 8, 16, 32, 60, 60 s; run 9 lasts a minute, so the next wait is 1 s again.
  // Runs 1-8 end at once: waits of 1, 2, 4, 8, 16, 32, 60, 60 s. Run 9 lasts a healthy minute, so the
  // wait after it is 1 s again (61 s between starts), then 2 s, 4 s.
  t.same(gaps.slice(0, 11), [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 61_000, 2000, 4000])
  t.equal(healthyFrom - T0, 183_000)
  const warnings = linesWith(lines, 'before close; restarting it', LEVEL.warn)
  t.match(warnings.slice(0, 3), [
    { task: 'crashy', restartInMs: 1000, msg: 'loop task ended failed before close; restarting it' },
    { task: 'crashy', restartInMs: 2000, msg: 'loop task returned before close; restarting it' },
    { task: 'crashy', restartInMs: 4000 }
  ])
  t.match(warnings[8], { restartInMs: 1000, msg: 'loop task returned before close; restarting it' })
  t.match(linesWith(lines, 'task failed', LEVEL.error)[0], { task: 'crashy', err: { message: 'crash 1' } })
})

t.test('loop: pause aborts its run and it stays down; resume starts it at once; trigger while it waits replaces the restart', async t => {
  let starts = 0
  const signals: AbortSignal[] = []
  const { app, clock } = await fakeApp(t, {
    tasks: [{
      name: 'worker',
      loop: true,
      handler: async ctx => {
        starts++
        signals.push(ctx.signal)
        if (starts === 2) throw new Error('crash')
        await untilAborted(ctx)
      }
    }]
  })
  await app.ready()
  await clock.tickAsync(0)
  t.equal(starts, 1)
  app.tasks.pause('worker')
  t.equal(signals[0].aborted, true)
  t.match(signals[0].reason, { message: 'Cancelled: paused' })
  await clock.tickAsync(100_000)
  t.equal(starts, 1)
  t.match(app.tasks.get('worker'), { state: 'paused', nextRunAt: null, lastRun: { status: 'cancelled' } })
  app.tasks.resume('worker')
  await clock.tickAsync(0)
  t.equal(starts, 2, 'resumed: started at once, and crashed')
  t.match(app.tasks.get('worker'), { state: 'idle', nextRunAt: new Date(Date.now() + 1000) })
  const triggered = app.tasks.trigger('worker')
  t.equal(starts, 3)
  t.match(app.tasks.get('worker'), { state: 'running', running: 1, nextRunAt: null })
  await clock.tickAsync(5000)
  t.equal(starts, 3, 'the pending restart did not start a second instance')
  t.match(await app.tasks.trigger('worker'), { status: 'skipped' })
  await app.tasks.remove('worker')
  t.match(await triggered, { status: 'cancelled' })
})

t.test('close waits for running runs up to shutdownTimeout; nothing new starts meanwhile', async t => {
  let starts = 0
  const { app, clock } = await fakeApp(t, {
    shutdownTimeout: 10_000,
    tasks: [{ name: 'a', every: 1000, handler: () => { starts++; return new Promise(resolve => setTimeout(resolve, 3000)) } }]
  })
  await app.ready()
  await clock.tickAsync(1000)
  t.equal(starts, 1)
  const closedIn = await closeTicking(app, clock, 50)
  t.equal(closedIn, 3000, 'close resolved when the run ended')
  t.equal(starts, 1)
  t.match(app.tasks.get('a'), { state: 'stopped', runs: 1, lastRun: { status: 'succeeded', durationMs: 3000 } })
})

t.test('at shutdownTimeout close aborts the runs, logs each abandoned run at warn with its runId, and resolves', async t => {
  const { app, lines, clock } = await fakeApp(t, {
    shutdownTimeout: 2000,
    tasks: [
      { name: 'polite', every: '1h', handler: untilAborted },
      { name: 'deaf', every: '1h', handler: () => new Promise(noop) },
      { name: 'late', every: '1h', handler: () => new Promise(resolve => setTimeout(resolve, 5000)) }
    ]
  })
  await app.ready()
  const results = await Promise.all(['polite', 'deaf', 'late'].map(name => {
    const run = app.tasks.trigger(name)
    return { name, run }
  }))
  const closedIn = await closeTicking(app, clock, 10)
  t.equal(closedIn, 3000, 'shutdownTimeout, then the 1 s grace; never hangs')
  const aborted = linesWith(lines, 'task run still running at the shutdown timeout: aborting it', LEVEL.warn)
  t.same(aborted.map(line => line.task).sort(), ['deaf', 'late', 'polite'])
  for (const { name, run } of results) {
    const result = await run
    t.match(result, { status: 'cancelled', error: 'Cancelled: shutdown timeout reached' }, name)
    t.equal(aborted.find(line => line.task === name)?.runId, result.runId, `${name}: logged with its runId`)
  }
  t.match(linesWith(lines, 'task abandoned', LEVEL.warn).map(line => line.task).sort(), ['deaf', 'late'])
  await clock.tickAsync(5000)
  t.equal(app.tasks.get('late')?.lastRun?.status, 'cancelled', 'resolving after the grace changes nothing')
})

t.test('close during the grace of a timed-out run keeps its timeout status', async t => {
  const { app, clock } = await fakeApp(t, {
    shutdownTimeout: 0,
    tasks: [{ name: 'a', every: '1h', timeout: 100, handler: () => new Promise(noop) }]
  })
  await app.ready()
  const run = app.tasks.trigger('a')
  await clock.tickAsync(500)
  const closedIn = await closeTicking(app, clock, 10)
  t.equal(closedIn, 600, 'the grace that began at the timeout')
  t.match(await run, { status: 'timeout', durationMs: 1100 })
})

t.test('close while a failed attempt disposes its scope does not wait for the retry backoff', async t => {
  const container = createContainer()
  container.register('slowToClose', asFunction(() => ({})).scoped().disposer(() => new Promise(resolve => setTimeout(resolve, 1000))))
  let attempts = 0
  const { app, clock } = await fakeApp(t, {
    container,
    shutdownTimeout: 100,
    tasks: [{ name: 'a', every: '1h', retries: 1, backoff: 3_600_000, handler: ctx => { attempts++; t.ok(ctx.cradle.slowToClose); throw new Error('x') } }]
  })
  await app.ready()
  const run = app.tasks.trigger('a')
  const closedIn = await closeTicking(app, clock, 10)
  t.equal(closedIn, 1000, 'closed when the disposer finished')
  t.match(await run, { status: 'cancelled' })
  t.equal(attempts, 1)
})

t.test('loop: resumed while its paused run is still in its grace, it never runs twice at once', async t => {
  let starts = 0
  let maxRunning = 0
  const { app, clock } = await fakeApp(t, {
    tasks: [{
      name: 'worker',
      loop: true,
      // The first run ignores its signal; later ones honour it.
      handler: ctx => ++starts === 1 ? new Promise(resolve => setTimeout(resolve, 500)) : untilAborted(ctx)
    }]
  })
  const sample = (): void => { maxRunning = Math.max(maxRunning, app.tasks.get('worker')?.running ?? 0) }
  await app.ready()
  await clock.tickAsync(0)
  app.tasks.pause('worker')
  app.tasks.resume('worker')
  for (let i = 0; i < 100; i++) {
    await clock.tickAsync(100)
    sample()
  }
  t.equal(maxRunning, 1)
  t.equal(starts, 2, 'the loop came back once the paused run ended')
  t.match(app.tasks.get('worker'), { state: 'running', running: 1 })
})

t.test('close never hangs on a scope disposer that does not settle', async t => {
  const container = createContainer()
  container.register('stuck', asFunction(() => ({})).scoped().disposer(() => new Promise(noop)))
  const { app, lines, clock } = await fakeApp(t, {
    container,
    shutdownTimeout: 100,
    tasks: [{ name: 'a', every: '1h', handler: ctx => { t.ok(ctx.cradle.stuck) } }]
  })
  await app.ready()
  const run = app.tasks.trigger('a')
  const closedIn = await closeTicking(app, clock, 10)
  t.equal(closedIn, 2100, 'shutdownTimeout, then the grace and as long again for disposers')
  const [line] = linesWith(lines, 'did not finish disposing', LEVEL.warn)
  t.match(line, { task: 'a' })
  t.type(line?.runId, 'string')
  t.equal(app.tasks.get('a')?.running, 1, 'the run never ended; close gave up on it')
  t.ok(run)
})
