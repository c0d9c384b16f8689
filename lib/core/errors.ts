import createError from '@fastify/error'

// Every error the plugin throws or sends, in one place: this is its whole failure surface.

/** An option (or a runtime `app.tasks.add` definition) is invalid; the message names its path. */
export const InvalidOptionError = createError<'FST_BACKGROUND_INVALID_OPTION', 500, [string, string]>(
  'FST_BACKGROUND_INVALID_OPTION', 'Invalid option %s: %s', 500)

/** The queue holds `maxQueued` waiting jobs already; answered as 503 with Retry-After. */
export const QueueFullError = createError<'FST_BACKGROUND_QUEUE_FULL', 503, [number]>(
  'FST_BACKGROUND_QUEUE_FULL', 'The background queue is full (%s jobs waiting); retry later', 503)

/** The application is closing and accepts no new work; answered as 503 with Retry-After. */
export const ClosingError = createError<'FST_BACKGROUND_CLOSING', 503, []>(
  'FST_BACKGROUND_CLOSING', 'The application is shutting down and accepts no new background work', 503)

/** The backend's store (Redis) cannot be reached, so the job was not stored; answered as 503 with Retry-After. */
export const UnavailableError = createError<'FST_BACKGROUND_UNAVAILABLE', 503, [string]>(
  'FST_BACKGROUND_UNAVAILABLE', 'The background queue cannot be reached (%s); retry later', 503)

/** A job name that `options.jobs` does not declare. */
export const UnknownJobError = createError<'FST_BACKGROUND_UNKNOWN_JOB', 500, [string]>(
  'FST_BACKGROUND_UNKNOWN_JOB', 'Unknown background job %s: declare it in the plugin option "jobs"', 500)

/** A task name the registry does not hold. */
export const UnknownTaskError = createError<'FST_BACKGROUND_UNKNOWN_TASK', 500, [string]>(
  'FST_BACKGROUND_UNKNOWN_TASK', 'Unknown task %s', 500)

/** `trigger()` before the application is ready: nothing runs before onReady. */
export const NotReadyError = createError<'FST_BACKGROUND_NOT_READY', 500, [string]>(
  'FST_BACKGROUND_NOT_READY', 'Task %s cannot run before the application is ready', 500)

/** A function job given to a backend that persists jobs: functions cannot be stored. */
export const NotDurableError = createError<'FST_BACKGROUND_NOT_DURABLE', 500, []>(
  'FST_BACKGROUND_NOT_DURABLE',
  'This backend persists jobs, and a function cannot be persisted: declare a named job in the plugin option "jobs" and enqueue it by name', 500)

/** Job data that JSON cannot carry, for a backend that persists jobs. */
export const InvalidDataError = createError<'FST_BACKGROUND_INVALID_DATA', 500, [string, string]>(
  'FST_BACKGROUND_INVALID_DATA', 'Data for job %s cannot be stored as JSON: %s', 500)

/** Recorded as the error of a run whose signal aborted on timeout. */
export const TimeoutError = createError<'FST_BACKGROUND_TIMEOUT', 500, [number]>(
  'FST_BACKGROUND_TIMEOUT', 'Timed out after %s ms', 500)

/** The abort reason of a run cancelled by `remove()`, `pause()` of a loop, or close. */
export const CancelledError = createError<'FST_BACKGROUND_CANCELLED', 500, [string]>(
  'FST_BACKGROUND_CANCELLED', 'Cancelled: %s', 500)

/** `ctx.scope` or `ctx.cradle` first read after the attempt ended (by a promise the handler left running). */
export const AttemptEndedError = createError<'FST_BACKGROUND_ATTEMPT_ENDED', 500, [string]>(
  'FST_BACKGROUND_ATTEMPT_ENDED',
  'ctx.scope of %s was first used after its attempt had ended, so it could never be disposed: use the scope only in work the handler awaits', 500)

/** The status route's answer for an id it does not know (or no longer keeps). */
export const JobNotFoundError = createError<'FST_BACKGROUND_JOB_NOT_FOUND', 404, []>(
  'FST_BACKGROUND_JOB_NOT_FOUND', 'No such job, or its status is no longer kept', 404)

/**
 * `trigger()` of a paused loop: its run would go on until close, unpaused. 409, as for any request
 * that conflicts with the current state of what it targets: resuming the task resolves it.
 */
export const TaskPausedError = createError<'FST_BACKGROUND_TASK_PAUSED', 409, [string]>(
  'FST_BACKGROUND_TASK_PAUSED', 'Task %s is a paused loop, which cannot be triggered: resume it instead', 409)

/** `DELETE` on the status route for a job that has ended already: there is nothing left to cancel. */
export const JobFinishedError = createError<'FST_BACKGROUND_JOB_FINISHED', 409, [string]>(
  'FST_BACKGROUND_JOB_FINISHED', 'The job has ended already (%s): there is nothing to cancel', 409)

/** An `Idempotency-Key` used before with other data: the request is not the one it repeats. */
export const IdempotencyMismatchError = createError<'FST_BACKGROUND_IDEMPOTENCY_MISMATCH', 422, []>(
  'FST_BACKGROUND_IDEMPOTENCY_MISMATCH', 'This Idempotency-Key was used for a request with other data: use a new key for a new request', 422)

/**
 * A repeat of a request whose first try still holds its `Idempotency-Key` and has made no job
 * after a second: 409, as draft-ietf-httpapi-idempotency-key-header asks for a request that
 * overlaps the one it repeats. Retrying later gets the first job, or makes it.
 */
export const IdempotencyInProgressError = createError<'FST_BACKGROUND_IDEMPOTENCY_IN_PROGRESS', 409, []>(
  'FST_BACKGROUND_IDEMPOTENCY_IN_PROGRESS', 'A request with this Idempotency-Key is still being accepted: retry it later', 409)

/** An `Idempotency-Key` header that is empty or longer than 255 characters. */
export const InvalidIdempotencyKeyError = createError<'FST_BACKGROUND_INVALID_IDEMPOTENCY_KEY', 400, [string]>(
  'FST_BACKGROUND_INVALID_IDEMPOTENCY_KEY', 'The %s header must be 1 to 255 characters', 400)

/** A dashboard request its guard, or the loopback rule, or `readOnly`, or the origin check refused. */
export const ForbiddenError = createError<'FST_BACKGROUND_FORBIDDEN', 403, [string]>(
  'FST_BACKGROUND_FORBIDDEN', 'Forbidden: %s', 403)

/** A dashboard action on a task name the registry does not hold. */
export const TaskNotFoundError = createError<'FST_BACKGROUND_TASK_NOT_FOUND', 404, [string]>(
  'FST_BACKGROUND_TASK_NOT_FOUND', 'No task named %s', 404)

/** The dashboard's Retry on a job that has not failed and was not cancelled. */
export const JobNotRetryableError = createError<'FST_BACKGROUND_JOB_NOT_RETRYABLE', 409, [string]>(
  'FST_BACKGROUND_JOB_NOT_RETRYABLE', 'Only a failed or cancelled job can be retried; this one is %s', 409)
