import { Writable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'

// A small harness for the reliability sections: each scenario is tried; it survives when all its
// checks pass, and is lost (and explained) otherwise. Unhandled rejections and uncaught
// exceptions anywhere in the process count as losses of the section.

export const RESULT_MARK = '##RELIABILITY '

export interface SectionResult {
  section: string
  tried: number
  survived: number
  lost: number
  notes: string[]
}

export class Section {
  tried = 0
  survived = 0
  readonly losses: string[] = []
  readonly notes: string[] = []
  unhandledRejections = 0
  uncaughtExceptions = 0

  constructor (readonly name: string) {
    process.on('unhandledRejection', reason => {
      this.unhandledRejections++
      console.error(`[${name}] unhandled rejection:`, reason)
    })
    process.on('uncaughtException', error => {
      this.uncaughtExceptions++
      console.error(`[${name}] uncaught exception:`, error)
    })
  }

  /** Runs one scenario; it survives if it resolves, and is lost if it throws. */
  async scenario (label: string, fn: () => unknown): Promise<boolean> {
    this.tried++
    try {
      await fn()
      this.survived++
      return true
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error)
      this.losses.push(`${label}: ${message}`)
      console.error(`LOST ${this.name} / ${label}: ${message}`)
      return false
    }
  }

  /** Counts `tried` items (requests, jobs) of which `survived` came through; the rest are lost. */
  tally (label: string, tried: number, survived: number): void {
    this.tried += tried
    this.survived += survived
    if (survived < tried) {
      this.losses.push(`${label}: ${tried - survived} lost`)
      console.error(`LOST ${this.name} / ${label}: ${tried - survived} of ${tried}`)
    }
  }

  note (text: string): void {
    this.notes.push(text)
    console.log(`  ${text}`)
  }

  /** Runs the section's body, then notes its runtime and reports; a throw outside any scenario fails the section. */
  run (body: () => Promise<void>): void {
    const started = Date.now()
    body().then(() => {
      this.note(`runtime ${((Date.now() - started) / 1000).toFixed(1)} s`)
      this.report()
    }, error => {
      console.error(error)
      process.exitCode = 1
    })
  }

  /** Prints the counts line and a machine-readable line for the runner; sets the exit code. */
  report (): SectionResult {
    const processLosses = this.unhandledRejections + this.uncaughtExceptions
    if (this.unhandledRejections > 0) this.losses.push(`${this.unhandledRejections} unhandled rejection(s)`)
    if (this.uncaughtExceptions > 0) this.losses.push(`${this.uncaughtExceptions} uncaught exception(s)`)
    const result: SectionResult = {
      section: this.name,
      tried: this.tried + (processLosses > 0 ? 1 : 0),
      survived: this.survived,
      lost: this.tried - this.survived + (processLosses > 0 ? 1 : 0),
      notes: this.notes
    }
    console.log(`${this.name}: tried ${result.tried}, survived ${result.survived}, lost ${result.lost}`)
    console.log(RESULT_MARK + JSON.stringify(result))
    if (result.lost > 0) process.exitCode = 1
    return result
  }
}

/** Throws with `message` unless `ok`. */
export function check (ok: unknown, message: string): void {
  if (ok !== true) throw new Error(message)
}

export function equal<T> (actual: T, expected: T, message: string): void {
  if (!Object.is(actual, expected)) throw new Error(`${message}: expected ${String(expected)}, got ${String(actual)}`)
}

/** Polls `predicate` every `everyMs` until it is true; throws after `timeoutMs`. */
export async function until (predicate: () => boolean | Promise<boolean>, timeoutMs: number, what: string, everyMs = 5): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!(await predicate())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(everyMs)
  }
}

/** One parsed pino line. */
export interface LogLine {
  level: number
  msg: string
  [key: string]: any
}

export const LEVEL = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const

/** A pino destination keeping parsed lines at or above `keepLevel`, and counting all of them. */
export function logCapture (keepLevel: number = LEVEL.trace): { stream: Writable, lines: LogLine[], count: { all: number, bad: number } } {
  const lines: LogLine[] = []
  const count = { all: 0, bad: 0 }
  const stream = new Writable({
    write (chunk, _encoding, done) {
      for (const text of String(chunk).split('\n')) {
        if (text === '') continue
        count.all++
        let line: LogLine
        try {
          line = JSON.parse(text)
        } catch {
          count.bad++
          continue
        }
        if (line.level >= keepLevel) lines.push(line)
      }
      done()
    }
  })
  return { stream, lines, count }
}

/** Heap used after full garbage collections (needs --expose-gc). */
export async function settledHeap (): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('run with --expose-gc')
  for (let i = 0; i < 3; i++) {
    gc()
    await sleep(20)
  }
  return process.memoryUsage().heapUsed
}

export function mb (bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`
}
