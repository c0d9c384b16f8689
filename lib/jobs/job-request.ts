import type { FastifyBaseLogger } from 'fastify'
import { UnknownJobError } from '../core/errors'
import { describeError } from '../core/failure'
import type { JobRequest, JobSpec } from '../core/model'
import { functionJobSpec } from '../core/options'
import type { EnqueueOptions, JobHandler } from '../types'
import { readPlacement } from './enqueue-options'

/**
 * Turns a job name or function, with its options, into a request for the backend; throws
 * FST_BACKGROUND_UNKNOWN_JOB, or FST_BACKGROUND_INVALID_OPTION for a bad option. `others` are the
 * option keys besides where the job goes: `name` (read here), and those the caller reads itself
 * (`body`, `headers` for a reply). A constant list: nothing is allocated for it per job.
 */
export function jobRequest (
  jobs: ReadonlyMap<string, JobSpec>,
  target: unknown,
  data: unknown,
  opts: EnqueueOptions | undefined,
  others: readonly string[],
  log: FastifyBaseLogger
): JobRequest {
  const placement = readPlacement(opts, others)
  if (typeof target === 'function') {
    const spec = functionJobSpec(target as JobHandler)
    return { name: opts?.name ?? 'anonymous', data: undefined, spec, named: false, log, placement }
  }
  const spec = typeof target === 'string' ? jobs.get(target) : undefined
  if (spec === undefined) throw new UnknownJobError(quoteName(target))
  return { name: target as string, data, spec, named: true, log, placement }
}

/** The unknown name for the error message: a client may send anything, so never throw and keep it short. */
function quoteName (target: unknown): string {
  const text = typeof target === 'string' ? target : describeError(target)
  return JSON.stringify(text.length > 100 ? `${text.slice(0, 100)}…` : text)
}
