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
