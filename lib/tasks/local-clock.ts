import type { ScheduledTask } from '../core/model'
import { scheduleOf, type Schedule } from './schedule'
import { LongTimer } from '../core/timers'

/** Fires each timed task of this process at its due times, with in-process timers. */
export class LocalClock {
  readonly #timers = new Map<ScheduledTask, TaskTimer>()

  schedule (task: ScheduledTask): void {
    this.unschedule(task)
    const timer = new TaskTimer(task, scheduleOf(task.spec, task.anchor))
    this.#timers.set(task, timer)
    timer.start()
  }

  unschedule (task: ScheduledTask): void {
    this.#timers.get(task)?.stop()
    this.#timers.delete(task)
  }
}

class TaskTimer {
  #timer: LongTimer | undefined
  #due = 0
  #fireAt = 0

  constructor (private readonly task: ScheduledTask, private readonly schedule: Schedule) {}

  start (): void {
    this.arm(this.schedule.next(this.task.since - 1))
  }

  stop (): void {
    this.#timer?.clear()
    this.#timer = undefined
    this.task.planned(null)
  }

  private arm (due: number | null): void {
    this.task.planned(due)
    if (due === null) return
    const jitter = this.task.spec.jitter
    this.#due = due
    this.#fireAt = jitter === 0 ? due : due + Math.floor(Math.random() * (jitter + 1))
    this.wait()
  }

  private wait (): void {
    this.#timer = new LongTimer(() => this.wake(), this.#fireAt - Date.now())
  }

  private wake (): void {
    const now = Date.now()
    // Node may wake a timer a fraction of a millisecond early by the wall clock; never run early.
    if (now < this.#fireAt) return this.wait()
    const due = this.#due
    // Due times that passed while the event loop was blocked (beyond jitter) are merged into this run.
    this.arm(this.schedule.next(Math.max(due, now - this.task.spec.jitter)))
    this.task.fire(due)
  }
}
