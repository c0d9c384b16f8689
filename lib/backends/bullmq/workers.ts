import { WaitingError, Worker, type Job, type WorkerOptions } from 'bullmq'
import { untilDeadline } from '../../core/shutdown'
import { sleep } from '../../core/timers'
import type { StoreDriver } from './driver'
import type { StoreErrors } from './outage'

const STOP_POLL_MS = 10

type Processor = (job: Job, token: string | undefined) => Promise<unknown>

/**
 * This replica's BullMQ workers (one per queue it takes work from), and the runs in progress on
 * them, which close waits for. A run close gives up on is not failed: it is left to BullMQ, whose
 * lock lapses, so that another replica takes the job again.
 */
export class Workers {
  readonly #workers: Worker[] = []
  readonly #closing = new AbortController()
  #gaveUp = false
  #handedBack = false
  /** Each run in progress here (settling when it does), with what aborts it if close gives up on it. */
  readonly #running = new Map<Promise<unknown>, () => void>()
  /** Per job id taken here: resolves once BullMQ has recorded its outcome (its 'completed' or 'failed' event). */
  readonly #recording = new Map<string, Promise<void>>()
  readonly #recorded = new Map<string, () => void>()

  constructor (
    private readonly driver: StoreDriver,
    private readonly options: Omit<WorkerOptions, 'connection'>,
    private readonly errors: StoreErrors
  ) {}

  /** Aborts as this replica starts closing. */
  get closing (): AbortSignal {
    return this.#closing.signal
  }

  /** Runs in progress here. */
  get running (): number {
    return this.#running.size
  }

  /** Starts a worker on `queueName`. A job it takes once this replica closes goes back to the queue at once. */
  start (queueName: string, processor: Processor, overrides?: Partial<WorkerOptions>): void {
    const { workerConnection: connection, prefix, factory } = this.driver
    const worker = new Worker(queueName, (job, token) => this.closing.aborted ? this.handBack(job, token) : processor(job, token),
      { ...this.options, connection, prefix, ...overrides }, factory as undefined)
    worker.on('error', this.errors.listener(`the worker of ${queueName} failed`))
    worker.on('completed', job => this.recorded(job))
    worker.on('failed', job => this.recorded(job))
    this.#workers.push(worker)
  }

  /**
   * Tracks `work`, the run of `job` here, until it settles. If close gives up waiting for it,
   * `abort` is called, and what the processor returns never settles: BullMQ neither completes
   * nor fails the job, and its lock lapses.
   */
  async track<T> (job: Job, work: Promise<T>, abort?: () => void): Promise<T> {
    const id = job.id as string
    this.#recording.set(id, new Promise(resolve => this.#recorded.set(id, resolve)))
    try {
      return await this.hold(work, abort)
    } finally {
      if (this.#gaveUp) await this.abandon(id)
    }
  }

  /** A job this replica took but will not run goes back to the queue at once, for another replica. */
  async handBack (job: Job, token: string | undefined): Promise<never> {
    this.#handedBack = true
    this.forget(job.id as string)
    // Close waits for it: the workers' connections must outlive the move.
    await this.hold(job.moveToWait(token))
    throw new WaitingError()
  }

  /** preClose: this replica takes no new job from now on; what is queued stays in the store for the others. */
  stopTaking (): void {
    this.#closing.abort()
    for (const worker of this.#workers) worker.pause(true).catch(this.errors.listener('pausing a worker at close failed'))
  }

  /** Resolves when no run is in progress here (a job taken meanwhile, as a worker pauses, included). */
  async settled (): Promise<void> {
    while (this.#running.size > 0) await Promise.all(this.#running.keys())
  }

  /** The shutdown timeout has passed: abort what still runs here, and leave it to BullMQ. */
  giveUp (): void {
    this.#gaveUp = true
    for (const abort of this.#running.values()) abort()
  }

  /**
   * Lets BullMQ record the outcomes of the runs that ended (unless the store cannot take them), then
   * closes the workers; by `deadline`, so that an outage cannot hang the close.
   */
  async close (deadline: number): Promise<void> {
    await untilDeadline(Promise.all(this.#recording.values()), deadline)
    if (this.#handedBack && !this.#gaveUp) await this.stopped(deadline)
    await Promise.all(this.#workers.map(async worker => {
      await untilDeadline(this.driver.closable(worker), deadline)
      await worker.close(true).catch(this.errors.listener('closing a worker failed'))
    }))
  }

  /**
   * A job handed back wakes this replica's own last wait for a job, which takes it again, and
   * hands it back again: until the workers have stopped (or `deadline`), their connections stay.
   */
  private async stopped (deadline: number): Promise<void> {
    while (Date.now() < deadline && (this.#running.size > 0 || this.#workers.some(worker => worker.isRunning()))) await sleep(STOP_POLL_MS)
  }

  /** `work` counts as in progress here until it settles. */
  private async hold<T> (work: Promise<T>, abort: () => void = () => {}): Promise<T> {
    const settled = work.then(() => {}, () => {})
    this.#running.set(settled, abort)
    try {
      return await work
    } finally {
      this.#running.delete(settled)
    }
  }

  private recorded (job: Job | undefined): void {
    const id = job?.id as string
    this.#recorded.get(id)?.()
    this.forget(id)
  }

  private abandon (id: string): Promise<never> {
    this.forget(id)
    return new Promise(() => {})
  }

  private forget (id: string): void {
    this.#recording.delete(id)
    this.#recorded.delete(id)
  }
}
