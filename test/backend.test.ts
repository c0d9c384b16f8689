import { test } from 'tap'
import Fastify from 'fastify'
import fastifyBackground from '../lib/index'
import { memoryBackend } from '../lib/backends/memory/backend'
import { InvalidOptionError } from '../lib/core/errors'
import type { BackendAdapter } from '../lib/backends/backend'

test('a backend may refuse task options at registration with checkTask; jobs go through the backend it wraps', async t => {
  const checked: string[] = []
  const backend: BackendAdapter = {
    ...memoryBackend(),
    checkTask (task, path) {
      checked.push(path)
      if (task.delay > 0) throw new InvalidOptionError(`${path}.delay`, 'is not supported by this backend')
    }
  }
  const refused = Fastify()
  refused.register(fastifyBackground, {
    backend,
    tasks: [
      { name: 'a', every: '1m', handler: () => {} },
      { name: 'b', every: '1m', delay: 10, handler: () => {} }
    ]
  })
  await t.rejects(async () => { await refused.ready() }, { code: 'FST_BACKGROUND_INVALID_OPTION', message: /tasks\[1\]\.delay/ })
  t.same(checked, ['tasks[0]', 'tasks[1]'])

  const app = Fastify()
  t.teardown(() => app.close())
  const wrapped: BackendAdapter = { ...memoryBackend(), checkTask: () => {} }
  await app.register(fastifyBackground, { backend: wrapped })
  app.post('/', async (_request, reply) => reply.accepted(() => {}))
  const response = await app.inject({ method: 'POST', url: '/' })
  t.equal(response.statusCode, 202)
  await app.background.drain()
  t.match(await app.background.status(response.json().id), { status: 'succeeded' })
})
