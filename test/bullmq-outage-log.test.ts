import { createServer, type AddressInfo } from 'node:net'
import FakeTimers from '@sinonjs/fake-timers'
import { Redis, ReplyError } from 'ioredis'
import t from 'tap'
import { isConnectionError, OUTAGE_LOG_EVERY_MS, OutageLog, StoreErrors } from '../lib/backends/bullmq/outage'
import { linesWith, logCapture } from './helpers/app'
import Fastify from 'fastify'

t.test('an outage is logged once, then once per interval with what was suppressed, and its end once', async t => {
  const clock = FakeTimers.install({ toFake: ['Date'] })
  t.teardown(() => clock.uninstall())
  const { stream, lines } = logCapture()
  const app = Fastify({ logger: { level: 'info', stream } })
  const outage = new OutageLog(app.log)
  t.equal(outage.restored(), false, 'no outage to end')
  outage.error(new Error('ECONNREFUSED'))
  outage.error(new Error('ECONNREFUSED'))
  outage.error(new Error('ECONNREFUSED'))
  t.equal(lines.length, 1)
  clock.tick(OUTAGE_LOG_EVERY_MS)
  outage.error(new Error('ECONNREFUSED'))
  t.match(lines[1], { msg: 'Redis still failing', suppressed: 2, downMs: OUTAGE_LOG_EVERY_MS })
  clock.tick(5)
  t.equal(outage.restored(), true)
  t.match(linesWith(lines, 'Redis reachable again'), [{ downMs: OUTAGE_LOG_EVERY_MS + 5 }])
  t.equal(outage.restored(), false, 'ended once')
  await app.close()
})

t.test('an error counts as an outage only when it says Redis cannot be reached', async t => {
  // A port nothing listens on: ioredis' own errors, as it reports them.
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise(resolve => server.close(resolve))
  const refusedClient = new Redis({ port, lazyConnect: true, retryStrategy: () => null })
  const retriesClient = new Redis({ port, maxRetriesPerRequest: 0, retryStrategy: () => 10 })
  retriesClient.on('error', () => {})
  const refusedEvent = new Promise<Error>(resolve => refusedClient.once('error', resolve))
  const closed: Error = await refusedClient.connect().catch(error => error)
  const refusedConnect = await refusedEvent
  t.match(refusedConnect, { code: 'ECONNREFUSED' })
  const maxRetries: Error = await retriesClient.get('x').catch(error => error)
  retriesClient.disconnect()
  t.match(maxRetries, { name: 'MaxRetriesPerRequestError' })

  const lost = [
    refusedConnect,
    closed,
    maxRetries,
    Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
    Object.assign(new Error('getaddrinfo ENOTFOUND redis'), { code: 'ENOTFOUND' }),
    new Error('connect ETIMEDOUT'),
    new Error('Connection is closed.'),
    new Error("Stream isn't writeable and enableOfflineQueue options is false"),
    new Error('Command timed out'),
    new Error('LOADING Redis is loading the dataset in memory'),
    // PostgreSQL (pg): a server shutting down or restarting, a lost connection, a name with two addresses refused.
    Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
    Object.assign(new Error('the database system is starting up'), { code: '57P03' }),
    Object.assign(new Error('connection failure'), { code: '08006' }),
    new Error('Connection terminated unexpectedly'),
    new Error('timeout exceeded when trying to connect'),
    new AggregateError([Object.assign(new Error('connect ECONNREFUSED ::1:5432'), { code: 'ECONNREFUSED' })], '')
  ]
  const refused = [
    new ReplyError('WRONGTYPE Operation against a key holding the wrong kind of value'),
    new ReplyError('NOSCRIPT No matching script'),
    Object.assign(new Error('ERR unknown command'), { code: 42 }),
    // PostgreSQL refusing a statement: a missing table, a syntax error; an AggregateError of those.
    Object.assign(new Error('relation "fastify_background" does not exist'), { code: '42P01' }),
    Object.assign(new Error('syntax error at or near "SELEC"'), { code: '42601' }),
    new AggregateError([Object.assign(new Error('permission denied'), { code: '42501' })], '')
  ]
  for (const error of lost) t.equal(isConnectionError(error), true, error.message)
  for (const error of refused) t.equal(isConnectionError(error), false, error.message)

  const { stream, lines } = logCapture()
  const app = Fastify({ logger: { level: 'info', stream } })
  const errors = new StoreErrors(app.log, 'Redis')
  for (const error of refused) errors.listener('the worker failed')(error)
  for (const error of lost) errors.report(error, 'a lock could not be refreshed', { task: 'a' })
  errors.restored()
  t.match(lines, [
    ...refused.map(error => ({ msg: 'the worker failed', err: { message: error.message } })),
    { msg: /^Redis error/, err: { message: refusedConnect.message } },
    { msg: /^Redis reachable again/ }
  ], 'each refusal logged, the outage once')
  t.equal(lines.length, refused.length + 2)
  await app.close()
})
