// Helpers shared by the benchmark scripts. Each row script runs in its own child process and
// prints one JSON line (its result) as the last line of stdout; progress goes to stderr.
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

const require = createRequire(import.meta.url)

/**
 * The package as users get it: the built CommonJS entry point. BENCH_DIST names another build's
 * dist/ (the code before a change): the before/after rows run the same script against both.
 */
export const fastifyBackground = require(process.env.BENCH_DIST === undefined ? '../dist/index.js' : join(process.env.BENCH_DIST, 'index.js'))
export const Fastify = require('fastify')

export { sleep }

export function median (values) {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

export function mean (values) {
  let sum = 0
  for (const v of values) sum += v
  return values.length === 0 ? NaN : sum / values.length
}

/** The p-th percentile (0..100), nearest rank. */
export function percentile (values, p) {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank]
}

export function progress (message) {
  process.stderr.write(`  ${message}\n`)
}

/** Prints the result line the parent reads. */
export function report (result) {
  process.stdout.write(JSON.stringify(result) + '\n')
}

/** Forces full collections (the script must run with --expose-gc). */
export async function collect () {
  for (let i = 0; i < 3; i++) {
    globalThis.gc()
    await sleep(10)
  }
}

export const MB = 1024 * 1024
