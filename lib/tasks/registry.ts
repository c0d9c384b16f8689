import { ClosingError, InvalidOptionError, UnknownTaskError } from '../core/errors'
import type { TaskSpec } from '../core/model'
import { readTask } from '../core/options'
import { drainWithin } from '../core/shutdown'
import { Lifecycle } from './lifecycle'
import { Task, type TaskEnv } from './task'
import { TimedDriver } from './timed-driver'
import type { DashboardTask, RunResult, TaskDefinition, TaskInfo, TaskRegistry } from '../types'

/** Waiting for ready, then ready; closing for good from either (close may come before ready). */
type RegistryLifecycle = 'waiting' | 'ready' | 'closing'

const TRANSITIONS: Record<RegistryLifecycle, readonly RegistryLifecycle[]> = {
  waiting: ['ready', 'closing'],
  ready: ['closing'],
  closing: []
}

/** The tasks of one plugin instance: `app.tasks`, and their part in the app's lifecycle. */
export class Registry {
  readonly #tasks = new Map<string, Task>()
  /** Drives all the timed tasks; each loop has a driver of its own. */
  readonly #timed: TimedDriver
  readonly #lifecycle = new Lifecycle<RegistryLifecycle>('waiting', TRANSITIONS)
  /** The public face, `app.tasks`: bound methods only, so lifecycle methods stay internal. */
  readonly api: TaskRegistry = {
    list: () => [...this.#tasks.values()].map(task => task.info()),
    get: name => this.#tasks.get(name)?.info(),
    add: definition => this.add(definition),
    remove: name => this.remove(name),
    pause: name => this.with(name, task => task.pause()),
    resume: name => this.with(name, task => task.resume()),
    trigger: name => this.trigger(name)
  }

  constructor (private readonly env: TaskEnv, specs: TaskSpec[]) {
    this.#timed = new TimedDriver(env.backend)
    for (const spec of specs) this.#tasks.set(spec.name, new Task(spec, env, this.#timed))
  }

  /** Every task with its schedule, for the dashboard. */
  overview (): DashboardTask[] {
    return Array.from(this.#tasks.values(), task => task.overview())
  }

  /** onReady: every task starts, anchored at this moment. */
  start (now: number): void {
    // close() called while ready() was pending runs the close hooks first: start nothing after them.
    if (this.#lifecycle.current === 'closing') return
    this.#lifecycle.moveTo('ready')
    for (const task of this.#tasks.values()) task.start(now)
  }

  /** preClose: nothing new starts; loops are aborted at once. */
  stop (): void {
    if (this.#lifecycle.current === 'closing') return
    this.#lifecycle.moveTo('closing')
    for (const task of this.#tasks.values()) task.stop('the application is closing')
  }

  /** onClose: waits for runs in progress until `deadline`, then aborts them (see `drainWithin`). */
  async close (deadline: number): Promise<void> {
    this.stop()
    const tasks = [...this.#tasks.values()]
    await drainWithin({
      // Nothing new starts once stopped: the tasks with no run in progress now have nothing to wait for.
      settled: () => Promise.all(tasks.filter(task => task.running > 0).map(task => task.settled())),
      abort: () => tasks.forEach(task => task.cancelRuns('shutdown timeout reached', 'task run still running at the shutdown timeout: aborting it')),
      abandon: () => tasks.forEach(task => task.cancelRuns('shutdown timeout reached', 'task run abandoned at close: it did not finish disposing its scope'))
    }, deadline)
  }

  private add (definition: TaskDefinition): TaskInfo {
    if (this.#lifecycle.current === 'closing') throw new ClosingError()
    const spec = readTask(definition, 'task')
    if (this.#tasks.has(spec.name)) throw new InvalidOptionError('task.name', `duplicate task name "${spec.name}"`)
    this.env.backend.checkTask?.(spec, 'task')
    const task = new Task(spec, this.env, this.#timed)
    this.#tasks.set(spec.name, task)
    if (this.#lifecycle.current === 'ready') task.start(Date.now())
    return task.info()
  }

  private async remove (name: string): Promise<boolean> {
    const task = this.#tasks.get(name)
    if (task === undefined) return false
    this.#tasks.delete(name)
    task.stop('the task was removed')
    task.cancelRuns('the task was removed')
    await task.settled()
    return true
  }

  private trigger (name: string): Promise<RunResult> {
    const task = this.#tasks.get(name)
    return task === undefined ? Promise.reject(new UnknownTaskError(name)) : task.trigger()
  }

  private with (name: string, action: (task: Task) => void): boolean {
    const task = this.#tasks.get(name)
    if (task !== undefined) action(task)
    return task !== undefined
  }
}
