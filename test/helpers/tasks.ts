import FakeTimers from '@sinonjs/fake-timers'
import type { Test } from 'tap'

export type InstalledClock = ReturnType<typeof FakeTimers.install>
import type { FastifyInstance } from 'fastify'
import type { FastifyBackgroundOptions } from '../../lib/types'
import { buildApp, type LogLine } from './app'

/** 2026-01-01T00:00:00Z: a round moment, so due times read easily in failures. */
export const T0 = Date.UTC(2026, 0, 1)

/** Fails the test on any unhandled rejection while it runs. */
export function guardUnhandled (t: Test): void {
  const onRejection = (reason: unknown): void => {
    t.fail(`unhandled rejection: ${String(reason)}`)
  }
  process.on('unhandledRejection', onRejection)
  t.teardown(() => {
    process.off('unhandledRejection', onRejection)
  })
}

/**
 * Fakes setTimeout, clearTimeout and Date only: Fastify's ready() and close() (avvio) need
 * setImmediate and process.nextTick to stay real.
 */
export function installClock (now: number = T0): InstalledClock {
  return FakeTimers.install({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now })
}

/** Closes `app` while advancing the fake clock, so timers that close waits for can fire. */
export async function closeTicking (app: FastifyInstance, clock: InstalledClock, stepMs = 100): Promise<number> {
  const started = Date.now()
  const state = { closed: false }
  const closing = app.close().then(() => { state.closed = true })
  while (!state.closed) await clock.tickAsync(stepMs)
  await closing
  return Date.now() - started
}

export interface FakeApp {
  app: FastifyInstance
  lines: LogLine[]
  clock: InstalledClock
}

/**
 * A new app with the plugin, on a fake clock starting at `now`. Teardown closes the app
 * (advancing the clock) and uninstalls the clock.
 */
export async function fakeApp (t: Test, options: FastifyBackgroundOptions = {}, now: number = T0): Promise<FakeApp> {
  const clock = installClock(now)
  let built
  try {
    built = await buildApp(options)
  } catch (error) {
    clock.uninstall()
    throw error
  }
  const { app, lines } = built
  t.teardown(async () => {
    await closeTicking(app, clock)
    clock.uninstall()
  })
  return { app, lines, clock }
}

/** A promise with its resolve function, to let a handler wait for the test (or the test for a handler). */
export function deferred<T = void> (): { promise: Promise<T>, resolve: (value: T) => void } {
  let resolve!: (value: T) => void
  const promise = new Promise<T>(_resolve => { resolve = _resolve })
  return { promise, resolve }
}
