import { createContainer, type AwilixContainer } from 'awilix'
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify'
import { expectAssignable, expectError, expectNotAssignable, expectType } from 'tsd'
import fastifyBackground, {
  errors,
  fastifyBackground as named,
  type Background,
  type FastifyBackgroundOptions,
  type JobContext,
  type JobStats,
  type JobStatus,
  type RunResult,
  type TaskContext,
  type TaskDefinition,
  type TaskInfo,
  type TaskRegistry
} from '..'

declare module '..' {
  interface BackgroundCradle {
    clock: { now: () => Date }
  }
}

expectType<typeof fastifyBackground>(named)

const app = Fastify()
app.register(fastifyBackground)
app.register(fastifyBackground, {
  container: createContainer(),
  concurrency: 10,
  maxQueued: 1000,
  shutdownTimeout: 10_000,
  statusRoute: '/jobs/:id',
  retention: { ttl: 3_600_000, max: 10_000 },
  jobs: {
    'report.build': async (ctx) => {
      expectType<string>(ctx.id)
      expectType<AbortSignal>(ctx.signal)
    },
    'mail.send': { handler: async () => {}, retries: 3, backoff: 500, timeout: 10_000 }
  },
  tasks: [
    { name: 'cleanup', every: '30s', handler: async () => {} },
    { name: 'ms', every: 250, immediate: true, delay: 10, jitter: 5, timeout: 100, overlap: 'allow', retries: 2, backoff: 10, enabled: false, handler: () => {} },
    { name: 'nightly', cron: '0 3 * * *', timezone: 'Europe/Rome', handler: async () => {} },
    { name: 'worker', loop: true, handler: async ({ signal, sleep }) => { while (!signal.aborted) await sleep(1000) } }
  ]
})

// Options are typed: wrong values, two schedules on one task, and loop-only misuse do not compile.
expectError(app.register(fastifyBackground, { concurrency: '10' }))
expectError(app.register(fastifyBackground, { statusRoute: true }))
expectNotAssignable<TaskDefinition>({ name: 'x', every: '30s', cron: '* * * * *', handler: () => {} })
expectNotAssignable<TaskDefinition>({ name: 'x', every: '30 seconds', handler: () => {} })
expectNotAssignable<TaskDefinition>({ name: 'x', loop: true, timeout: 10, handler: () => {} })
expectNotAssignable<TaskDefinition>({ name: 'x', every: '1s', overlap: 'queue', handler: () => {} })
expectAssignable<FastifyBackgroundOptions>({ tasks: [{ name: 'x', cron: '*/5 * * * * *', handler: () => {} }] })

// The task context.
const taskHandler = (ctx: TaskContext): void => {
  expectType<string>(ctx.name)
  expectType<string>(ctx.runId)
  expectType<number>(ctx.attempt)
  expectType<Date>(ctx.scheduledAt)
  expectType<AbortSignal>(ctx.signal)
  expectType<FastifyBaseLogger>(ctx.log)
  expectType<FastifyInstance>(ctx.app)
  expectType<Promise<void>>(ctx.sleep(10))
  expectType<{ now: () => Date }>(ctx.cradle.clock)
  expectAssignable<AwilixContainer>(ctx.scope)
}
expectAssignable<TaskDefinition>({ name: 't', every: '1m', handler: taskHandler })

// The job context, with typed data.
const jobHandler = (ctx: JobContext<{ id: number }>): void => {
  expectType<{ id: number }>(ctx.data)
  expectType<string>(ctx.name)
  expectType<number>(ctx.attempt)
  expectType<FastifyBaseLogger>(ctx.log)
}
expectAssignable<FastifyBackgroundOptions>({ jobs: { typed: jobHandler } })

// app.tasks
expectType<TaskRegistry>(app.tasks)
expectType<TaskInfo[]>(app.tasks.list())
expectType<TaskInfo | undefined>(app.tasks.get('cleanup'))
expectType<TaskInfo>(app.tasks.add({ name: 'later', every: '5m', handler: () => {} }))
expectType<Promise<boolean>>(app.tasks.remove('later'))
expectType<boolean>(app.tasks.pause('cleanup'))
expectType<boolean>(app.tasks.resume('cleanup'))
expectType<Promise<RunResult>>(app.tasks.trigger('cleanup'))
const info = app.tasks.get('cleanup') as TaskInfo
expectType<'every' | 'cron' | 'loop'>(info.kind)
expectType<'idle' | 'running' | 'paused' | 'stopped'>(info.state)
expectType<Date | null>(info.nextRunAt)
expectType<RunResult | null>(info.lastRun)
const result = {} as RunResult
expectType<'succeeded' | 'failed' | 'timeout' | 'skipped' | 'cancelled'>(result.status)
expectType<string | undefined>(result.error)

// app.background
expectType<Background>(app.background)
expectType<Promise<{ id: string }>>(app.background.enqueue('report.build', { id: 1 }))
expectType<Promise<{ id: string }>>(app.background.enqueue(async () => {}, { name: 'label' }))
expectType<Promise<JobStatus | undefined>>(app.background.status('id'))
expectType<Promise<void>>(app.background.drain())
expectType<Promise<JobStats>>(app.background.stats())
expectAssignable<AwilixContainer>(app.background.container)
const status = {} as JobStatus
expectType<'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled'>(status.status)
expectType<Date | undefined>(status.startedAt)

// reply.accepted returns the reply, in all three forms.
app.post('/r', async (_request, reply) => {
  expectType<FastifyReply>(reply.accepted())
  expectAssignable<FastifyReply>(reply.accepted(async (ctx) => { expectType<string>(ctx.id) }, { name: 'x', body: { ok: true }, headers: { 'x-a': '1' } }))
  expectAssignable<FastifyReply>(reply.accepted('report.build', { id: 1 }, { body: 'accepted' }))
  expectError(reply.accepted(42))
  return reply.accepted('report.build')
})

// Every error carries its code.
expectType<'FST_BACKGROUND_INVALID_OPTION'>(new errors.InvalidOptionError('a', 'b').code)
expectType<'FST_BACKGROUND_QUEUE_FULL'>(new errors.QueueFullError(1).code)
expectType<'FST_BACKGROUND_CLOSING'>(new errors.ClosingError().code)
expectType<'FST_BACKGROUND_UNKNOWN_JOB'>(new errors.UnknownJobError('x').code)
expectType<'FST_BACKGROUND_NOT_DURABLE'>(new errors.NotDurableError().code)
expectType<'FST_BACKGROUND_INVALID_DATA'>(new errors.InvalidDataError('a', 'b').code)
