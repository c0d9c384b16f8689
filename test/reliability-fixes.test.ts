import { test } from 'tap'
import { describeError, toError } from '../lib/failure'
import { buildApp, LEVEL, linesWith } from './helpers/app'
import { guardUnhandled } from './helpers/tasks'

// Defects the reliability suite (reliability/) found, each pinned by a unit test.

function revokedProxy (): object {
  const { proxy, revoke } = Proxy.revocable({}, {})
  revoke()
  return proxy
}

function errorWithThrowingMessage (): Error {
  const error = new Error('x')
  Object.defineProperty(error, 'message', { get () { throw new Error('getter') } })
  return error
}

test('describeError and toError never throw, whatever was thrown', async t => {
  t.equal(describeError(revokedProxy()), 'an unreadable value')
  t.equal(describeError(errorWithThrowingMessage()), '[object Error]')
  t.match(toError(revokedProxy()).message, 'Non-error thrown: an unreadable value')
  t.equal(toError(errorWithThrowingMessage()).message, 'Non-error thrown: [object Error]')
})

test('a thrown revoked proxy, an unreadable Error or a thenable whose then() throws is a failure', async t => {
  guardUnhandled(t)
  const faults = {
    proxy: () => { throw revokedProxy() },
    message: () => { throw errorWithThrowingMessage() },
    thenable: () => ({ then () { throw new Error('then boom') } })
  }
  const { app, lines } = await buildApp({
    jobs: faults,
    tasks: Object.entries(faults).map(([name, handler]) => ({ name, every: '1h', handler }))
  })
  await app.ready()
  t.teardown(() => app.close())
  for (const name of Object.keys(faults)) {
    t.match(await app.tasks.trigger(name), { status: 'failed' }, `task ${name}`)
    const { id } = await app.background.enqueue(name)
    await app.background.drain()
    t.match(await app.background.status(id), { status: 'failed' }, `job ${name}`)
  }
  t.match(await app.tasks.trigger('thenable'), { error: 'then boom' })
  t.equal(linesWith(lines, 'failed', LEVEL.error).length, 7, 'each failure logged')
})

test('retention: null is refused', async t => {
  await t.rejects(buildApp({ retention: null as any }), { code: 'FST_BACKGROUND_INVALID_OPTION', message: /retention/ })
})

test('an unknown job name that is not a string, or very long, answers FST_BACKGROUND_UNKNOWN_JOB with a short message', async t => {
  const { app } = await buildApp()
  app.post('/', async (_request, reply) => reply.accepted(Object.create(null)))
  app.post('/long', async (_request, reply) => reply.accepted('a'.repeat(10_000)))
  await app.ready()
  t.teardown(() => app.close())
  const response = await app.inject({ method: 'POST', url: '/' })
  t.equal(response.statusCode, 500)
  t.match(response.json(), { code: 'FST_BACKGROUND_UNKNOWN_JOB', message: /"{}"/ })
  const long = await app.inject({ method: 'POST', url: '/long' })
  t.match(long.json(), { code: 'FST_BACKGROUND_UNKNOWN_JOB' })
  t.ok(long.body.length < 500, 'the name is cut short')
  await t.rejects(app.background.enqueue(Object.create(null)), { code: 'FST_BACKGROUND_UNKNOWN_JOB' })
})

test('close() called while ready() is pending starts nothing: no loop runs, no timer is left armed', async t => {
  let runs = 0
  const { app } = await buildApp({
    tasks: [
      { name: 'every', every: 1000, immediate: true, handler: () => { runs++ } },
      { name: 'loop', loop: true, handler: async ctx => { runs++; await ctx.sleep(60_000) } }
    ]
  })
  const ready = app.ready()
  await app.close()
  await ready
  await new Promise(resolve => setTimeout(resolve, 20))
  t.equal(runs, 0)
  for (const info of app.tasks.list()) t.match(info, { state: 'stopped', nextRunAt: null, running: 0 })
})
