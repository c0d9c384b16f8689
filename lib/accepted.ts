import type { FastifyReply } from 'fastify'
import type { Backend } from './backend'
import { jobRequest } from './background'
import type { JobSpec } from './options'
import type { AcceptedOptions } from './types'

/** Seconds a client is told to wait after a 503 (queue full, or this instance closing). */
export const RETRY_AFTER_SECONDS = 1

export interface AcceptedEnv {
  readonly backend: Backend
  readonly jobs: ReadonlyMap<string, JobSpec>
  /** The status monitor's URL for a job id, when `statusRoute` is set. */
  readonly locate: ((id: string) => string) | undefined
}

/**
 * `reply.accepted(...)`: queues the job, then answers 202 (RFC 9110, 15.3.3), or 503 with
 * Retry-After when the queue is full or the app closing. The reply waits for the queueing only.
 */
export function acceptedReply (env: AcceptedEnv) {
  return function accepted (this: FastifyReply, target?: unknown, dataOrOptions?: unknown, options?: AcceptedOptions): FastifyReply {
    if (target === undefined) return this.code(202).send()
    const isFunction = typeof target === 'function'
    const opts = (isFunction ? dataOrOptions : options) as AcceptedOptions | undefined
    let queued: string | Promise<string>
    try {
      queued = env.backend.enqueue(jobRequest(env.jobs, target, isFunction ? undefined : dataOrOptions, opts?.name, this.log))
    } catch (error) {
      return sendRefusal(this, error as { statusCode?: number })
    }
    // An id at once (the in-process queue) is answered at once: the reply is sent before the
    // handler returns, so Fastify need not wait on the response stream for it.
    if (typeof queued === 'string') sendAccepted(this, env, queued, opts)
    else queued.then(id => sendAccepted(this, env, id, opts), error => sendRefusal(this, error))
    return this
  }
}

function sendAccepted (reply: FastifyReply, env: AcceptedEnv, id: string, opts: AcceptedOptions | undefined): void {
  const statusUrl = env.locate?.(id)
  reply.code(202)
  if (opts?.headers !== undefined) reply.headers(opts.headers)
  if (statusUrl !== undefined) reply.header('location', statusUrl)
  // Outside the handler's promise, a throw (an invalid header from opts.headers fails in writeHead)
  // would be an unhandled rejection and the request would never be answered; answer it as Fastify would.
  try {
    if (opts?.body !== undefined) reply.send(opts.body)
    else reply.send(statusUrl === undefined ? { id, status: 'queued' } : { id, status: 'queued', statusUrl })
  } catch (error) {
    reply.send(error)
  }
}

function sendRefusal (reply: FastifyReply, error: { statusCode?: number }): FastifyReply {
  if (error.statusCode === 503) reply.header('retry-after', RETRY_AFTER_SECONDS)
  return reply.send(error)
}
