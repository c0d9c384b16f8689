import { test } from 'tap'
import { newId } from '../lib/core/id'
import { UUID } from './helpers/jobs'

test('ids are random version 4 UUIDs, one flat string each, distinct across refills of the random pool', async t => {
  // More ids than the pool holds (256 a fill): ids from several fills.
  const ids = Array.from({ length: 2000 }, () => newId())
  t.ok(ids.every(id => UUID.test(id)), 'each is a v4 UUID with the RFC 9562 variant')
  t.equal(new Set(ids).size, ids.length, 'no two alike')
  // Every hex digit is used at every random position: the bytes are written out, not a pattern.
  const digits = new Set(ids.map(id => id[0] + id[35]).join(''))
  t.equal(digits.size, 16)
  const variants = new Set(ids.map(id => id[19]))
  t.same([...variants].sort(), ['8', '9', 'a', 'b'])
})
