import type { AwilixContainer } from 'awilix'
import type { FastifyBaseLogger } from 'fastify'
import type { Backend, JobRequest } from './backend'
import { UnknownJobError } from './errors'
import { describeError } from './failure'
import { functionJobSpec, type JobSpec } from './options'
import type { Background, BackgroundCradle, JobHandler } from './types'

/** Turns a job name or function into a request for the backend; throws FST_BACKGROUND_UNKNOWN_JOB. */
export function jobRequest (
  jobs: ReadonlyMap<string, JobSpec>,
  target: unknown,
  data: unknown,
  label: string | undefined,
  log: FastifyBaseLogger
): JobRequest {
  if (typeof target === 'function') {
    const spec = functionJobSpec(target as JobHandler)
    return { name: label ?? 'anonymous', data: undefined, spec, named: false, log }
  }
  const spec = typeof target === 'string' ? jobs.get(target) : undefined
  if (spec === undefined) throw new UnknownJobError(quoteName(target))
  return { name: target as string, data, spec, named: true, log }
}

/** The unknown name for the error message: a client may send anything, so never throw and keep it short. */
function quoteName (target: unknown): string {
  const text = typeof target === 'string' ? target : describeError(target)
  return JSON.stringify(text.length > 100 ? `${text.slice(0, 100)}…` : text)
}

/** `app.background`: the same queue and limits as `reply.accepted`, from anywhere. */
export function createBackground (
  backend: Backend,
  jobs: ReadonlyMap<string, JobSpec>,
  container: AwilixContainer<BackgroundCradle>,
  log: FastifyBaseLogger
): Background {
  return {
    async enqueue (target: JobHandler | string, dataOrOptions?: unknown) {
      const label = typeof target === 'function' ? (dataOrOptions as { name?: string } | undefined)?.name : undefined
      const id = await backend.enqueue(jobRequest(jobs, target, dataOrOptions, label, log))
      return { id }
    },
    status: async id => typeof id === 'string' ? await backend.status(id) : undefined,
    drain: () => backend.drain(),
    stats: () => backend.stats(),
    container
  }
}
