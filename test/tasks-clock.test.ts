import t from 'tap'
import type { TaskSpec } from '../lib/core/model'
import { readTask } from '../lib/core/options'
import { LocalClock, type ClockTask } from '../lib/tasks/local-clock'
import { Task } from '../lib/tasks/task'
import { TimedDriver } from '../lib/tasks/timed-driver'
import { IGNORED_EVENTS } from '../lib/core/work-events'
import { createTracers } from '../lib/core/tracing'
import { fakeApp, guardUnhandled, installClock, T0 } from './helpers/tasks'

// The in-process clock: one timer for every timed task, tasks due together in one slot.

guardUnhandled(t)

interface Fired { name: string, at: number }

/** A task as the clock sees it, recording each due time it is fired for. */
function clockTask (name: string, fired: Fired[], every = 1000): ClockTask {
  return {
    spec: { name, every, immediate: false, jitter: 0 } as unknown as TaskSpec,
    anchor: T0,
    since: T0,
    planned: () => {},
    fireAndForget: (at, now) => {
      fired.push({ name, at: at - T0 })
      return now
    },
    clockEntry: undefined
  }
}

t.test('tasks due at the same moment fire once each, in the order they were scheduled, on one timer', async t => {
  const clock = installClock()
  t.teardown(() => clock.uninstall())
  const fired: Fired[] = []
  const local = new LocalClock()
  const tasks = Array.from({ length: 40 }, (_, i) => clockTask(`t${i}`, fired))
  for (const task of tasks) local.schedule(task)
  local.schedule(clockTask('slow', fired, 3000))
  t.equal(clock.countTimers(), 1, 'one timer for 41 tasks')
  // Taking most of them out of the slot they wait in compacts it; the others keep their order.
  for (const task of tasks.slice(0, 35)) local.unschedule(task)
  local.unschedule(tasks[0])
  local.schedule(tasks[2])
  clock.tick(1000)
  t.same(fired.map(f => f.name), ['t35', 't36', 't37', 't38', 't39', 't2'])
  t.ok(fired.every(f => f.at === 1000))
  fired.length = 0
  clock.tick(2000)
  t.same(fired, [
    ...['t35', 't36', 't37', 't38', 't39', 't2'].map(name => ({ name, at: 2000 })),
    { name: 'slow', at: 3000 },
    ...['t35', 't36', 't37', 't38', 't39', 't2'].map(name => ({ name, at: 3000 }))
  ], 'in the order placed in the slot (slow first, since ready); the reused slot array holds nothing of the slot before')
  for (const task of tasks) local.unschedule(task)
  t.equal(clock.countTimers(), 1, 'the slow task still waits')
  local.unschedule(tasks[0])
  fired.length = 0
  clock.tick(3000)
  t.same(fired, [{ name: 'slow', at: 6000 }])
})

t.test('a task fired that unschedules most of the others of its slot: they do not fire, the rest do, in order', async t => {
  const clock = installClock()
  t.teardown(() => clock.uninstall())
  const fired: Fired[] = []
  const local = new LocalClock()
  const tasks = Array.from({ length: 40 }, (_, i) => clockTask(`t${i}`, fired))
  tasks[0].fireAndForget = (at, now) => {
    fired.push({ name: 't0', at: at - T0 })
    if (at - T0 === 1000) for (const task of tasks.slice(5)) local.unschedule(task)
    return now
  }
  for (const task of tasks) local.schedule(task)
  clock.tick(1000)
  t.same(fired.map(f => f.name), ['t0', 't1', 't2', 't3', 't4'])
  fired.length = 0
  clock.tick(1000)
  t.same(fired.map(f => f.name), ['t0', 't1', 't2', 't3', 't4'], 'the next second too')
  for (const task of tasks) local.unschedule(task)
})

t.test('a slot emptied while another waits: the timer moves to the one left', async t => {
  const clock = installClock()
  t.teardown(() => clock.uninstall())
  const fired: Fired[] = []
  const local = new LocalClock()
  const soon = clockTask('soon', fired, 1000)
  const later = clockTask('later', fired, 5000)
  local.schedule(later)
  local.schedule(soon)
  local.unschedule(soon)
  t.equal(clock.countTimers(), 1)
  clock.tick(4999)
  t.same(fired, [])
  clock.tick(1)
  t.same(fired, [{ name: 'later', at: 5000 }])
  local.unschedule(later)
  t.equal(clock.countTimers(), 0, 'no timer once no task is left')
})

t.test("overlap 'allow': runs in progress end in any order, each leaving the list of them", async t => {
  const { app, clock } = await fakeApp(t, {
    tasks: [{ name: 'a', every: 1000, overlap: 'allow', handler: async ctx => { await ctx.sleep(ctx.scheduledAt.getTime() - T0 === 2000 ? 200 : 1500) } }]
  })
  await app.ready()
  await clock.tickAsync(2100)
  t.match(app.tasks.get('a'), { state: 'running', running: 2, runs: 0 })
  await clock.tickAsync(200)
  t.match(app.tasks.get('a'), { state: 'running', running: 1, runs: 1 }, 'the newer run ended first')
  await clock.tickAsync(300)
  t.match(app.tasks.get('a'), { state: 'idle', running: 0, runs: 2 })
  await clock.tickAsync(1500)
  t.match(app.tasks.get('a'), { running: 2, runs: 2 })
  await clock.tickAsync(500)
  t.match(app.tasks.get('a'), { state: 'running', running: 1, runs: 3 }, 'the older run ended first')
})

t.test('fire() of a task that is not driven resolves skipped and runs nothing', async t => {
  let runs = 0
  const spec = readTask({ name: 'x', every: 1000, handler: () => { runs++ } }, 'task')
  const runner = { app: undefined as never, container: undefined as never, tracers: createTracers(), events: IGNORED_EVENTS }
  const backend = { schedule: () => {}, unschedule: () => {} }
  const task = new Task(spec, { runner, backend, log: undefined as never }, new TimedDriver(backend))
  t.match(await task.fire(Date.now()), { status: 'skipped' })
  t.equal(runs, 0)
})
