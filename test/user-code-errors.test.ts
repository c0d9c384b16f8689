import { test } from 'tap'
import { describeError, toError } from '../lib/core/failure'
import { buildApp, LEVEL, linesWith } from './helpers/app'
import { guardUnhandled } from './helpers/tasks'

// User code may throw anything, however unreadable: it is recorded as a failure, never a crash.

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
