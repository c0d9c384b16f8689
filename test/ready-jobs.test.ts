import t from 'tap'
import fc from 'fast-check'
import { ReadyJobs, type ReadyItem } from '../lib/backends/memory/ready-jobs'

interface Item extends ReadyItem {
  priority: number
  seq: number
}

const item = (priority: number, seq: number): Item => ({ priority, seq, heapIndex: -1 })
const inOrder = (a: Item, b: Item): number => a.priority - b.priority || a.seq - b.seq

function drain (ready: ReadyJobs<Item>): Item[] {
  const popped: Item[] = []
  for (let next = ready.pop(); next !== undefined; next = ready.pop()) popped.push(next)
  return popped
}

t.test('jobs leave by priority, then seq, whatever is pushed, popped and removed between', async () => {
  // Mostly priority 0, as in use; seqs mostly rising, with some going back (a retry keeps its seq).
  const operation = fc.record({
    priority: fc.constantFrom(0, 0, 0, 0, 1, 2),
    back: fc.integer({ min: 0, max: 30 }),
    goesBack: fc.boolean(),
    pops: fc.integer({ min: 0, max: 2 }),
    remove: fc.boolean()
  })
  fc.assert(fc.property(fc.array(operation, { maxLength: 300 }), operations => {
    const ready = new ReadyJobs<Item>()
    const waiting: Item[] = []
    const used = new Set<number>()
    let seq = 100
    for (const { priority, back, goesBack, pops, remove } of operations) {
      // Seqs are unique, as the queue's are: order among equals is by seq alone.
      const pushedSeq = goesBack ? seq - back - 0.5 : seq++
      if (used.has(pushedSeq)) continue
      used.add(pushedSeq)
      const pushed = item(priority, pushedSeq)
      ready.push(pushed)
      waiting.push(pushed)
      waiting.sort(inOrder)
      for (let i = 0; i < pops; i++) {
        if (ready.pop() !== waiting.shift()) return false
      }
      if (remove && waiting.length > 0) {
        const victim = waiting.splice(Math.floor(waiting.length / 2), 1)[0]
        if (!ready.remove(victim) || victim.heapIndex !== -1) return false
      }
      if (ready.size !== waiting.length) return false
    }
    const rest = drain(ready)
    return rest.length === waiting.length && rest.every((left, index) => left === waiting[index]) && ready.size === 0
  }))
})

t.test('a long line stays in order while its front is compacted away', async t => {
  const ready = new ReadyJobs<Item>()
  const items = Array.from({ length: 5000 }, (_, seq) => item(0, seq))
  for (const pushed of items) ready.push(pushed)
  const popped: Item[] = []
  for (let i = 0; i < 3000; i++) popped.push(ready.pop() as Item)
  t.ok(ready.remove(items[4000]), 'a job far in line, after compaction')
  t.notOk(ready.remove(items[4000]), 'a job already removed')
  t.notOk(ready.remove(items[10]), 'a job already popped')
  popped.push(...drain(ready))
  t.same(popped.map(left => left.seq), items.filter(left => left.seq !== 4000).map(left => left.seq))
})

t.test('removing a job that is not waiting changes nothing', async t => {
  const ready = new ReadyJobs<Item>()
  const lined = item(0, 1)
  const heaped = item(3, 2)
  ready.push(lined)
  ready.push(heaped)
  t.notOk(ready.remove(item(0, 0)))
  t.notOk(ready.remove(item(3, 0)))
  const another = new ReadyJobs<Item>()
  const elsewhere = item(0, 3)
  another.push(elsewhere)
  t.notOk(ready.remove(elsewhere), 'a job in line in another queue')
  t.equal(another.size, 1)
  t.equal(ready.size, 2)
  t.same(drain(ready), [lined, heaped])
  t.equal(ready.pop(), undefined)
})
