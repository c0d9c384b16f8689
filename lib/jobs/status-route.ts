import type { FastifyInstance, FastifyReply } from 'fastify'
import { JobFinishedError, JobNotFoundError } from '../core/errors'
import type { JobSpec, StatusRouteSettings } from '../core/model'
import type { Background, JobStatus } from '../types'
import { RETRY_AFTER_SECONDS } from './accepted'

const DATE = { type: 'string', format: 'date-time' }

/** The JobStatus as JSON; the schema also guarantees nothing else (data, stack) is sent. */
const JOB_STATUS_SCHEMA = {
  type: 'object',
  required: ['id', 'name', 'status', 'enqueuedAt'],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    status: { type: 'string' },
    enqueuedAt: DATE,
    startedAt: DATE,
    finishedAt: DATE,
    runAt: DATE,
    error: { type: 'string' },
    attempt: { type: 'integer' },
    progress: { anyOf: [{ type: 'number' }, { type: 'object', additionalProperties: true }] },
    result: {}
  }
}

/**
 * Adds the status monitor at `path` (GET, and DELETE with `cancel`); returns how to build a job's
 * URL for Location headers. A job's result is shown only for jobs declared `exposeResult: true`.
 */
export function addStatusRoute (
  app: FastifyInstance,
  route: StatusRouteSettings,
  background: Background,
  jobs: ReadonlyMap<string, JobSpec>
): (id: string) => string {
  const param = (/:(\w+)/.exec(route.path) as RegExpExecArray)[1]
  const schema = {
    params: { type: 'object', properties: { [param]: { type: 'string' } } },
    response: { 200: JOB_STATUS_SCHEMA }
  }
  const answer = (reply: FastifyReply, status: JobStatus): JobStatus => {
    // Queued or running: the client is told when to look again.
    if (status.status === 'queued' || status.status === 'running') reply.header('retry-after', RETRY_AFTER_SECONDS)
    if (status.result !== undefined && jobs.get(status.name)?.exposeResult !== true) delete status.result
    return status
  }
  app.get<{ Params: Record<string, string> }>(route.path, { schema }, async (request, reply) => {
    return answer(reply, await foundStatus(background, request.params[param]))
  })
  if (route.cancel) {
    app.delete<{ Params: Record<string, string> }>(route.path, { schema }, async (request, reply) => {
      const id = request.params[param]
      await foundStatus(background, id)
      const cancelled = await background.cancel(id)
      const status = await foundStatus(background, id)
      if (!cancelled) throw new JobFinishedError(status.status)
      return answer(reply, status)
    })
  }
  const base = app.prefix
  return id => base + route.path.replace(`:${param}`, encodeURIComponent(id))
}

/** The job's status; FST_BACKGROUND_JOB_NOT_FOUND (404) when unknown. */
export async function foundStatus (background: Background, id: string): Promise<JobStatus> {
  const status = await background.status(id)
  if (status === undefined) throw new JobNotFoundError()
  return status
}
