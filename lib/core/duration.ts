// Durations in options: a number of milliseconds, or a string such as '250ms', '30s', '5m', '1h', '1d'.

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/

/** Milliseconds for a duration, or undefined when the value is not one (or not a safe integer of ms). */
export function parseDuration (value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : undefined
  if (typeof value !== 'string') return undefined
  const match = DURATION.exec(value.trim())
  if (match === null) return undefined
  const ms = Number(match[1]) * UNIT_MS[match[2]]
  return Number.isSafeInteger(ms) ? ms : undefined
}
