import type { FastifyBaseLogger } from 'fastify'
import { LongTimer } from '../core/timers'
import type { DrivenTask, TaskDriver } from './driver'
import { LoopBackoff } from './loop-backoff'
import type { RunResult } from '../types'

/** Drives a `loop` task in this process: starts it, and restarts it after a backoff when it ends early. */
export class LoopDriver implements TaskDriver {
  /** A loop runs until its signal aborts: a run triggered while paused would go on, unpaused, until close. */
  readonly triggerableWhilePaused = false
  #timer: LongTimer | undefined
  readonly #backoff = new LoopBackoff()

  constructor (private readonly task: DrivenTask, private readonly log: FastifyBaseLogger) {}

  start (): void {
    this.startIn(this.task.anchor - Date.now())
  }

  /** A loop runs until its signal aborts, so halting one ends its run. (Its task is the one it was made for.) */
  halt (_task: DrivenTask, reason: string): void {
    this.cancelStart()
    this.task.cancelRuns(reason)
  }

  /** A loop runs once at a time: a triggered run replaces a pending (re)start. */
  onRunStarting (): void {
    this.cancelStart()
  }

  /** A loop that threw or returned before close is restarted after a backoff. */
  onRunEnded (result: RunResult): void {
    if (!this.task.driven) return
    // Cancelled yet still driven: it was paused and resumed while it ended. Not a crash.
    if (result.status === 'cancelled') return this.startIn(0)
    const restartInMs = this.#backoff.after(result.durationMs)
    const fields = { task: this.task.spec.name, runId: result.runId, restartInMs }
    // A failure was logged with its error by the run already; this line says what happens next.
    const how = result.status === 'succeeded' ? 'returned' : `ended ${result.status}`
    this.log.warn(fields, `loop task ${how} before close; restarting it`)
    this.startIn(restartInMs)
  }

  private startIn (delayMs: number): void {
    this.task.planned(Date.now() + Math.max(0, delayMs))
    this.#timer = new LongTimer(() => { this.startNow() }, delayMs)
  }

  /** While a paused run is still ending, its end starts the loop again (see onRunEnded). */
  private startNow (): void {
    if (this.task.running > 0) this.task.planned(null)
    else this.task.run(Date.now())
  }

  private cancelStart (): void {
    this.#timer?.clear()
    this.task.planned(null)
  }
}
