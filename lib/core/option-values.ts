import { parseDuration } from './duration'
import { InvalidOptionError } from './errors'

// The checks every option reader shares (the plugin's, and each backend's own options): each
// returns the value when it is of the kind asked for, else throws FST_BACKGROUND_INVALID_OPTION
// naming the option's path.

export function flag (value: unknown, path: string, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') throw invalid(path, `must be a boolean, got ${show(value)}`)
  return value
}

/** A count: a safe integer of at least `min`. */
export function count (value: unknown, path: string, fallback: number, min: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw invalid(path, `must be an integer of at least ${min}, got ${show(value)}`)
  }
  return value
}

/**
 * Milliseconds for a duration (a safe integer of ms, or a string such as '30s'), at least `min`:
 * 0, or 1 where a duration must be positive. Every duration option is read here, so all take both forms.
 */
export function duration<F extends number | undefined> (value: unknown, path: string, fallback: F, min: 0 | 1): number | F {
  if (value === undefined) return fallback
  const ms = parseDuration(value)
  if (ms === undefined || ms < min) {
    throw invalid(path, `must be ${min === 0 ? 'a' : 'a positive'} number of ms or a duration such as '30s', got ${show(value)}`)
  }
  return ms
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

export function show (value: unknown): string {
  if (typeof value === 'function') return 'a function'
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value)
  if (typeof value === 'bigint' || typeof value === 'symbol') return String(value)
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'object' && value !== null) return 'an object'
  return String(value)
}
