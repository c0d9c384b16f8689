import { tracingChannel } from 'node:diagnostics_channel'
import type { TraceContext } from '../types'
import type { Tracer } from './model'

export function createTracers (): Record<'task' | 'job', Tracer> {
  return {
    task: tracingChannel<TraceContext>('fastify-background:task'),
    job: tracingChannel<TraceContext>('fastify-background:job')
  }
}

/** What a trace is about: asked for its context only when someone subscribes, so an untraced run makes none. */
export interface TraceSource {
  traceContext: () => TraceContext
}

/**
 * Calls `fn(arg)` inside the tracing channel, like `tracePromise` but for handlers that may also
 * return synchronously. Costs one property check when nobody subscribes.
 */
export function traced<A> (tracer: Tracer, source: TraceSource, fn: (arg: A) => unknown, arg: A): unknown {
  if (!tracer.hasSubscribers) return fn(arg)
  const trace = source.traceContext()
  return tracer.start.runStores(trace, () => {
    let result: unknown
    try {
      result = fn(arg)
    } catch (error) {
      trace.error = error
      tracer.error.publish(trace)
      tracer.end.publish(trace)
      throw error
    }
    if (isThenable(result)) result = traceSettlement(tracer, trace, result)
    else trace.result = result
    tracer.end.publish(trace)
    return result
  })
}

function traceSettlement (tracer: Tracer, trace: TraceContext, promise: PromiseLike<unknown>): Promise<unknown> {
  return Promise.resolve(promise).then(result => {
    trace.result = result
    tracer.asyncStart.publish(trace)
    tracer.asyncEnd.publish(trace)
    return result
  }, error => {
    trace.error = error
    tracer.error.publish(trace)
    tracer.asyncStart.publish(trace)
    tracer.asyncEnd.publish(trace)
    throw error
  })
}

export function isThenable (value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as PromiseLike<unknown>).then === 'function'
}
