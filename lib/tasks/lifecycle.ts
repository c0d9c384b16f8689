import assert from 'node:assert/strict'

/** One object's lifecycle: a named state, changed only along the transitions it was given. */
export class Lifecycle<State extends string> {
  #current: State

  constructor (initial: State, private readonly transitions: Readonly<Record<State, readonly State[]>>) {
    this.#current = initial
  }

  get current (): State {
    return this.#current
  }

  moveTo (next: State): void {
    this.#current = transition(this.transitions, this.#current, next)
  }
}

/**
 * `next`, once checked against `transitions`: any change they do not list is a bug in the plugin,
 * not a user's mistake. For an object that keeps its state in a field of its own (a task: no
 * Lifecycle object for each of 100,000).
 */
export function transition<State extends string> (transitions: Readonly<Record<State, readonly State[]>>, current: State, next: State): State {
  assert.ok(transitions[current].includes(next), `lifecycle cannot go from ${current} to ${next}`)
  return next
}
