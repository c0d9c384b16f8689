import { ABORT_GRACE_MS } from './attempt'
import { LongTimer } from './timers'

/** Resolves true if `work` (which never rejects) settles before `deadline` (ms since the epoch), else false at the deadline. */
export function untilDeadline (work: Promise<unknown>, deadline: number): Promise<boolean> {
  return new Promise(resolve => {
    const timer = new LongTimer(() => resolve(false), deadline - Date.now())
    work.then(() => {
      timer.clear()
      resolve(true)
    })
  })
}

/** How close drains one kind of work (task runs, or jobs). */
export interface Drainable {
  /** Resolves when none of this work is left. */
  settled: () => Promise<unknown>
  /** The deadline passed: abort (and log) what is left. */
  abort: () => void
  /** Aborted work that still has not ended (a scope disposer that never settles): give up on it, and log it. */
  abandon: () => void
}

/**
 * The shutdown sequence both kinds of work share: wait until `deadline`; then abort, and wait out
 * the 1 s grace of the handlers and as long again for their scopes' disposers; then abandon what
 * is left. It never hangs on user code.
 */
export async function drainWithin (work: Drainable, deadline: number): Promise<void> {
  if (await untilDeadline(work.settled(), deadline)) return
  work.abort()
  if (await untilDeadline(work.settled(), Date.now() + 2 * ABORT_GRACE_MS)) return
  work.abandon()
}
