import type { Test } from 'tap'

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

/** A promise with its resolve function outside: jobs wait on it until the test opens it. */
export interface Gate {
  promise: Promise<void>
  open: () => void
}

export function gate (): Gate {
  let open!: () => void
  const promise = new Promise<void>(resolve => { open = resolve })
  return { promise, open }
}

/** Fails the test on any unhandled rejection while it runs. */
export function noUnhandledRejections (t: Test): void {
  const onRejection = (reason: unknown): void => {
    t.fail(`unhandled rejection: ${String(reason)}`)
  }
  process.on('unhandledRejection', onRejection)
  t.teardown(() => { process.off('unhandledRejection', onRejection) })
}

/** Resolves after `ms` of real time. */
export function delay (ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms))
}

/** Polls `check` every few ms until it returns true, or fails after `timeoutMs`. */
export async function until (check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await delay(2)
  }
}
