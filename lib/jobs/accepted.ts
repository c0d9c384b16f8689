import type { FastifyReply } from 'fastify'
import { toError } from '../core/failure'
import type { Enqueued, IdempotencySettings, JobBackend, JobSpec } from '../core/model'
import type { AcceptedOptions } from '../types'
import { enqueueOnce } from './idempotency'
import { jobRequest } from './job-request'

/** Seconds a client is told to wait after a 503 (queue full, or this instance closing). */
export const RETRY_AFTER_SECONDS = 1

export interface AcceptedEnv {
  readonly backend: JobBackend
  readonly jobs: ReadonlyMap<string, JobSpec>
  /** The status monitor's URL for a job id, when `statusRoute` is set. */
  readonly locate: ((id: string) => string) | undefined
  readonly idempotency: IdempotencySettings | false
}

/** The options that do not say where the job goes: a function job's `name`, and those a reply reads itself. */
const REPLY_KEYS = ['name', 'body', 'headers']

/**
 * `reply.accepted(...)`: queues the job, then answers 202 (RFC 9110, 15.3.3), or 503 with
 * Retry-After when the queue is full or the app closing. The reply waits for the queueing only.
 * It never throws: whatever fails is answered on the reply, as Fastify answers a handler's throw.
 */
export function acceptedReply (env: AcceptedEnv) {
  return function accepted (this: FastifyReply, target?: unknown, dataOrOptions?: unknown, options?: AcceptedOptions): FastifyReply {
    if (target === undefined) return this.code(202).send()
    const isFunction = typeof target === 'function'
    const opts = (isFunction ? dataOrOptions : options) as AcceptedOptions | undefined
    let queued: Enqueued | Promise<Enqueued>
    try {
      const request = jobRequest(env.jobs, target, isFunction ? undefined : dataOrOptions, opts, REPLY_KEYS, this.log)
      queued = env.idempotency === false
        ? env.backend.enqueue(request)
        : enqueueOnce(env.backend, env.idempotency, this.request.headers[env.idempotency.header], request)
    } catch (error) {
      return sendFailure(this, error)
    }
    // A job stored at once (the in-process queue) is answered at once: the reply is sent before
    // the handler returns, so Fastify need not wait on the response stream for it.
    if (!(queued instanceof Promise)) sendAccepted(this, env, queued, opts)
    else queued.then(job => sendAccepted(this, env, job, opts), error => sendFailure(this, error))
    return this
  }
}

/**
 * The 202 for a queued job. The job is queued already, so a throw here (a `headers` object that
 * throws, an invalid header that fails in writeHead, a failing `locate`) must not escape: from the
 * handler it would skip the user's code that follows, and once `enqueue` resolved later it would be
 * an unhandled rejection with the request never answered. It is answered as a 500 instead.
 */
function sendAccepted (reply: FastifyReply, env: AcceptedEnv, job: Enqueued, opts: AcceptedOptions | undefined): void {
  try {
    const { id, status } = job
    const statusUrl = env.locate?.(id)
    reply.code(202)
    if (opts?.headers !== undefined) reply.headers(opts.headers)
    if (statusUrl !== undefined) reply.header('location', statusUrl)
    if (opts?.body !== undefined) reply.send(opts.body)
    else reply.send(statusUrl === undefined ? { id, status } : { id, status, statusUrl })
  } catch (error) {
    sendFailure(reply, error)
  }
}

/** A refusal (503 with Retry-After), an unknown job, or any other failure, sent as Fastify sends a thrown error. */
function sendFailure (reply: FastifyReply, thrown: unknown): FastifyReply {
  // reply.send treats a value that is not an Error as a payload: it would go out as a 202.
  const error = toError(thrown) as Error & { statusCode?: number }
  if (error.statusCode === 503) reply.header('retry-after', RETRY_AFTER_SECONDS)
  return reply.send(error)
}
