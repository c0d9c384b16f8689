import { Heap, type HeapItem } from '../core/heap'
import type { ScheduledTask } from '../core/model'
import { LongTimer } from '../core/timers'
import { nextDue } from './schedule'

/** What the clock needs of a task: its schedule, and where to report and fire its due times. */
export type ClockTask = Pick<ScheduledTask, 'spec' | 'anchor' | 'since' | 'planned' | 'fireAndForget' | 'clockEntry'>

/**
 * Fires each timed task of this process at its due times, on one Node timer armed for the
 * earliest. Tasks due at the same millisecond share a slot and fire in the order they were placed
 * in it: 100,000 tasks of one period cost one timer, and no timer object or closure per task.
 * The timer is Node's (or a fake clock's) `setTimeout`, looked up when armed.
 */
export class LocalClock {
  /** The slots that hold a task still to fire, earliest first; `#byTime` finds them by their time. */
  readonly #slots = new Heap<Slot>((a, b) => a.fireAt < b.fireAt)
  readonly #byTime = new Map<number, Slot>()
  /** The slot the last due time went to, while it waits: tasks of one period and anchor all go to the same next one. */
  #lastSlot: Slot | undefined
  /**
   * The last slot fired, emptied, for the next new slot: no array of 100,000 made each second,
   * and no new slot that every old entry would point to (each scavenge would visit them all).
   */
  #spare: Slot | undefined
  #timer: LongTimer | undefined
  #timerAt = Infinity
  readonly #onTimer = (): void => this.wake()

  schedule (task: ClockTask): void {
    this.unschedule(task)
    const entry = new Entry(task)
    task.clockEntry = entry
    this.plan(entry, nextDue(task.spec, task.anchor, task.since - 1))
    this.arm()
  }

  unschedule (task: ClockTask): void {
    const entry = task.clockEntry as Entry | undefined
    if (entry === undefined) return
    task.clockEntry = undefined
    this.take(entry)
    task.planned(null)
    this.arm()
  }

  /** Places `entry` in the slot of its next due time (plus jitter), or nowhere when there is none. */
  private plan (entry: Entry, due: number | null): void {
    entry.task.planned(due)
    if (due === null) return
    const jitter = entry.task.spec.jitter
    entry.jitter = jitter === 0 ? 0 : Math.floor(Math.random() * (jitter + 1))
    const slot = this.slotAt(due + entry.jitter)
    slot.entries[slot.size++] = entry
    slot.live++
    entry.slot = slot
  }

  private slotAt (fireAt: number): Slot {
    const last = this.#lastSlot
    if (last !== undefined && last.fireAt === fireAt) return last
    let slot = this.#byTime.get(fireAt)
    if (slot === undefined) {
      slot = this.#spare?.reuse(fireAt) ?? new Slot(fireAt)
      this.#spare = undefined
      this.#byTime.set(fireAt, slot)
      this.#slots.push(slot)
    }
    this.#lastSlot = slot
    return slot
  }

  /** Takes `entry` out of its slot; a slot left with no task is dropped, one with mostly gaps compacted. */
  private take (entry: Entry): void {
    const slot = entry.slot
    if (slot === undefined) return
    entry.slot = undefined
    if (--slot.live === 0) this.drop(slot)
    else if (slot.size > 2 * slot.live + 16) slot.compact()
  }

  private drop (slot: Slot): void {
    this.#slots.remove(slot)
    this.#byTime.delete(slot.fireAt)
    if (this.#lastSlot === slot) this.#lastSlot = undefined
  }

  /**
   * Arms the timer for the earliest slot, unless it is armed for it already; clears it when none
   * is left. `now` is when the delay counts from (by default, now): as for Node's own timers, the
   * moment the timer woke, so handlers that block the loop for a while do not push the next due time back.
   */
  private arm (now?: number): void {
    const first = this.#slots.peek()
    const at = first === undefined ? Infinity : first.fireAt
    if (at === this.#timerAt) return
    this.#timer?.clear()
    this.#timerAt = at
    this.#timer = first === undefined ? undefined : new LongTimer(this.#onTimer, at - (now ?? Date.now()))
  }

  private wake (): void {
    const woke = Date.now()
    this.#timer = undefined
    this.#timerAt = Infinity
    // Node may wake a timer a fraction of a millisecond early by the wall clock; never run early.
    // Slots that come due while these handlers run wait for the next wake, as separate timers
    // would: a run in progress then has had its turn to end (overlap), and promises theirs.
    for (let slot = this.#slots.peek(); slot !== undefined && slot.fireAt <= woke; slot = this.#slots.peek()) {
      this.drop(slot)
      // One clock reading per run: each run hands on the one taken as it ended.
      let now = Date.now()
      // Read once: a handler that unschedules tasks may compact the slot while it fires.
      const { entries, size } = slot
      for (let i = 0; i < size; i++) {
        const entry = entries[i] as Entry
        entries[i] = undefined
        // Entries taken out (unscheduled) while waiting here, or while this slot fires, are skipped.
        if (entry.slot === slot) now = this.fire(entry, slot.fireAt - entry.jitter, now)
      }
      slot.entries = entries
      this.#spare = slot
    }
    this.arm(woke)
  }

  /** Fires `entry`'s task for `due`, at `now`; returns a clock reading taken after its run's synchronous part. */
  private fire (entry: Entry, due: number, now: number): number {
    entry.slot = undefined
    // Due times that passed while the event loop was blocked (beyond jitter) are merged into this run.
    const task = entry.task
    this.plan(entry, nextDue(task.spec, task.anchor, Math.max(due, now - task.spec.jitter)))
    return task.fireAndForget(due, now)
  }
}

/** One scheduled task in the clock: in the slot of its next due time, or in none. */
class Entry {
  slot: Slot | undefined = undefined
  /** ms the task fires after its due time (its slot's time minus this is the due time). */
  jitter = 0

  constructor (readonly task: ClockTask) {}
}

/** The tasks to fire at one millisecond, in the order they were placed: the first `size` of `entries`. */
class Slot implements HeapItem {
  heapIndex = -1
  size = 0
  /** How many of those are still in this slot (the others were taken out since). */
  live = 0
  entries: Array<Entry | undefined> = []

  constructor (public fireAt: number) {}

  /** The slot, fired and emptied (its entries set to undefined), made the slot of `fireAt`. */
  reuse (fireAt: number): Slot {
    this.fireAt = fireAt
    this.size = 0
    this.live = 0
    return this
  }

  /** Drops the entries taken out, keeping the order of the others. */
  compact (): void {
    // While the slot fires, those fired so far are undefined already.
    this.entries = this.entries.slice(0, this.size).filter(entry => entry !== undefined && entry.slot === this)
    this.size = this.entries.length
  }
}
