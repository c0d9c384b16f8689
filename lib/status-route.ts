import type { FastifyInstance } from 'fastify'
import { JobNotFoundError } from './errors'
import type { Background } from './types'

const DATE = { type: 'string', format: 'date-time' }

/** The JobStatus as JSON; the schema also guarantees nothing else (data, result, stack) is sent. */
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
    error: { type: 'string' }
  }
}

/** Adds the GET status monitor at `path`; returns how to build a job's URL for Location headers. */
export function addStatusRoute (app: FastifyInstance, path: string, background: Background): (id: string) => string {
  const param = (/:(\w+)/.exec(path) as RegExpExecArray)[1]
  app.get<{ Params: Record<string, string> }>(path, {
    schema: {
      params: { type: 'object', properties: { [param]: { type: 'string' } } },
      response: { 200: JOB_STATUS_SCHEMA }
    }
  }, async request => {
    const status = await background.status(request.params[param])
    if (status === undefined) throw new JobNotFoundError()
    return status
  })
  const base = app.prefix
  return id => base + path.replace(`:${param}`, encodeURIComponent(id))
}
