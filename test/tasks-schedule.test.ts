import t from 'tap'
import fc from 'fast-check'
import { LoopBackoff } from '../lib/tasks/loop-backoff'
import type { TaskSpec } from '../lib/core/model'
import { nextDue } from '../lib/tasks/schedule'
import type { TaskContext } from '../lib/types'
import { fakeApp, guardUnhandled, T0 } from './helpers/tasks'

guardUnhandled(t)

interface Start { at: number, scheduledAt: number }

/** A handler that records when it started (ms after T0) and its nominal due time, then takes `ms`. */
function recorder (starts: Start[], ms = 0): (ctx: TaskContext) => Promise<void> {
  return async ctx => {
    starts.push({ at: Date.now() - T0, scheduledAt: ctx.scheduledAt.getTime() - T0 })
    if (ms > 0) await ctx.sleep(ms)
  }
}

const ats = (starts: Start[]): number[] => starts.map(start => start.at)

t.test('nothing runs before ready; every is anchored at ready: run k at ready + k * every', async t => {
  const starts: Start[] = []
  const { app, clock } = await fakeApp(t, { tasks: [{ name: 'a', every: '1s', immediate: true, handler: recorder(starts) }] })
  await clock.tickAsync(5000)
  t.same(starts, [], 'registered but not ready: nothing ran')
  t.equal(app.tasks.get('a')?.nextRunAt, null)
  await app.ready()
  const ready = Date.now() - T0
  t.equal(ready, 5000)
  await clock.tickAsync(3000)
  t.same(ats(starts), [5000, 6000, 7000, 8000])
  t.same(starts.map(s => s.scheduledAt), [5000, 6000, 7000, 8000], 'scheduledAt is the due time; the immediate run is at ready')
  t.same(app.tasks.get('a')?.nextRunAt, new Date(T0 + 9000))
})

t.test('slow runs do not shift the schedule', async t => {
  const starts: Start[] = []
  const { app, clock } = await fakeApp(t, { tasks: [{ name: 'a', every: 1000, handler: recorder(starts, 999) }] })
  await app.ready()
  await clock.tickAsync(10_000)
  t.same(ats(starts), [1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10_000])
  t.equal(app.tasks.get('a')?.skips, 0)
})

t.test('late timers do not accumulate drift; due times missed while blocked are merged into one run', async t => {
  const starts: Start[] = []
  const { app, clock } = await fakeApp(t, {
    tasks: [{
      name: 'a',
      every: 1000,
      handler: async ctx => {
        starts.push({ at: Date.now() - T0, scheduledAt: ctx.scheduledAt.getTime() - T0 })
        // The event loop is blocked: the wall clock jumps and every pending timer fires that much late.
        if (starts.length === 1) clock.setSystemTime(Date.now() + 350)
        if (starts.length === 3) clock.setSystemTime(Date.now() + 2500)
      }
    }]
  })
  await app.ready()
  await clock.tickAsync(8000)
  t.same(starts, [
    { at: 1000, scheduledAt: 1000 },
    { at: 2350, scheduledAt: 2000 },
    { at: 3000, scheduledAt: 3000 },
    { at: 6500, scheduledAt: 4000 },
    { at: 7000, scheduledAt: 7000 },
    { at: 8000, scheduledAt: 8000 },
    { at: 9000, scheduledAt: 9000 },
    { at: 10_000, scheduledAt: 10_000 },
    { at: 11_000, scheduledAt: 11_000 }
  ].filter(start => start.at <= Date.now() - T0))
  t.equal(app.tasks.get('a')?.skips, 0, 'merged due times are not overlap skips')
})

t.test('a timer that wakes early by the wall clock (clock stepped back) never runs early', async t => {
  const starts: Start[] = []
  const { app, clock } = await fakeApp(t, { tasks: [{ name: 'a', every: 1000, handler: recorder(starts) }] })
  await app.ready()
  await clock.tickAsync(500)
  clock.setSystemTime(T0 + 200)
  await clock.tickAsync(700)
  t.same(starts, [], 'the timer fired at wall time 900, before the due time')
  await clock.tickAsync(100)
  t.same(starts, [{ at: 1000, scheduledAt: 1000 }])
})

t.test('delay: the first run is at ready + delay + every; with immediate at ready + delay', async t => {
  const starts: Start[] = []
  const immediate: Start[] = []
  const { app, clock } = await fakeApp(t, {
    tasks: [
      { name: 'a', every: 1000, delay: 5000, handler: recorder(starts) },
      { name: 'b', every: 1000, delay: 5000, immediate: true, handler: recorder(immediate) }
    ]
  })
  await app.ready()
  t.same(app.tasks.get('a')?.nextRunAt, new Date(T0 + 6000))
  t.same(app.tasks.get('b')?.nextRunAt, new Date(T0 + 5000))
  await clock.tickAsync(4999)
  t.same(starts.concat(immediate), [])
  await clock.tickAsync(2001)
  t.same(ats(starts), [6000, 7000])
  t.same(ats(immediate), [5000, 6000, 7000])
})

t.test('jitter: each run is delayed by 0..jitter ms; scheduledAt stays the nominal due time', async t => {
  const starts: Start[] = []
  const { app, clock } = await fakeApp(t, { tasks: [{ name: 'a', every: 1000, jitter: 100, handler: recorder(starts) }] })
  const randoms = [0, 0.999999, 0.5]
  const random = Math.random
  Math.random = () => randoms.shift() ?? 0.25
  t.teardown(() => { Math.random = random })
  await app.ready()
  t.same(app.tasks.get('a')?.nextRunAt, new Date(T0 + 1000), 'nextRunAt is the due time')
  await clock.tickAsync(4100)
  t.same(starts, [
    { at: 1000, scheduledAt: 1000 },
    { at: 2100, scheduledAt: 2000 },
    { at: 3050, scheduledAt: 3000 },
    { at: 4025, scheduledAt: 4000 }
  ])
})

t.test('jitter stays within its bounds over many runs', async t => {
  const starts: Start[] = []
  const { app, clock } = await fakeApp(t, { tasks: [{ name: 'a', every: 100, jitter: 40, handler: recorder(starts) }] })
  await app.ready()
  await clock.tickAsync(100 * 300)
  t.ok(starts.length >= 299)
  const offsets = starts.map(start => start.at - start.scheduledAt)
  t.ok(offsets.every(offset => offset >= 0 && offset <= 40), 'within [0, jitter]')
  t.ok(new Set(offsets).size > 10, 'and spread out')
  t.same(starts.map(start => start.scheduledAt), starts.map((_, i) => (i + 1) * 100), 'one run per due time, none lost')
})

t.test("overlap 'skip': one run at a time, skipped due runs are counted", async t => {
  const starts: Start[] = []
  const { app, clock } = await fakeApp(t, { tasks: [{ name: 'a', every: 1000, handler: recorder(starts, 2500) }] })
  await app.ready()
  await clock.tickAsync(1000)
  t.match(app.tasks.get('a'), { state: 'running', running: 1, runs: 0, skips: 0 })
  await clock.tickAsync(3000)
  t.same(ats(starts), [1000, 4000])
  t.match(app.tasks.get('a'), { state: 'running', running: 1, runs: 1, skips: 2 })
  t.match(app.tasks.get('a')?.lastRun, { status: 'succeeded', durationMs: 2500 })
})

t.test("overlap 'allow': due runs start while others run", async t => {
  const starts: Start[] = []
  const { app, clock } = await fakeApp(t, { tasks: [{ name: 'a', every: 1000, overlap: 'allow', handler: recorder(starts, 2500) }] })
  await app.ready()
  await clock.tickAsync(3000)
  t.same(ats(starts), [1000, 2000, 3000])
  t.match(app.tasks.get('a'), { state: 'running', running: 3, runs: 0, skips: 0 })
  await clock.tickAsync(500)
  t.match(app.tasks.get('a'), { running: 2, runs: 1 })
})

t.test('cron in a time zone fires at 09:00 local time across the DST change', async t => {
  const starts: Start[] = []
  const now = Date.UTC(2026, 2, 27, 12) // Friday 27 March 2026; Rome moves to CEST on Sunday 29 March
  const { app, clock } = await fakeApp(t, {
    tasks: [{ name: 'rome', cron: '0 9 * * *', timezone: 'Europe/Rome', handler: ctx => { starts.push({ at: Date.now(), scheduledAt: ctx.scheduledAt.getTime() }) } }]
  }, now)
  await app.ready()
  t.same(app.tasks.get('rome')?.nextRunAt, new Date('2026-03-28T08:00:00Z'))
  await clock.tickAsync(3 * 86_400_000)
  t.same(starts.map(start => new Date(start.at).toISOString()), [
    '2026-03-28T08:00:00.000Z', // 09:00 CET (UTC+1)
    '2026-03-29T07:00:00.000Z', // 09:00 CEST (UTC+2)
    '2026-03-30T07:00:00.000Z'
  ])
  t.same(starts.map(start => start.scheduledAt), starts.map(start => start.at))
  t.same(app.tasks.get('rome')?.nextRunAt, new Date('2026-03-31T07:00:00Z'))
})

t.test('cron at an hour the spring DST change skips: it fires at the first moment after it', async t => {
  const fired: string[] = []
  const { app, clock } = await fakeApp(t, {
    tasks: [{ name: 'a', cron: '30 2 * * *', timezone: 'Europe/Rome', handler: () => { fired.push(new Date().toISOString()) } }]
  }, Date.UTC(2026, 2, 28, 12))
  await app.ready()
  await clock.tickAsync(2 * 86_400_000)
  t.same(fired, ['2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z'], '02:30 does not exist on 29 March: 03:00 CEST')
})

t.test('cron at an hour the autumn DST change repeats: it fires once', async t => {
  const fired: string[] = []
  const { app, clock } = await fakeApp(t, {
    tasks: [{ name: 'a', cron: '30 2 * * *', timezone: 'Europe/Rome', handler: () => { fired.push(new Date().toISOString()) } }]
  }, Date.UTC(2026, 9, 24, 12))
  await app.ready()
  await clock.tickAsync(2 * 86_400_000)
  t.same(fired, ['2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z'], '02:30 happens twice on 25 October')
})

t.test('cron with 6 fields, delay (no fire before ready + delay) and immediate', async t => {
  const starts: Start[] = []
  const immediate: Start[] = []
  const { app, clock } = await fakeApp(t, {
    tasks: [
      { name: 'a', cron: '*/10 * * * * *', delay: 25_000, handler: recorder(starts) },
      { name: 'b', cron: '*/10 * * * * *', delay: 25_000, immediate: true, handler: recorder(immediate) }
    ]
  })
  await app.ready()
  await clock.tickAsync(50_000)
  t.same(ats(starts), [30_000, 40_000, 50_000])
  t.same(immediate, [{ at: 25_000, scheduledAt: 25_000 }, ...starts], 'immediate: once at ready + delay, then the pattern')
})

t.test('a cron with no due time left stops, with nextRunAt null', async t => {
  const starts: Start[] = []
  const { app, clock } = await fakeApp(t, { tasks: [{ name: 'a', cron: '0 9 * * *', handler: recorder(starts) }] })
  await app.ready()
  // The wall clock leaps past what croner can compute; the pending fire still runs, and nothing after it.
  clock.setSystemTime(Date.UTC(9999, 11, 31, 12))
  await clock.tickAsync(86_400_000)
  t.equal(starts.length, 1)
  t.match(app.tasks.get('a'), { nextRunAt: null, runs: 1, state: 'idle' })
  await clock.tickAsync(10 * 86_400_000)
  t.equal(starts.length, 1)
})

t.test('property: every due time is on the anchored grid, the first one strictly after the given moment', async t => {
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 40 * 86_400_000 }),
    fc.integer({ min: 0, max: 4_000_000_000_000 }),
    fc.integer({ min: -1_000_000_000, max: 1_000_000_000_000 }),
    fc.boolean(),
    (every, anchor, offset, immediate) => {
      const after = anchor + offset
      const next = nextDue({ every, immediate } as unknown as TaskSpec, anchor, after) as number
      const k = (next - anchor) / every
      const firstK = immediate ? 0 : 1
      return next > after && Number.isInteger(k) && k >= firstK && (k === firstK || anchor + (k - 1) * every <= after)
    }
  ))
  t.pass('holds')
})

t.test('property: loop restart delays double from 1 s to 60 s and start over after a healthy minute', async t => {
  fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 120_000 }), { maxLength: 40 }), durations => {
    const backoff = new LoopBackoff()
    let expected = 1000
    return durations.every(ranMs => {
      if (ranMs >= 60_000) expected = 1000
      const delay = backoff.after(ranMs)
      const ok = delay === expected
      expected = Math.min(expected * 2, 60_000)
      return ok
    })
  }))
  t.pass('holds')
})
