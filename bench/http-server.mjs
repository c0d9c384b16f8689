// Row 1: the server, in its own process. Routes on one app with the plugin registered: a plain
// 202, a hand-written fire-and-forget route, reply.accepted(fn) with a trivial job, and
// reply.accepted(name, data).
// With BENCH_METRICS=1 the plugin's metrics are on (prom-client, a registry of its own), for the
// metrics on / off rows. Prints the URL on stdout once listening; exits on SIGTERM or when stdin closes.
import { randomUUID } from 'node:crypto'
import { createRequire } from 'node:module'
import { Fastify, fastifyBackground } from './common.mjs'

const metrics = process.env.BENCH_METRICS === '1' ? { registry: new (createRequire(import.meta.url)('prom-client').Registry)() } : false
const app = Fastify({ logger: false })
await app.register(fastifyBackground, {
  jobs: { noop: async () => {} },
  metrics
})
const noop = async () => {}
app.post('/plain', async (request, reply) => reply.code(202).send())
app.post('/fn', async (request, reply) => reply.accepted(noop))
app.post('/named', async (request, reply) => reply.accepted('noop', { n: 1 }))
// The hand-written fire-and-forget route the plugin is measured against (issue 13): a random id,
// the job on setImmediate, the same { id, status } 202 body.
app.post('/hand', async (request, reply) => {
  const id = randomUUID()
  setImmediate(noop)
  return reply.code(202).send({ id, status: 'queued' })
})
app.post('/plain-body', async (request, reply) => reply.code(202).send({ id: '9a160ec4-7c05-4432-9624-856eac163630', status: 'queued' }))
app.get('/stats', () => app.background.stats())
app.get('/cpu', () => process.cpuUsage())
const url = await app.listen({ port: 0, host: '127.0.0.1' })
process.stdout.write(url + '\n')

const stop = async () => {
  await app.close()
  process.exit(0)
}
process.on('SIGTERM', stop)
process.stdin.on('end', stop)
process.stdin.resume()
