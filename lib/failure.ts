import { types } from 'node:util'

// Handlers may throw anything: a string, undefined, an object without a prototype. These turn
// whatever was thrown into something a status, a log line and a test can read.

/** A readable one-line message for any thrown value. */
export function describeError (value: unknown): string {
  try {
    if (isError(value)) return value.message === '' ? value.name : value.message
    if (typeof value === 'string') return value
    if (typeof value === 'object' && value !== null) return JSON.stringify(value) ?? Object.prototype.toString.call(value)
    return String(value)
  } catch {
    return Object.prototype.toString.call(value)
  }
}

/** The value itself when it is an Error (so its stack is logged), else an Error that describes it. */
export function toError (value: unknown): Error {
  return isError(value) ? value : new Error(`Non-error thrown: ${describeError(value)}`)
}

function isError (value: unknown): value is Error {
  return value instanceof Error || types.isNativeError(value)
}
