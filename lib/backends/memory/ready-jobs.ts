import { Heap, type HeapItem } from '../../core/heap'

/** What the ready jobs are ordered by: lower priority first, then lower `seq` (enqueue order). */
export interface ReadyItem extends HeapItem {
  readonly priority: number
  readonly seq: number
}

const before = (a: ReadyItem, b: ReadyItem): boolean => a.priority < b.priority || (a.priority === b.priority && a.seq < b.seq)

/** Below it, `heapIndex` tells an item's place in the line (-2 - its position): the heap's indexes are 0 and up. */
const IN_LINE = -2

/** A line this long or shorter is emptied in place rather than replaced. */
const REUSE_UP_TO = 64

/** Past this many taken slots at its front, the line is compacted (when they are also half of it). */
const COMPACT_AFTER = 1024

/**
 * The jobs that may start now: by priority, then in enqueue order. Most jobs have the default
 * priority 0 (the highest) and become ready in enqueue order; those wait in a plain line, O(1) to
 * add and to take, so the plain path pays nothing for priorities. The others (another priority,
 * or a retry coming back behind younger jobs) wait in a heap, O(log n). The next job is the first
 * of the two; removing one (a cancel) is O(1) from the line, O(log n) from the heap.
 */
export class ReadyJobs<T extends ReadyItem> {
  readonly #heap = new Heap<T>(before)
  /** Jobs of priority 0 in enqueue order, with holes where one was removed. */
  #line: Array<T | undefined> = []
  #head = 0
  /** The position (counted since the first job ever lined up) of `#line[0]`. */
  #base = 0
  #inLine = 0
  #lastSeq = -1

  get size (): number {
    return this.#inLine + this.#heap.size
  }

  push (item: T): void {
    if (item.priority !== 0 || (this.#inLine > 0 && item.seq < this.#lastSeq)) return this.#heap.push(item)
    item.heapIndex = IN_LINE - (this.#base + this.#line.length)
    this.#line.push(item)
    this.#inLine++
    this.#lastSeq = item.seq
  }

  pop (): T | undefined {
    const first = this.firstInLine()
    const top = this.#heap.peek()
    if (first === undefined || (top !== undefined && before(top, first))) return this.#heap.pop()
    this.takeAt(this.#head)
    return first
  }

  /** Takes `item` out; false when it is not waiting here. */
  remove (item: T): boolean {
    if (item.heapIndex > IN_LINE) return this.#heap.remove(item)
    const index = IN_LINE - item.heapIndex - this.#base
    if (this.#line[index] !== item) return false
    this.takeAt(index)
    return true
  }

  private firstInLine (): T | undefined {
    while (this.#head < this.#line.length && this.#line[this.#head] === undefined) this.#head++
    return this.#line[this.#head]
  }

  private takeAt (index: number): void {
    (this.#line[index] as T).heapIndex = -1
    this.#line[index] = undefined
    this.#inLine--
    if (index === this.#head) this.#head++
    this.compact()
  }

  private compact (): void {
    if (this.#inLine === 0) {
      // Empty: a new array after a burst, so that it does not keep its backing store (8 bytes a
      // job); a short line is emptied in place, as it empties after most turns of the event loop.
      this.#base += this.#line.length
      if (this.#line.length > REUSE_UP_TO) this.#line = []
      else this.#line.length = 0
      this.#head = 0
    } else if (this.#head > COMPACT_AFTER && this.#head * 2 > this.#line.length) {
      this.#line.splice(0, this.#head)
      this.#base += this.#head
      this.#head = 0
    }
  }
}
