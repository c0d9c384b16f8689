import fp from 'fastify-plugin'
import { plugin } from './plugin'
import type {
  AcceptedOptions,
  Background,
  FastifyBackgroundOptions,
  JobHandler,
  TaskRegistry
} from './types'

export type * from './types'
export * as errors from './core/errors'

declare module 'fastify' {
  interface FastifyInstance {
    /** The periodic tasks: list, add, remove, pause, resume, trigger. */
    tasks: TaskRegistry
    /** Accepted work from anywhere: enqueue, status, drain, stats, container. */
    background: Background
  }
  interface FastifyReply {
    /** 202 Accepted with an empty body; nothing is queued. */
    accepted(): this
    /** Queues a function job, then answers 202 `{ id, status: 'queued' }`. */
    accepted(fn: JobHandler, opts?: AcceptedOptions): this
    /** Queues a job declared in `options.jobs`, then answers 202 `{ id, status: 'queued' }`. */
    accepted(name: string, data?: unknown, opts?: AcceptedOptions): this
  }
}

/** Background work for Fastify: 202 Accepted jobs and periodic tasks. */
export const fastifyBackground = fp<FastifyBackgroundOptions>(plugin, {
  fastify: '5.x',
  name: 'fastify-background'
})

export default fastifyBackground

// require('fastify-background') returns the plugin itself, with .default and .fastifyBackground
// (and every other export) on it, as Fastify's own plugins do.
module.exports = Object.assign(fastifyBackground, exports, { default: fastifyBackground, fastifyBackground })
