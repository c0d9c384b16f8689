// The lowest bullmq of the declared peer range runs the backend for real: a replica whose
// require('bullmq') resolves to bullmq 6.0.0 runs a named job and a timed task through Redis.
import { join } from 'node:path'
import t from 'tap'
import { deleteKeys, redisSkipReason, startReplica, stopReplica, uniquePrefix, until } from './helpers/redis'

const skip = redisSkipReason()
const LOWEST = join(__dirname, 'fixtures', 'lowest-bullmq.cjs')
const { peerDependencies } = require('../package.json') as { peerDependencies: Record<string, string> }

t.test('the peer range starts at the bullmq the tests run', async t => {
  t.equal(peerDependencies.bullmq, '^6.0.0')
  t.equal(peerDependencies.ioredis, '^5.0.0')
})

t.test('a replica on bullmq 6.0.0 runs a named job and a timed task, and answers status', { skip }, async t => {
  const prefix = uniquePrefix()
  const replica = startReplica({ PREFIX: prefix, EVERY_MS: '100', ENQUEUE_MS: '10' }, ['--require', LOWEST])
  t.teardown(async () => {
    await stopReplica(replica)
    await deleteKeys(prefix)
  })
  await until(() => replica.lines.some(line => line.startsWith('status ')) && replica.lines.filter(line => line.startsWith('fire ')).length >= 2,
    20_000, 'the job to end and the task to fire twice')
  t.equal(replica.lines[0], 'bullmq 6.0.0')
  const id = (replica.lines.find(line => line.startsWith('enqueued ')) as string).slice('enqueued '.length)
  t.ok(replica.lines.includes(`done ${id}`))
  t.ok(replica.lines.includes(`status ${id} succeeded`))
})
