// Several replicas as separate processes sharing one store (Redis, then PostgreSQL): each due time runs once across
// them, and a job whose replica is SIGKILLed is finished by another.
import t from 'tap'
import { buildBullApp, forget, startReplica, stopReplica, uniquePrefix, until, useStore } from './helpers/redis'
import { STORES } from './helpers/stores'

for (const store of STORES) {
  t.test(store.name, { skip: store.skip }, async t => {
    useStore(store)

    t.test('every due time of an every task runs exactly once across three replicas', async t => {
      const prefix = uniquePrefix()
      const every = 200
      const replicas = [1, 2, 3].map(() => startReplica({ ...store.env(prefix), EVERY_MS: String(every) }))
      t.teardown(async () => {
        await Promise.all(replicas.map(replica => stopReplica(replica)))
        await forget(prefix)
      })
      await until(() => replicas.every(replica => replica.lines.includes('ready')), 20_000, 'the replicas to start')
      // Starting node processes loads the machine; count gaps only once all of them run.
      const settledAt = Date.now() + 500
      const fires = (): Array<{ due: number, replica: number }> => replicas.flatMap((replica, index) =>
        replica.lines.filter(line => line.startsWith('fire ')).map(line => ({ due: Number(line.slice(5)), replica: index })))
      await until(() => new Set(fires().map(fire => fire.due)).size >= 35, 20_000, '35 due times')
      await Promise.all(replicas.map(replica => stopReplica(replica)))

      const all = fires()
      const dues = all.map(fire => fire.due)
      const distinct = new Set(dues)
      t.ok(distinct.size >= 35, `${distinct.size} due times ran`)
      t.equal(dues.length, distinct.size, 'no due time ran twice')
      t.ok(dues.every(due => due % every === 0), 'due times are multiples of every from the epoch')
      const sorted = [...distinct].filter(due => due >= settledAt).sort((a, b) => a - b)
      const missed = (sorted[sorted.length - 1] - sorted[0]) / every + 1 - sorted.length
      t.ok(missed <= 2, `at most 2 due times missed once all replicas ran (${missed} of ${sorted.length})`)
      t.ok(new Set(all.map(fire => fire.replica)).size >= 2, 'more than one replica ran the task')
    })

    t.test('a job whose replica is SIGKILLed mid-run is finished by another replica', async t => {
      const prefix = uniquePrefix()
      const fast = { lockDuration: 1000, stalledInterval: 500 }
      const doomed = startReplica({ ...store.env(prefix), LOCK_MS: String(fast.lockDuration), STALLED_MS: String(fast.stalledInterval) })
      t.teardown(async () => {
        await stopReplica(doomed, 'SIGKILL')
        await forget(prefix)
      })
      await until(() => doomed.lines.includes('ready'), 20_000, 'the replica to start')

      // This process enqueues and reports status, but takes no job until the other replica is dead.
      const { app: producer } = await buildBullApp(prefix, { jobs: { slow: async () => {} } }, { workerOptions: { autorun: false } })
      t.teardown(() => producer.close())
      await producer.ready()
      const { id } = await producer.background.enqueue('slow', { ms: 3000 })
      await until(() => doomed.lines.includes(`start ${id}`), 10_000, 'the job to start')
      t.equal((await producer.background.status(id))?.status, 'running')
      await stopReplica(doomed, 'SIGKILL')

      const ran: string[] = []
      const { app: survivor } = await buildBullApp(prefix, {
        jobs: { slow: async ctx => { ran.push(ctx.id) } }
      }, { workerOptions: fast })
      t.teardown(() => survivor.close())
      await survivor.ready()
      await until(async () => (await producer.background.status(id))?.status === 'succeeded', 15_000, 'the job to succeed elsewhere')
      t.same(ran, [id], 'the surviving replica ran the job')
      t.notOk(doomed.lines.includes(`done ${id}`), 'the killed replica never finished it')
    })
  })
}
