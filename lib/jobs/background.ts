import type { AwilixContainer } from 'awilix'
import type { FastifyBaseLogger } from 'fastify'
import type { JobBackend, JobSpec } from '../core/model'
import type { Background, BackgroundCradle, EnqueueOptions, Enqueued, JobHandler } from '../types'
import { jobRequest } from './job-request'
import { readListQuery } from './list-query'

/** The enqueue option that does not say where the job goes: a function job's `name`. */
const OTHER_KEYS = ['name']

/** `app.background`: the same queue and limits as `reply.accepted`, from anywhere, and the control of each job. */
export function createBackground (
  backend: JobBackend,
  jobs: ReadonlyMap<string, JobSpec>,
  container: AwilixContainer<BackgroundCradle>,
  log: FastifyBaseLogger
): Background {
  return {
    async enqueue (target: JobHandler | string, dataOrOptions?: unknown, options?: EnqueueOptions): Promise<Enqueued> {
      const isFunction = typeof target === 'function'
      const opts = (isFunction ? dataOrOptions : options) as EnqueueOptions | undefined
      const job = await backend.enqueue(jobRequest(jobs, target, isFunction ? undefined : dataOrOptions, opts, OTHER_KEYS, log))
      return job.duplicate ? { id: job.id, duplicate: true } : { id: job.id }
    },
    status: async id => typeof id === 'string' ? await backend.status(id) : undefined,
    cancel: async id => typeof id === 'string' && await backend.cancel(id),
    retry: async id => typeof id === 'string' && await backend.retry(id),
    list: async query => await backend.list(readListQuery(query)),
    drain: () => backend.drain(),
    stats: () => backend.stats(),
    container
  }
}
