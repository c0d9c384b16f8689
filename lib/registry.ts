import { ClosingError, InvalidOptionError, UnknownTaskError } from './errors'
import { readTask, type TaskSpec } from './options'
import { drainWithin } from './shutdown'
import { Task, type TaskEnv } from './task'
import type { RunResult, TaskDefinition, TaskInfo, TaskRegistry } from './types'

/** The tasks of one plugin instance: `app.tasks`, and their part in the app's lifecycle. */
export class Registry {
  readonly #tasks = new Map<string, Task>()
  #readyAt: number | undefined
  #closing = false
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
    for (const spec of specs) this.#tasks.set(spec.name, new Task(spec, env))
  }

  /** onReady: every task starts, anchored at this moment. */
  start (now: number): void {
    // close() called while ready() was pending runs the close hooks first: start nothing after them.
    if (this.#closing) return
    this.#readyAt = now
    for (const task of this.#tasks.values()) task.start(now)
  }

  /** preClose: nothing new starts; loops are aborted at once. */
  stop (): void {
    this.#closing = true
    for (const task of this.#tasks.values()) task.stop('the application is closing')
  }

  /** onClose: waits for runs in progress until `deadline`, then aborts them (see `drainWithin`). */
  async close (deadline: number): Promise<void> {
    this.stop()
    const tasks = [...this.#tasks.values()]
    await drainWithin({
      settled: () => Promise.all(tasks.map(task => task.settled())),
      abort: () => tasks.forEach(task => task.cancelRuns('shutdown timeout reached', 'task run still running at the shutdown timeout: aborting it')),
      abandon: () => tasks.forEach(task => task.cancelRuns('shutdown timeout reached', 'task run abandoned at close: it did not finish disposing its scope'))
    }, deadline)
  }

  private add (definition: TaskDefinition): TaskInfo {
    if (this.#closing) throw new ClosingError()
    const spec = readTask(definition, 'task')
    if (this.#tasks.has(spec.name)) throw new InvalidOptionError('task.name', `duplicate task name "${spec.name}"`)
    this.env.backend.checkTask?.(spec, 'task')
    const task = new Task(spec, this.env)
    this.#tasks.set(spec.name, task)
    if (this.#readyAt !== undefined) task.start(Date.now())
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
