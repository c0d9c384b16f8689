import type { AwilixContainer } from 'awilix'
import { Cron } from 'croner'
import type { Backend, DashboardGuard, FastifyBackgroundOptions, MetricsRegistry, TaskKind } from '../types'
import type { JobSpec, Settings, TaskSpec, WorkSpec } from './model'
import { count, duration, flag, invalid, plainObject, show } from './option-values'

// Every option is checked here, once, at registration (and for `app.tasks.add`), so that a bad
// value fails `ready()` with its path instead of failing later inside a timer.

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
const OPTION_KEYS = [...FASTIFY_KEYS, 'container', 'tasks', 'jobs', 'concurrency', 'maxQueued', 'shutdownTimeout', 'statusRoute', 'retention', 'idempotency', 'dashboard', 'metrics', 'backend']
const TASK_KEYS = ['name', 'every', 'cron', 'timezone', 'loop', 'immediate', 'delay', 'jitter', 'timeout', 'overlap', 'retries', 'backoff', 'enabled', 'handler']
const SCHEDULE_KEYS = ['every', 'cron', 'loop'] as const
const NOT_FOR_LOOPS = ['immediate', 'jitter', 'timeout', 'overlap', 'retries', 'backoff']
const JOB_KEYS = ['handler', 'retries', 'backoff', 'timeout', 'exposeResult']
const STATUS_ROUTE_KEYS = ['path', 'cancel']
const IDEMPOTENCY_KEYS = ['header', 'ttl']
const DASHBOARD_KEYS = ['path', 'guard', 'readOnly']
const METRICS_KEYS = ['registry', 'path']
const REGISTRY_METHODS = ['metrics', 'getSingleMetric', 'removeSingleMetric', 'registerMetric']
const RETENTION_KEYS = ['ttl', 'max']
const BACKEND_METHODS = ['open', 'enqueue', 'status', 'stats', 'drain', 'schedule', 'unschedule', 'start', 'stopAccepting', 'close']
const NAME = /^[A-Za-z0-9_][\w.:@/-]{0,199}$/
const STATUS_ROUTE = /^\/(?:[^:]*\/)?:[A-Za-z_]\w*(?:\/[^:]*)?$/
/** RFC 9110's token: what a header name may be made of. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
/** A static path: segments of URL-safe characters, no parameter, no trailing slash. */
const STATIC_PATH = /^(?:\/[\w.~-]+)+$/

/** Checks and normalizes the plugin options; throws FST_BACKGROUND_INVALID_OPTION naming the path. */
export function readSettings (input: unknown): Settings {
  // Fastify hands a plugin {} when it is registered without options.
  const options = plainObject(input, 'options', OPTION_KEYS) as FastifyBackgroundOptions
  const tasks = readTasks(options.tasks)
  const retention = readRetention(options.retention)
  return {
    container: readContainer(options.container),
    tasks,
    jobs: readJobs(options.jobs),
    concurrency: count(options.concurrency, 'concurrency', DEFAULTS.concurrency, 1),
    maxQueued: count(options.maxQueued, 'maxQueued', DEFAULTS.maxQueued, 0),
    shutdownTimeout: duration(options.shutdownTimeout, 'shutdownTimeout', DEFAULTS.shutdownTimeout, 0),
    statusRoute: readStatusRoute(options.statusRoute),
    retention,
    idempotency: readIdempotency(options.idempotency, retention.ttl),
    dashboard: readDashboard(options.dashboard),
    metrics: readMetrics(options.metrics),
    backend: readBackend(options.backend)
  }
}

/** Checks one task definition (from the options, or `app.tasks.add`). */
export function readTask (input: unknown, path: string): TaskSpec {
  const task = plainObject(input, path, TASK_KEYS)
  const name = readName(task.name, `${path}.name`)
  const kind = readKind(task, path)
  const handler = readHandler(task.handler, `${path}.handler`)
  const delay = duration(task.delay, `${path}.delay`, 0, 0)
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
  const jitter = duration(task.jitter, `${path}.jitter`, 0, 0)
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
    return { every: duration(task.every, `${path}.every`, undefined, 1) }
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
    backoff: duration(definition.backoff, `${path}.backoff`, DEFAULTS.backoff, 0),
    timeout: duration(definition.timeout, `${path}.timeout`, undefined, 1)
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
  return { handler, retries: 0, backoff: DEFAULTS.backoff, timeout: undefined, exposeResult: false }
}

function readJob (definition: unknown, path: string): JobSpec {
  if (typeof definition === 'function') return functionJobSpec(definition as WorkSpec['handler'])
  const job = plainObject(definition, path, JOB_KEYS, 'must be a handler function or { handler, retries, backoff, timeout, exposeResult }')
  const handler = readHandler(job.handler, `${path}.handler`)
  const { retries, backoff, timeout } = readAttempts(job, path)
  return { handler, retries, backoff, timeout, exposeResult: flag(job.exposeResult, `${path}.exposeResult`, false) }
}

function readRetention (input: unknown): Settings['retention'] {
  const retention = plainObject(input === undefined ? {} : input, 'retention', RETENTION_KEYS)
  return {
    ttl: duration(retention.ttl, 'retention.ttl', DEFAULTS.retentionTtl, 0),
    max: count(retention.max, 'retention.max', DEFAULTS.retentionMax, 0)
  }
}

/** `'/jobs/:id'`, or `{ path: '/jobs/:id', cancel: true }` to add DELETE. */
function readStatusRoute (value: unknown): Settings['statusRoute'] {
  if (value === undefined || value === false) return false
  if (typeof value === 'string') return { path: readRoutePath(value, 'statusRoute'), cancel: false }
  const route = plainObject(value, 'statusRoute', STATUS_ROUTE_KEYS, "must be false, a path such as '/jobs/:id', or { path, cancel }")
  return { path: readRoutePath(route.path, 'statusRoute.path'), cancel: flag(route.cancel, 'statusRoute.cancel', false) }
}

function readRoutePath (value: unknown, path: string): string {
  if (typeof value !== 'string' || !STATUS_ROUTE.test(value)) {
    throw invalid(path, `must be a path with exactly one ":param", such as '/jobs/:id', got ${show(value)}`)
  }
  return value
}

/** `true`, or `{ header, ttl }`: the Idempotency-Key header, kept `ttl` (default: the retention's) after its job ended. */
function readIdempotency (value: unknown, retentionTtl: number): Settings['idempotency'] {
  if (value === undefined || value === false) return false
  if (value === true) return { header: 'idempotency-key', ttl: retentionTtl }
  const options = plainObject(value, 'idempotency', IDEMPOTENCY_KEYS, 'must be a boolean or { header, ttl }')
  const header = options.header ?? 'idempotency-key'
  if (typeof header !== 'string' || !HEADER_NAME.test(header)) throw invalid('idempotency.header', `must be a header name, got ${show(header)}`)
  return { header: header.toLowerCase(), ttl: duration(options.ttl, 'idempotency.ttl', retentionTtl, 1) }
}

/** A path, or `{ path, guard, readOnly }`: where the dashboard is served, and to whom. */
function readDashboard (value: unknown): Settings['dashboard'] {
  if (value === undefined || value === false) return false
  if (typeof value === 'string') return { path: readStaticPath(value, 'dashboard'), guard: undefined, readOnly: false }
  const options = plainObject(value, 'dashboard', DASHBOARD_KEYS, "must be false, a path such as '/background', or { path, guard, readOnly }")
  const guard = options.guard
  if (guard !== undefined && typeof guard !== 'function') throw invalid('dashboard.guard', `must be a function (request, reply), got ${show(guard)}`)
  return {
    path: readStaticPath(options.path, 'dashboard.path'),
    guard: guard as DashboardGuard | undefined,
    readOnly: flag(options.readOnly, 'dashboard.readOnly', false)
  }
}

/** `true`, or `{ registry, path }`: prom-client metrics, on which registry, served where. */
function readMetrics (value: unknown): Settings['metrics'] {
  if (value === undefined || value === false) return false
  if (value === true) return { registry: undefined, path: undefined }
  const options = plainObject(value, 'metrics', METRICS_KEYS, 'must be a boolean or { registry, path }')
  const { registry, path } = options
  const missing = missingMethod(registry, REGISTRY_METHODS)
  if (registry !== undefined && missing !== undefined) throw invalid('metrics.registry', `must be a prom-client Registry; "${missing}" is missing`)
  return {
    registry: registry as MetricsRegistry | undefined,
    path: path === undefined ? undefined : readStaticPath(path, 'metrics.path')
  }
}

/** The first of `methods` that `value` lacks as a function (any of them, if it is not an object). */
function missingMethod (value: unknown, methods: readonly string[]): string | undefined {
  return methods.find(method => typeof (value as Record<string, unknown> | null)?.[method] !== 'function')
}

function readStaticPath (value: unknown, path: string): string {
  if (typeof value !== 'string' || !STATIC_PATH.test(value)) throw invalid(path, `must be a path without parameters such as '/background', got ${show(value)}`)
  return value
}

function readContainer (value: unknown): AwilixContainer | undefined {
  if (value === undefined) return undefined
  if (typeof (value as AwilixContainer | null)?.createScope !== 'function') throw invalid('container', 'must be an awilix container')
  return value as AwilixContainer
}

function readBackend (value: unknown): Backend | undefined {
  if (value === undefined) return undefined
  const missing = missingMethod(value, BACKEND_METHODS)
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
