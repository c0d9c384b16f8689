import { createContainer, type AwilixContainer } from 'awilix'
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify'
import { expectAssignable, expectError, expectNotAssignable, expectType } from 'tsd'
import { Registry, register } from 'prom-client'
import fastifyBackground, {
  errors,
  fastifyBackground as named,
  type Background,
  type FastifyBackgroundOptions,
  type DashboardGuard,
  type MetricsOptions,
  type MetricsRegistry,
  type DashboardOptions,
  type DashboardOverview,
  type DashboardTask,
  type DashboardRun,
  type JobDetail,
  type TaskSchedule,
  type JobContext,
  type JobStats,
  type Enqueued,
  type JobListQuery,
  type JobProgress,
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
      expectType<Promise<void>>(ctx.progress(50))
      expectType<Promise<void>>(ctx.progress({ step: 2, of: 3 }))
      expectError(ctx.progress('half'))
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

// Every duration takes a number of ms or a duration string; counts take numbers only.
expectAssignable<FastifyBackgroundOptions>({
  shutdownTimeout: '5s',
  retention: { ttl: '1h', max: 10 },
  jobs: { a: { handler: () => {}, timeout: '30s', backoff: '250ms' } },
  tasks: [
    { name: 'x', every: '1m', delay: '25d', jitter: '1s', timeout: '30s', backoff: '5m', handler: () => {} },
    { name: 'y', loop: true, delay: '1s', handler: () => {} }
  ]
})
expectNotAssignable<FastifyBackgroundOptions>({ shutdownTimeout: '5 seconds' })
expectNotAssignable<FastifyBackgroundOptions>({ maxQueued: '10' })
expectNotAssignable<FastifyBackgroundOptions>({ retention: { max: '10' } })
expectNotAssignable<FastifyBackgroundOptions>({ jobs: { a: { handler: () => {}, retries: '3' } } })
expectNotAssignable<TaskDefinition>({ name: 'x', every: '1s', retries: '1', handler: () => {} })

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
  // Once declared, the cradle has exactly the declared names: a misspelt one does not compile.
  expectError(ctx.cradle.clok)
  expectType<{ now: () => Date }>(ctx.scope.cradle.clock)
  expectType<{ now: () => Date }>(ctx.scope.resolve('clock'))
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
// enqueue resolves { id }, with duplicate: true when a key matched a job already queued or running.
expectType<Promise<Enqueued>>(app.background.enqueue('report.build', { id: 1 }))
expectType<Promise<Enqueued>>(app.background.enqueue(async () => {}, { name: 'label' }))
expectAssignable<{ id: string, duplicate?: true }>({} as Enqueued)
expectType<Promise<Enqueued>>(app.background.enqueue('report.build', { id: 1 }, { delay: '5m', priority: 3, key: 'account-1' }))
expectType<Promise<Enqueued>>(app.background.enqueue(async () => {}, { name: 'x', runAt: new Date(), priority: 0 }))
expectError(app.background.enqueue('report.build', {}, { priority: 'high' }))
expectError(app.background.enqueue('report.build', {}, { delay: '5 minutes' }))
expectError(app.background.enqueue('report.build', {}, { runAt: '2026-01-01' }))
expectError(app.background.enqueue('report.build', {}, { name: 'named jobs have their name' }))
expectType<Promise<boolean>>(app.background.cancel('id'))
expectType<Promise<boolean>>(app.background.retry('id'))
expectType<Promise<JobStatus[]>>(app.background.list())
expectType<Promise<JobStatus[]>>(app.background.list({ status: 'failed', limit: 10, offset: 20 }))
expectError(app.background.list({ status: 'done' }))
expectAssignable<JobListQuery>({ status: 'queued' })
expectType<Promise<JobStatus | undefined>>(app.background.status('id'))
expectType<Promise<void>>(app.background.drain())
expectType<Promise<JobStats>>(app.background.stats())
expectAssignable<AwilixContainer>(app.background.container)
const status = {} as JobStatus
expectType<'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled'>(status.status)
expectType<Date | undefined>(status.startedAt)
expectType<number | undefined>(status.attempt)
expectType<JobProgress | undefined>(status.progress)
expectType<unknown>(status.result)
expectType<Date | undefined>(status.runAt)

// reply.accepted returns the reply, in all three forms.
app.post('/r', async (_request, reply) => {
  expectType<FastifyReply>(reply.accepted())
  expectAssignable<FastifyReply>(reply.accepted(async (ctx) => { expectType<string>(ctx.id) }, { name: 'x', body: { ok: true }, headers: { 'x-a': '1' } }))
  expectAssignable<FastifyReply>(reply.accepted('report.build', { id: 1 }, { body: 'accepted' }))
  expectAssignable<FastifyReply>(reply.accepted('report.build', { id: 1 }, { delay: 1000, priority: 1, key: 'k', headers: { 'x-a': '1' } }))
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
expectType<'FST_BACKGROUND_TASK_PAUSED'>(new errors.TaskPausedError('worker').code)
expectType<'FST_BACKGROUND_JOB_FINISHED'>(new errors.JobFinishedError('succeeded').code)
expectType<'FST_BACKGROUND_IDEMPOTENCY_MISMATCH'>(new errors.IdempotencyMismatchError().code)
expectType<'FST_BACKGROUND_IDEMPOTENCY_IN_PROGRESS'>(new errors.IdempotencyInProgressError().code)
expectType<'FST_BACKGROUND_INVALID_IDEMPOTENCY_KEY'>(new errors.InvalidIdempotencyKeyError('idempotency-key').code)
expectType<'FST_BACKGROUND_ATTEMPT_ENDED'>(new errors.AttemptEndedError('job').code)

// Job control options at registration.
app.register(fastifyBackground, {
  statusRoute: { path: '/jobs/:id', cancel: true },
  idempotency: { header: 'x-request-id', ttl: '1d' },
  jobs: { 'report.build': { handler: async () => ({ url: '/r.pdf' }), exposeResult: true } }
})
app.register(fastifyBackground, { idempotency: true })
expectError(app.register(fastifyBackground, { idempotency: { header: 1 } }))
expectError(app.register(fastifyBackground, { statusRoute: { cancel: true } }))

// The dashboard.
app.register(fastifyBackground, { dashboard: '/background' })
app.register(fastifyBackground, { dashboard: false })
app.register(fastifyBackground, {
  dashboard: {
    path: '/background',
    readOnly: true,
    guard: async (request, reply) => {
      expectType<string>(request.url)
      if (request.headers.authorization === undefined) return reply.code(401).send()
    }
  }
})
expectAssignable<DashboardOptions>({ path: '/ops', guard: () => {} })
expectAssignable<DashboardGuard>(async () => {})
expectError(app.register(fastifyBackground, { dashboard: { readOnly: true } }))
expectError(app.register(fastifyBackground, { dashboard: { path: '/x', readOnly: 'yes' } }))
expectError(app.register(fastifyBackground, { dashboard: 42 }))
declare const overview: DashboardOverview
expectType<JobStats>(overview.stats)
expectType<TaskSchedule>(overview.tasks[0].schedule)
expectAssignable<TaskSchedule>({ every: 1000 })
expectAssignable<TaskSchedule>({ cron: '0 3 * * *', timezone: 'Europe/Paris' })
expectAssignable<TaskSchedule>({ loop: true })
expectNotAssignable<TaskSchedule>({ cron: '0 3 * * *' })
declare const task: DashboardTask
expectType<number>(task.runs)
expectType<number | null>(task.nextRunAt)
expectType<DashboardRun | null>(task.lastRun)
declare const run: DashboardRun
expectType<number>(run.finishedAt)
declare const detail: JobDetail
expectType<unknown>(detail.data)
expectType<string>(detail.id)
expectType<'FST_BACKGROUND_FORBIDDEN'>(new errors.ForbiddenError('read-only').code)
expectType<'FST_BACKGROUND_TASK_NOT_FOUND'>(new errors.TaskNotFoundError('tick').code)
expectType<'FST_BACKGROUND_JOB_NOT_RETRYABLE'>(new errors.JobNotRetryableError('running').code)

// Metrics: a prom-client Registry is a MetricsRegistry, without these types importing prom-client.
app.register(fastifyBackground, { metrics: true })
app.register(fastifyBackground, { metrics: false })
app.register(fastifyBackground, { metrics: { registry: new Registry(), path: '/metrics' } })
app.register(fastifyBackground, { metrics: { registry: register } })
expectAssignable<MetricsRegistry>(new Registry())
expectAssignable<MetricsOptions>({ path: '/metrics' })
expectError(app.register(fastifyBackground, { metrics: '/metrics' }))
expectError(app.register(fastifyBackground, { metrics: { registry: {} } }))
expectError(app.register(fastifyBackground, { metrics: { path: 9100 } }))
