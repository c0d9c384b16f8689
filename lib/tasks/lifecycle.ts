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

  /** Any change the transitions do not list is a bug in the plugin, not a user's mistake. */
  moveTo (next: State): void {
    assert.ok(this.transitions[this.#current].includes(next), `lifecycle cannot go from ${this.#current} to ${next}`)
    this.#current = next
  }
}
