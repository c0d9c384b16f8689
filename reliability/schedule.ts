import FakeTimers from '@sinonjs/fake-timers'
import fc from 'fast-check'
import Fastify from 'fastify'
import fastifyBackground from '../lib/index'
import type { TaskDefinition } from '../lib/types'
import { check, LEVEL, logCapture, Section } from './harness'

// Section 5: property-based tests of the schedule math and the local clock, on fake timers. For
// random periods, delays, jitters, start times and run durations: no run fires before its due
// time, none later than due + jitter + a small bound (the loop is always free on fake time),
// every due time either runs once or is skipped once (none lost, none doubled), scheduledAt is
// the nominal due time, and with overlap 'skip' no two runs overlap.

const section = new Section('schedule')
/** ms a run may start after due + jitter on a free loop: fake time does not move while it starts. */
const BOUND = 1
const RUNS_PER_CASE = 30
const DAY = 86_400_000

interface Case {
  start: number
  every: number
  delay: number
  jitter: number
  immediate: boolean
  overlap: 'skip' | 'allow'
  durations: number[]
  shape: 'every' | 'cron'
}

const everyCase = fc.record({
  start: fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2100, 0, 1) }),
  every: fc.oneof(
    { weight: 8, arbitrary: fc.integer({ min: 1, max: 5000 }) },
    { weight: 1, arbitrary: fc.constantFrom(2 ** 31 - 1, 2 ** 31, 30 * DAY, 400 * DAY) }
  ),
  delay: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 10_000 })),
  jitterFraction: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 2, noNaN: true })),
  immediate: fc.boolean(),
  overlap: fc.constantFrom<'skip' | 'allow'>('skip', 'allow'),
  durationFractions: fc.array(fc.oneof(fc.constant(0), fc.double({ min: 0, max: 3.5, noNaN: true })), { minLength: 1, maxLength: 8 })
}).map(({ jitterFraction, durationFractions, ...rest }): Case => ({
  ...rest,
  jitter: Math.min(Math.floor(rest.every * jitterFraction), 2 ** 31),
  durations: durationFractions.map(f => Math.floor(rest.every * f)),
  shape: 'every'
}))

/** Cron tasks firing every n seconds ('*\/n * * * * *'): due times are the whole seconds divisible by n in each minute. */
const cronCase = fc.record({
  start: fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2100, 0, 1) }),
  n: fc.constantFrom(1, 2, 3, 5, 10, 15, 20, 30),
  delay: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 10_000 })),
  jitter: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 1500 })),
  immediate: fc.boolean(),
  overlap: fc.constantFrom<'skip' | 'allow'>('skip', 'allow'),
  durations: fc.array(fc.integer({ min: 0, max: 40_000 }), { minLength: 1, maxLength: 8 })
}).map(({ n, ...rest }): Case => ({ ...rest, every: n * 1000, shape: 'cron' }))

interface Observed {
  scheduledAt: number
  startedAt: number
  endedAt: number | undefined
}

/** The nominal due times of a case, up to `until`. */
function dueTimes (c: Case, anchor: number, until: number): number[] {
  const times: number[] = []
  if (c.immediate) times.push(anchor)
  if (c.shape === 'every') {
    for (let t = anchor + c.every; t <= until; t += c.every) times.push(t)
  } else {
    const n = c.every / 1000
    for (let t = Math.ceil(anchor / 1000) * 1000; t <= until; t += 1000) {
      if (new Date(t).getUTCSeconds() % n === 0 && !(c.immediate && t === anchor)) times.push(t)
    }
  }
  return times
}

async function runCase (c: Case): Promise<void> {
  const clock = FakeTimers.install({ now: c.start, toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] })
  try {
    const { stream, lines } = logCapture(LEVEL.debug)
    const app = Fastify({ logger: { level: 'debug', stream } })
    const runs: Observed[] = []
    let active = 0
    let maxActive = 0
    const definition = {
      name: 'prop',
      ...(c.shape === 'every' ? { every: c.every } : { cron: `*/${c.every / 1000} * * * * *`, timezone: 'UTC' }),
      delay: c.delay,
      jitter: c.jitter,
      immediate: c.immediate,
      overlap: c.overlap,
      handler: async (ctx: { scheduledAt: Date, sleep: (ms: number) => Promise<void> }) => {
        const run: Observed = { scheduledAt: ctx.scheduledAt.getTime(), startedAt: Date.now(), endedAt: undefined }
        runs.push(run)
        maxActive = Math.max(maxActive, ++active)
        await ctx.sleep(c.durations[(runs.length - 1) % c.durations.length])
        active--
        run.endedAt = Date.now()
      }
    } as TaskDefinition
    await app.register(fastifyBackground, { tasks: [definition], shutdownTimeout: 0 })
    await app.ready()
    const anchor = Date.now() + c.delay
    const horizon = c.delay + c.every * RUNS_PER_CASE + c.jitter
    await clock.tickAsync(horizon)
    const end = Date.now()
    const closing = app.close()
    await clock.tickAsync(2000)
    await closing

    const skippedAt = lines.filter(line => String(line.msg).includes('skipped')).map(line => Date.parse(line.scheduledAt))
    for (const run of runs) {
      check(run.startedAt >= run.scheduledAt, `a run started ${run.scheduledAt - run.startedAt} ms before its due time`)
      check(run.startedAt <= run.scheduledAt + c.jitter + BOUND, `a run started ${run.startedAt - run.scheduledAt} ms after its due time (jitter ${c.jitter})`)
    }
    if (c.overlap === 'skip') {
      check(maxActive <= 1, `${maxActive} runs overlapped`)
      const ordered = [...runs].sort((a, b) => a.startedAt - b.startedAt)
      for (let i = 1; i < ordered.length; i++) {
        const previous = ordered[i - 1].endedAt
        check(previous !== undefined && previous <= ordered[i].startedAt, 'a run started before the previous one ended')
      }
    } else {
      check(skippedAt.length === 0, 'a run was skipped with overlap allow')
    }
    // Every due time that was surely reached ran once or was skipped once; nothing else ran.
    const seen = [...runs.map(run => run.scheduledAt), ...skippedAt].sort((a, b) => a - b)
    check(new Set(seen).size === seen.length, 'a due time ran or was skipped twice')
    const expected = dueTimes(c, anchor, end - c.jitter - BOUND)
    check(expected.length >= RUNS_PER_CASE - 2, `only ${expected.length} due times in the window`)
    check(runs.length > 0, 'nothing ran')
    const seenSet = new Set(seen)
    const missing = expected.filter(t => !seenSet.has(t))
    check(missing.length === 0, `${missing.length} due time(s) neither ran nor were skipped, first at anchor + ${missing[0] - anchor} ms`)
    const allowed = new Set(dueTimes(c, anchor, end))
    const extra = seen.filter(t => !allowed.has(t))
    check(extra.length === 0, `${extra.length} run(s) at a time that is not due, first at anchor + ${extra[0] - anchor} ms`)
  } finally {
    clock.uninstall()
  }
}

/** Each generated case is an item of the section: tried, and survived unless it is the counterexample. */
async function property (label: string, arbitrary: fc.Arbitrary<Case>, numRuns: number): Promise<void> {
  const result = await fc.check(fc.asyncProperty(arbitrary, runCase), { numRuns })
  section.tally(label, result.numRuns, result.failed ? result.numRuns - 1 : result.numRuns)
  if (result.failed) console.error(fc.defaultReportMessage(result))
  else section.note(`${label}: ${result.numRuns} generated cases passed`)
}

/**
 * On the real clock, where Node may wake a timer a fraction of a millisecond early: no run before
 * its due time, none far after it (the bound is generous: a shared CI machine), no overlap.
 */
async function realClock (): Promise<void> {
  const app = Fastify({ logger: false })
  const lateness: number[] = []
  let early = 0
  let overlaps = 0
  const task = (name: string, every: number, jitter: number, durationMs: number): TaskDefinition => {
    let active = 0
    return {
      name,
      every,
      jitter,
      handler: async ctx => {
        const sinceDue = Date.now() - ctx.scheduledAt.getTime()
        if (sinceDue < 0) early++
        lateness.push(sinceDue - jitter)
        if (++active > 1) overlaps++
        await ctx.sleep(durationMs)
        active--
      }
    }
  }
  await app.register(fastifyBackground, { tasks: [task('fast', 7, 0, 0), task('jittery', 13, 5, 2), task('slow', 20, 0, 45)] })
  await app.ready()
  await new Promise(resolve => setTimeout(resolve, 1500))
  await app.close()
  const worst = Math.max(...lateness)
  section.note(`real clock: ${lateness.length} runs, worst start ${worst} ms after due + jitter`)
  check(lateness.length > 150, `only ${lateness.length} runs`)
  check(early === 0, `${early} run(s) before their due time`)
  check(worst <= 50, `a run started ${worst} ms after due + jitter`)
  check(overlaps === 0, `${overlaps} overlapping runs`)
}

async function main (): Promise<void> {
  await property('every: due times, jitter bound, no loss, no overlap with skip', everyCase, 300)
  await property('cron */n seconds: due times, jitter bound, no loss, no overlap with skip', cronCase, 100)
  await section.scenario('real clock: never early, never far late, no overlap', realClock)
}

section.run(main)
