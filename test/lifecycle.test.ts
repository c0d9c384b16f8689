import { test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyBackground from '../lib/index'
import type { BackendAdapter } from '../lib/backends/backend'
import { memoryBackend } from '../lib/backends/memory/backend'
import { buildApp } from './helpers/app'

/** The in-process backend, recording when it opens and closes (a backend on a server opens connections). */
function recordingBackend (events: string[]): BackendAdapter {
  const inner = memoryBackend()
  return {
    ...inner,
    open: async host => { events.push('open'); await inner.open(host) },
    close: async deadline => { events.push('close'); await inner.close(deadline) }
  }
}

test('a registration that fails on a taken name or route opens no backend connection, and ready() rejects with its error', async t => {
  const cases: Array<[string, (app: FastifyInstance) => void, string]> = [
    // Another plugin's decorators, of its own types.
    ['app.background taken', app => { app.decorate('background', {} as never) }, 'FST_ERR_DEC_ALREADY_PRESENT'],
    ['app.tasks taken', app => { app.decorate('tasks', {} as never) }, 'FST_ERR_DEC_ALREADY_PRESENT'],
    ['reply.accepted taken', app => { app.decorateReply('accepted', (() => {}) as never) }, 'FST_ERR_DEC_ALREADY_PRESENT'],
    ['the status route exists', app => { app.get('/jobs/:id', async () => 'mine') }, 'FST_ERR_DUPLICATED_ROUTE']
  ]
  for (const [what, before, code] of cases) {
    const events: string[] = []
    const app = Fastify()
    before(app)
    app.register(fastifyBackground, { statusRoute: '/jobs/:id', backend: recordingBackend(events) })
    await t.rejects(async () => { await app.ready() }, { code }, what)
    t.same(events, [], `${what}: nothing was opened, so nothing keeps the process alive`)
    await app.close()
    t.same(events, [], what)
  }
})

test('the backend opens at registration and closes with the app', async t => {
  const events: string[] = []
  const { app } = await buildApp({ statusRoute: '/jobs/:id', backend: recordingBackend(events) })
  t.same(events, ['open'])
  await app.ready()
  await app.close()
  t.same(events, ['open', 'close'])
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
