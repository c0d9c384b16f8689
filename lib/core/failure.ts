import { types } from 'node:util'

// Handlers may throw anything: a string, undefined, an object without a prototype, even a revoked
// proxy or an Error whose `message` getter throws. These turn whatever was thrown into something a
// status, a log line and a test can read, and never throw themselves.

/** A readable one-line message for any thrown value. */
export function describeError (value: unknown): string {
  try {
    if (isError(value)) return value.message === '' ? value.name : value.message
    if (typeof value === 'string') return value
    if (typeof value === 'object' && value !== null) return JSON.stringify(value) ?? Object.prototype.toString.call(value)
    return String(value)
  } catch {
    try {
      return Object.prototype.toString.call(value)
    } catch {
      return 'an unreadable value'
    }
  }
}

/** The value itself when it is a readable Error (so its stack is logged), else an Error that describes it. */
export function toError (value: unknown): Error {
  try {
    // Reading message and stack here is what the logger will do; if that throws, it must not be logged as is.
    if (isError(value) && typeof value.message === 'string' && typeof String(value.stack) === 'string') return value
  } catch {}
  return new Error(`Non-error thrown: ${describeError(value)}`)
}

function isError (value: unknown): value is Error {
  return value instanceof Error || types.isNativeError(value)
}
