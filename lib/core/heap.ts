/** An item of a `Heap`: it knows its place, so it can be taken out from anywhere in O(log n). */
export interface HeapItem {
  /** Its index in the heap; -1 when it is in none. */
  heapIndex: number
}

/** A binary min-heap under `before`; `push`, `pop` and `remove` are O(log n). */
export class Heap<T extends HeapItem> {
  readonly #items: T[] = []

  constructor (private readonly before: (a: T, b: T) => boolean) {}

  get size (): number {
    return this.#items.length
  }

  peek (): T | undefined {
    return this.#items[0]
  }

  push (item: T): void {
    this.#items.push(item)
    this.up(this.#items.length - 1)
  }

  pop (): T | undefined {
    const top = this.#items[0]
    if (top !== undefined) this.remove(top)
    return top
  }

  /** Takes `item` out; false when it is not in this heap. */
  remove (item: T): boolean {
    const index = item.heapIndex
    if (this.#items[index] !== item) return false
    const last = this.#items.pop() as T
    item.heapIndex = -1
    if (last !== item) {
      this.place(last, index)
      this.down(index)
      this.up(index)
    }
    return true
  }

  /** Empties the heap, returning what it held (in no particular order). */
  clear (): T[] {
    const items = this.#items.splice(0)
    for (const item of items) item.heapIndex = -1
    return items
  }

  private up (index: number): void {
    const item = this.#items[index]
    while (index > 0) {
      const parent = (index - 1) >> 1
      if (!this.before(item, this.#items[parent])) break
      this.place(this.#items[parent], index)
      index = parent
    }
    this.place(item, index)
  }

  private down (index: number): void {
    const items = this.#items
    const item = items[index]
    for (;;) {
      let child = 2 * index + 1
      if (child >= items.length) break
      if (child + 1 < items.length && this.before(items[child + 1], items[child])) child++
      if (!this.before(items[child], item)) break
      this.place(items[child], index)
      index = child
    }
    this.place(item, index)
  }

  private place (item: T, index: number): void {
    this.#items[index] = item
    item.heapIndex = index
  }
}
