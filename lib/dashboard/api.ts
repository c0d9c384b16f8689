import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { JobFinishedError, JobNotFoundError, JobNotRetryableError, TaskNotFoundError } from '../core/errors'
import { foundStatus } from '../jobs/status-route'
import type { Background, DashboardOverview, JobDetail, JobListQuery, JobStatus, RunResult, TaskRegistry } from '../types'
import { hidden } from '../core/hidden-schema'

/** What the dashboard reads and steers: the app's tasks and jobs, and the two views only it needs. */
export interface DashboardSources {
  readonly tasks: TaskRegistry
  readonly background: Background
  /** Every task with its schedule. */
  readonly overview: () => DashboardOverview['tasks']
  readonly detail: (id: string) => Promise<JobDetail | undefined>
  /** Reads the pauses other replicas made, so that a task shows, and is steered, as the fleet has it. */
  readonly syncTasks: () => Promise<void>
}

const STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled']
const JOBS_QUERY = {
  querystring: {
    type: 'object',
    additionalProperties: false,
    properties: {
      status: { type: 'string', enum: STATES },
      limit: { type: 'integer', minimum: 1, maximum: 1000 },
      offset: { type: 'integer', minimum: 0 }
    }
  }
}

/** What Run now answers for a run that started: the page sees how it ends in the next overview. */
const STARTED = Object.freeze({ status: 'started' })

type Action = 'trigger' | 'pause' | 'resume'
type JobAction = 'cancel' | 'retry'

/** Adds the JSON API under `/api` of the dashboard's scope; `act` guards the routes that change state. */
export function addApi (scope: FastifyInstance, sources: DashboardSources, act: (request: FastifyRequest) => Promise<void>): void {
  const { tasks, background } = sources
  scope.addHook('onSend', async (_request, reply) => { reply.header('cache-control', 'no-store') })

  scope.get('/api/overview', { schema: hidden() }, async (): Promise<DashboardOverview> => {
    const [stats] = await Promise.all([background.stats(), sources.syncTasks()])
    return { stats, tasks: sources.overview() }
  })
  scope.get<{ Querystring: JobListQuery }>('/api/jobs', { schema: hidden(JOBS_QUERY) }, async request => {
    // Fastify's query object (from fast-querystring) inherits from an empty prototype of its own; list() takes plain objects.
    return { jobs: await background.list({ ...request.query }) }
  })
  scope.get<{ Params: { id: string } }>('/api/jobs/:id', { schema: hidden() }, async request => {
    const detail = await sources.detail(request.params.id)
    if (detail === undefined) throw new JobNotFoundError()
    return detail
  })

  // A pause or resume acts on the state the fleet has, and answers once the fleet has the change.
  const fleetWide = async <T>(change: () => T): Promise<T> => {
    await sources.syncTasks()
    const answer = change()
    await sources.syncTasks()
    return answer
  }
  const taskActions: Record<Action, (name: string) => Promise<unknown>> = {
    trigger: name => started(tasks.trigger(name)),
    pause: name => fleetWide(() => ({ paused: tasks.pause(name) })),
    resume: name => fleetWide(() => ({ resumed: tasks.resume(name) }))
  }
  scope.post<{ Params: { name: string, action: Action } }>('/api/tasks/:name/:action', {
    schema: hidden({ params: { type: 'object', properties: { action: { enum: Object.keys(taskActions) } } } }),
    onRequest: act
  }, async (request, reply) => {
    const { name, action } = request.params
    if (tasks.get(name) === undefined) throw new TaskNotFoundError(JSON.stringify(name))
    const answer = await taskActions[action](name)
    return reply.code(answer === STARTED ? 202 : 200).send(answer)
  })

  const jobActions: Record<JobAction, (id: string, status: JobStatus) => Promise<void>> = {
    cancel: async (id, status) => { if (!await background.cancel(id)) throw new JobFinishedError(status.status) },
    retry: async (id, status) => { if (!await background.retry(id)) throw new JobNotRetryableError(status.status) }
  }
  scope.post<{ Params: { id: string, action: JobAction } }>('/api/jobs/:id/:action', {
    schema: hidden({ params: { type: 'object', properties: { action: { enum: Object.keys(jobActions) } } } }),
    onRequest: act
  }, async (request, reply: FastifyReply) => {
    const { id, action } = request.params
    await jobActions[action](id, await foundStatus(background, id))
    return reply.send(await foundStatus(background, id))
  })
}

/**
 * A triggered run is not waited for (a long one would hold the request): STARTED once it runs.
 * A refusal (closing, not ready, a paused loop) and a skip are settled already when trigger()
 * returns, and Promise.race takes the first settled promise in order: they answer instead.
 */
function started (run: Promise<RunResult>): Promise<RunResult | typeof STARTED> {
  return Promise.race([run, Promise.resolve(STARTED)])
}
