// Timers that may be longer than Node's limit, and sleeps that end early on abort.

/** Node clamps a longer delay to 1 ms; longer waits are chained in steps of at most this. */
export const MAX_TIMER_MS = 2 ** 31 - 1

/** A timer that can wait any number of milliseconds; `clear()` stops it. */
export class LongTimer {
  private handle: NodeJS.Timeout | undefined
  private readonly fireAt: number

  constructor (private readonly callback: () => void, delayMs: number) {
    this.fireAt = Date.now() + Math.max(0, delayMs)
    this.arm()
  }

  clear (): void {
    clearTimeout(this.handle)
    this.handle = undefined
  }

  private arm (): void {
    const remaining = this.fireAt - Date.now()
    if (remaining > MAX_TIMER_MS) {
      this.handle = setTimeout(() => this.arm(), MAX_TIMER_MS)
    } else {
      this.handle = setTimeout(this.callback, Math.max(0, remaining))
    }
  }
}

/** Resolves after `ms`, or as soon as `signal` aborts (never rejects). */
export function sleep (ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise(resolve => {
    if (signal?.aborted === true) return resolve()
    const done = (): void => {
      timer.clear()
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const timer = new LongTimer(done, ms)
    signal?.addEventListener('abort', done, { once: true })
  })
}
