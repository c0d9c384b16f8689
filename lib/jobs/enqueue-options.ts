import type { JobPlacement } from '../core/model'
import { count, duration, invalid, plainObject, show } from '../core/option-values'

/** BullMQ's range, so a priority means the same on both backends. */
export const MAX_PRIORITY = 2 ** 21 - 1
const MAX_KEY_LENGTH = 200
const PLACEMENT_KEYS = ['delay', 'runAt', 'priority', 'key']

/** What most jobs get: no delay, the highest priority, no key. One object, so the plain path allocates none. */
export const AT_ONCE: JobPlacement = Object.freeze({ runAt: 0, priority: 0, key: undefined })

/**
 * Checks the enqueue options (`delay`, `runAt`, `priority`, `key`, besides the `others` that the
 * caller reads itself) and says when and in what order the job may start. Throws
 * FST_BACKGROUND_INVALID_OPTION naming the option, e.g. `opts.priority`; nothing is enqueued.
 */
export function readPlacement (input: unknown, others: readonly string[], path = 'opts'): JobPlacement {
  if (input === undefined) return AT_ONCE
  const opts = plainObject(input, path, [...others, ...PLACEMENT_KEYS], 'must be an object of enqueue options')
  if (opts.delay === undefined && opts.runAt === undefined && opts.priority === undefined && opts.key === undefined) return AT_ONCE
  if (opts.delay !== undefined && opts.runAt !== undefined) throw invalid(`${path}.runAt`, 'cannot be given with "delay": choose one')
  const delay = duration(opts.delay, `${path}.delay`, 0, 0)
  return {
    runAt: delay > 0 ? Date.now() + delay : readRunAt(opts.runAt, `${path}.runAt`),
    priority: readPriority(opts.priority, `${path}.priority`),
    key: readKey(opts.key, `${path}.key`)
  }
}

function readRunAt (value: unknown, path: string): number {
  if (value === undefined) return 0
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw invalid(path, `must be a valid Date, got ${show(value)}`)
  return value.getTime()
}

function readPriority (value: unknown, path: string): number {
  const priority = count(value, path, 0, 0)
  if (priority > MAX_PRIORITY) throw invalid(path, `must be an integer from 0 to ${MAX_PRIORITY}, got ${priority}`)
  return priority
}

function readKey (value: unknown, path: string): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_KEY_LENGTH) {
    throw invalid(path, `must be a string of 1 to ${MAX_KEY_LENGTH} characters, got ${show(value)}`)
  }
  return value
}
