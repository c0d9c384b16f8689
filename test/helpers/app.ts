import { Writable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyBackground from '../../lib/index'
import type { FastifyBackgroundOptions } from '../../lib/types'

/** One parsed pino line. */
export interface LogLine {
  level: number
  msg: string
  [key: string]: any
}

export const LEVEL = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const

/** A Fastify app whose log lines are kept in `lines` (parsed), at trace level. */
export function logCapture (): { stream: Writable, lines: LogLine[] } {
  const lines: LogLine[] = []
  const stream = new Writable({
    write (chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line !== '') lines.push(JSON.parse(line))
      done()
    }
  })
  return { stream, lines }
}

export interface TestApp {
  app: FastifyInstance
  lines: LogLine[]
}

/** Registers the plugin with `options` on a new app whose logs are captured. Not yet ready. */
export async function buildApp (options: FastifyBackgroundOptions = {}): Promise<TestApp> {
  const { stream, lines } = logCapture()
  const app = Fastify({ logger: { level: 'trace', stream } })
  await app.register(fastifyBackground, options)
  return { app, lines }
}

/** Log lines at or above `level` whose message includes `text`. */
export function linesWith (lines: LogLine[], text: string, level: number = LEVEL.trace): LogLine[] {
  return lines.filter(line => line.level >= level && String(line.msg).includes(text))
}
