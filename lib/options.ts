import type { AwilixContainer } from 'awilix'
import { Cron } from 'croner'
import type { Backend } from './backend'
import { parseDuration } from './duration'
import { InvalidOptionError } from './errors'
import type { WorkSpec } from './run'
import type { FastifyBackgroundOptions, TaskKind } from './types'

// Every option is checked here, once, at registration (and for `app.tasks.add`), so that a bad
// value fails `ready()` with its path instead of failing later inside a timer.

export interface TaskSpec extends WorkSpec {
  readonly name: string
  readonly kind: TaskKind
  /** ms, for kind 'every'. */
  readonly every?: number
  readonly cron?: Cron
  readonly timezone?: string
  readonly immediate: boolean
  readonly delay: number
  readonly jitter: number
  readonly overlap: 'skip' | 'allow'
  readonly enabled: boolean
}

export type JobSpec = WorkSpec

export interface Settings {
  readonly container: AwilixContainer | undefined
  readonly tasks: TaskSpec[]
  readonly jobs: ReadonlyMap<string, JobSpec>
  readonly concurrency: number
  readonly maxQueued: number
  readonly shutdownTimeout: number
  readonly statusRoute: string | false
  readonly retention: { readonly ttl: number, readonly max: number }
  readonly backend: Backend | undefined
}

export const DEFAULTS = Object.freeze({
  concurrency: 10,
  maxQueued: 1000,
  shutdownTimeout: 10_000,
  retentionTtl: 3_600_000,
  retentionMax: 10_000,
  backoff: 1000
})

// Fastify hands its own register options (prefix, logLevel, ...) to every plugin; they are not ours to refuse.
const FASTIFY_KEYS = ['prefix', 'logLevel', 'logSerializers']
const OPTION_KEYS = [...FASTIFY_KEYS, 'container', 'tasks', 'jobs', 'concurrency', 'maxQueued', 'shutdownTimeout', 'statusRoute', 'retention', 'backend']
const TASK_KEYS = ['name', 'every', 'cron', 'timezone', 'loop', 'immediate', 'delay', 'jitter', 'timeout', 'overlap', 'retries', 'backoff', 'enabled', 'handler']
const SCHEDULE_KEYS = ['every', 'cron', 'loop'] as const
const NOT_FOR_LOOPS = ['immediate', 'jitter', 'timeout', 'overlap', 'retries', 'backoff']
const JOB_KEYS = ['handler', 'retries', 'backoff', 'timeout']
const RETENTION_KEYS = ['ttl', 'max']
const BACKEND_METHODS = ['open', 'enqueue', 'status', 'stats', 'drain', 'schedule', 'unschedule', 'start', 'stopAccepting', 'close']
const NAME = /^[A-Za-z0-9_][\w.:@/-]{0,199}$/
const STATUS_ROUTE = /^\/(?:[^:]*\/)?:[A-Za-z_]\w*(?:\/[^:]*)?$/

/** Checks and normalizes the plugin options; throws FST_BACKGROUND_INVALID_OPTION naming the path. */
export function readSettings (input: unknown): Settings {
  // Fastify hands a plugin {} when it is registered without options.
  const options = plainObject(input, 'options', OPTION_KEYS) as FastifyBackgroundOptions
  const tasks = readTasks(options.tasks)
  return {
    container: readContainer(options.container),
    tasks,
    jobs: readJobs(options.jobs),
    concurrency: count(options.concurrency, 'concurrency', DEFAULTS.concurrency, 1),
    maxQueued: count(options.maxQueued, 'maxQueued', DEFAULTS.maxQueued, 0),
    shutdownTimeout: count(options.shutdownTimeout, 'shutdownTimeout', DEFAULTS.shutdownTimeout, 0),
    statusRoute: readStatusRoute(options.statusRoute),
    retention: readRetention(options.retention),
    backend: readBackend(options.backend)
  }
}

/** Checks one task definition (from the options, or `app.tasks.add`). */
export function readTask (input: unknown, path: string): TaskSpec {
  const task = plainObject(input, path, TASK_KEYS)
  const name = readName(task.name, `${path}.name`)
  const kind = readKind(task, path)
  const handler = readHandler(task.handler, `${path}.handler`)
  const delay = count(task.delay, `${path}.delay`, 0, 0)
  const enabled = flag(task.enabled, `${path}.enabled`, true)
  if (task.timezone !== undefined && kind !== 'cron') throw invalid(`${path}.timezone`, 'applies only to a cron task')
  // Object literals, not spreads: V8 gives every object a spread makes a hidden class of its own,
  // and the runner reads these specs on every run (megamorphic with thousands of tasks).
  if (kind === 'loop') {
    const misplaced = NOT_FOR_LOOPS.find(key => task[key] !== undefined)
    if (misplaced !== undefined) throw invalid(`${path}.${misplaced}`, 'does not apply to a loop task')
    return { name, kind, handler, delay, enabled, immediate: false, jitter: 0, overlap: 'skip', retries: 0, backoff: DEFAULTS.backoff, timeout: undefined }
  }
  const schedule = readSchedule(task, kind, path)
  const immediate = flag(task.immediate, `${path}.immediate`, false)
  const jitter = count(task.jitter, `${path}.jitter`, 0, 0)
  const overlap = readOverlap(task.overlap, `${path}.overlap`)
  const { retries, backoff, timeout } = readAttempts(task, path)
  if (kind === 'every') {
    return { name, kind, handler, delay, enabled, every: schedule.every, immediate, jitter, overlap, retries, backoff, timeout }
  }
  return { name, kind, handler, delay, enabled, cron: schedule.cron, timezone: schedule.timezone, immediate, jitter, overlap, retries, backoff, timeout }
}

function readTasks (input: unknown): TaskSpec[] {
  if (input === undefined) return []
  if (!Array.isArray(input)) throw invalid('tasks', 'must be an array of task definitions')
  const names = new Set<string>()
  return input.map((definition, index) => {
    const task = readTask(definition, `tasks[${index}]`)
    if (names.has(task.name)) throw invalid(`tasks[${index}].name`, `duplicate task name "${task.name}"`)
    names.add(task.name)
    return task
  })
}

function readKind (task: Record<string, unknown>, path: string): TaskKind {
  const given = SCHEDULE_KEYS.filter(key => task[key] !== undefined)
  if (given.length === 0) throw invalid(path, 'needs a schedule: one of "every", "cron" or "loop: true"')
  if (given.length > 1) throw invalid(`${path}.${given[1]}`, `a task has one schedule, and "${given[0]}" is set already`)
  if (given[0] === 'loop' && task.loop !== true) throw invalid(`${path}.loop`, 'must be true')
  return given[0] as TaskKind
}

function readSchedule (task: Record<string, unknown>, kind: TaskKind, path: string): { every?: number, cron?: Cron, timezone?: string } {
  if (kind === 'every') {
    const every = parseDuration(task.every)
    if (every === undefined || every <= 0) {
      throw invalid(`${path}.every`, `must be a positive number of ms or a duration such as '30s', got ${show(task.every)}`)
    }
    return { every }
  }
  const timezone = readTimezone(task.timezone, `${path}.timezone`)
  return { cron: readCron(task.cron, timezone, `${path}.cron`), timezone }
}

function readCron (pattern: unknown, timezone: string | undefined, path: string): Cron {
  if (typeof pattern !== 'string') throw invalid(path, `must be a cron pattern string, got ${show(pattern)}`)
  let cron: Cron
  try {
    cron = new Cron(pattern, { paused: true, timezone, mode: '5-or-6-parts' })
  } catch (error) {
    throw invalid(path, `is not a valid cron pattern with 5 or 6 fields: ${(error as Error).message}`)
  }
  if (cron.nextRun() === null) throw invalid(path, `never fires: ${show(pattern)}`)
  return cron
}

function readTimezone (value: unknown, path: string): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || value === '') throw invalid(path, `must be an IANA time zone name, got ${show(value)}`)
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: value }).resolvedOptions().timeZone
  } catch {
    throw invalid(path, `is not a known IANA time zone: ${show(value)}`)
  }
}

function readAttempts (definition: Record<string, unknown>, path: string): Pick<WorkSpec, 'retries' | 'backoff' | 'timeout'> {
  return {
    retries: count(definition.retries, `${path}.retries`, 0, 0),
    backoff: count(definition.backoff, `${path}.backoff`, DEFAULTS.backoff, 0),
    timeout: definition.timeout === undefined ? undefined : count(definition.timeout, `${path}.timeout`, 0, 1)
  }
}

function readJobs (input: unknown): Map<string, JobSpec> {
  const jobs = new Map<string, JobSpec>()
  if (input === undefined) return jobs
  for (const [name, definition] of Object.entries(plainObject(input, 'jobs'))) {
    const path = `jobs[${JSON.stringify(name)}]`
    readName(name, path)
    jobs.set(name, readJob(definition, path))
  }
  return jobs
}

/** How a job given as a bare function runs: once, no timeout. A literal, so every such spec shares one shape. */
export function functionJobSpec (handler: WorkSpec['handler']): JobSpec {
  return { handler, retries: 0, backoff: DEFAULTS.backoff, timeout: undefined }
}

function readJob (definition: unknown, path: string): JobSpec {
  if (typeof definition === 'function') return functionJobSpec(definition as WorkSpec['handler'])
  const job = plainObject(definition, path, JOB_KEYS, 'must be a handler function or { handler, retries, backoff, timeout }')
  const handler = readHandler(job.handler, `${path}.handler`)
  const { retries, backoff, timeout } = readAttempts(job, path)
  return { handler, retries, backoff, timeout }
}

function readRetention (input: unknown): Settings['retention'] {
  const retention = plainObject(input === undefined ? {} : input, 'retention', RETENTION_KEYS)
  return {
    ttl: count(retention.ttl, 'retention.ttl', DEFAULTS.retentionTtl, 0),
    max: count(retention.max, 'retention.max', DEFAULTS.retentionMax, 0)
  }
}

function readStatusRoute (value: unknown): string | false {
  if (value === undefined || value === false) return false
  if (typeof value !== 'string' || !STATUS_ROUTE.test(value)) {
    throw invalid('statusRoute', `must be false or a path with exactly one ":param", such as '/jobs/:id', got ${show(value)}`)
  }
  return value
}

function readContainer (value: unknown): AwilixContainer | undefined {
  if (value === undefined) return undefined
  if (typeof (value as AwilixContainer | null)?.createScope !== 'function') throw invalid('container', 'must be an awilix container')
  return value as AwilixContainer
}

function readBackend (value: unknown): Backend | undefined {
  if (value === undefined) return undefined
  const missing = BACKEND_METHODS.find(method => typeof (value as Record<string, unknown> | null)?.[method] !== 'function')
  if (missing !== undefined) throw invalid('backend', `must be a backend such as bullmqBackend({ ... }); "${missing}" is missing`)
  return value as Backend
}

function readName (value: unknown, path: string): string {
  if (typeof value !== 'string' || !NAME.test(value)) {
    throw invalid(path, `must be 1 to 200 letters, digits or "_ . : @ / -", starting with a letter, digit or "_", got ${show(value)}`)
  }
  return value
}

function readHandler (value: unknown, path: string): WorkSpec['handler'] {
  if (typeof value !== 'function') throw invalid(path, `must be a function, got ${show(value)}`)
  return value as WorkSpec['handler']
}

function readOverlap (value: unknown, path: string): 'skip' | 'allow' {
  if (value === undefined) return 'skip'
  if (value !== 'skip' && value !== 'allow') throw invalid(path, `must be 'skip' or 'allow', got ${show(value)}`)
  return value
}

function flag (value: unknown, path: string, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') throw invalid(path, `must be a boolean, got ${show(value)}`)
  return value
}

/** A safe integer of at least `min` (counts and milliseconds alike). */
function count (value: unknown, path: string, fallback: number, min: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw invalid(path, `must be an integer of at least ${min}, got ${show(value)}`)
  }
  return value
}

/** `value` as a record, if it is a plain object with none but `keys` (when given); else FST_BACKGROUND_INVALID_OPTION at `path`. */
export function plainObject (value: unknown, path: string, keys?: string[], expected = 'must be a plain object'): Record<string, unknown> {
  const proto = typeof value === 'object' && value !== null ? Object.getPrototypeOf(value) : undefined
  if (proto !== Object.prototype && proto !== null) throw invalid(path, `${expected}, got ${show(value)}`)
  const record = value as Record<string, unknown>
  const unknown = keys === undefined ? undefined : Object.keys(record).find(key => !keys.includes(key))
  if (unknown !== undefined) throw invalid(path === 'options' ? unknown : `${path}.${unknown}`, 'unknown option')
  return record
}

export function invalid (path: string, message: string): Error {
  return new InvalidOptionError(path, message)
}

function show (value: unknown): string {
  if (typeof value === 'function') return 'a function'
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value)
  if (typeof value === 'bigint' || typeof value === 'symbol') return String(value)
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'object' && value !== null) return 'an object'
  return String(value)
}
