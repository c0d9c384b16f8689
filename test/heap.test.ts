import t from 'tap'
import fc from 'fast-check'
import { Heap, type HeapItem } from '../lib/core/heap'

interface Item extends HeapItem {
  key: number
  seq: number
}

const before = (a: Item, b: Item): boolean => a.key < b.key || (a.key === b.key && a.seq < b.seq)

t.test('the heap pops in order, ties by insertion, whatever is pushed and removed between', async () => {
  fc.assert(fc.property(
    fc.array(fc.record({ key: fc.integer({ min: 0, max: 20 }), remove: fc.boolean() }), { maxLength: 200 }),
    operations => {
      const heap = new Heap<Item>(before)
      const kept: Item[] = []
      operations.forEach(({ key, remove }, seq) => {
        const item = { key, seq, heapIndex: -1 }
        heap.push(item)
        kept.push(item)
        if (remove && kept.length > 1) {
          const victim = kept.splice(Math.floor(kept.length / 2), 1)[0]
          if (!heap.remove(victim) || victim.heapIndex !== -1) throw new Error('remove failed')
        }
      })
      kept.sort((a, b) => before(a, b) ? -1 : 1)
      const popped: Item[] = []
      for (let item = heap.pop(); item !== undefined; item = heap.pop()) popped.push(item)
      return popped.length === kept.length && popped.every((item, index) => item === kept[index]) && heap.size === 0
    }
  ))
})

t.test('removing an item that is not in the heap changes nothing', async t => {
  const heap = new Heap<Item>(before)
  const inside = { key: 1, seq: 0, heapIndex: -1 }
  const outside = { key: 0, seq: 1, heapIndex: -1 }
  heap.push(inside)
  t.equal(heap.remove(outside), false)
  t.equal(heap.size, 1)
  t.same(heap.clear(), [inside])
  t.equal(inside.heapIndex, -1)
  t.equal(heap.pop(), undefined)
})
