import { test, type Test } from 'tap'
import { AsyncLocalStorage } from 'node:async_hooks'
import { tracingChannel } from 'node:diagnostics_channel'
import { buildApp } from './helpers/app'
import { noUnhandledRejections } from './helpers/jobs'
import type { TraceContext } from '../lib/index'

type Event = [string, string, string, number, unknown]

function record (t: Test, name: 'job' | 'task'): Event[] {
  const channel = tracingChannel<TraceContext>(`fastify-background:${name}`)
  const events: Event[] = []
  const on = (event: string) => (message: TraceContext) => {
    events.push([event, message.kind, message.name, message.attempt, message.error ?? message.result])
    ids.push(message.id)
  }
  const ids: string[] = []
  const handlers = { start: on('start'), end: on('end'), asyncStart: on('asyncStart'), asyncEnd: on('asyncEnd'), error: on('error') }
  channel.subscribe(handlers)
  t.teardown(() => { channel.unsubscribe(handlers) })
  Object.defineProperty(events, 'ids', { value: ids })
  return events
}

const idsOf = (events: Event[]): string[] => (events as Event[] & { ids: string[] }).ids

test('every job publishes start/end (and asyncStart/asyncEnd, error) on fastify-background:job', async t => {
  noUnhandledRejections(t)
  const events = record(t, 'job')
  const failure = new Error('nope')
  const { app } = await buildApp({
    concurrency: 1,
    jobs: {
      'sync-ok': () => 'value',
      'sync-throw': () => { throw failure },
      'async-ok': async () => 'later',
      'async-reject': async () => { throw failure }
    }
  })
  t.teardown(() => app.close())
  app.post('/:name', async (request, reply) => reply.accepted((request.params as { name: string }).name))
  const ids: string[] = []
  for (const name of ['sync-ok', 'sync-throw', 'async-ok', 'async-reject']) {
    ids.push((await app.inject({ method: 'POST', url: `/${name}` })).json().id)
    await app.background.drain()
  }
  t.same(events, [
    ['start', 'job', 'sync-ok', 1, undefined], ['end', 'job', 'sync-ok', 1, 'value'],
    ['start', 'job', 'sync-throw', 1, undefined], ['error', 'job', 'sync-throw', 1, failure], ['end', 'job', 'sync-throw', 1, failure],
    ['start', 'job', 'async-ok', 1, undefined], ['end', 'job', 'async-ok', 1, undefined],
    ['asyncStart', 'job', 'async-ok', 1, 'later'], ['asyncEnd', 'job', 'async-ok', 1, 'later'],
    ['start', 'job', 'async-reject', 1, undefined], ['end', 'job', 'async-reject', 1, undefined],
    ['error', 'job', 'async-reject', 1, failure], ['asyncStart', 'job', 'async-reject', 1, failure], ['asyncEnd', 'job', 'async-reject', 1, failure]
  ])
  t.same(idsOf(events), [
    ids[0], ids[0], ids[1], ids[1], ids[1], ids[2], ids[2], ids[2], ids[2], ids[3], ids[3], ids[3], ids[3], ids[3]
  ], 'each message carries the job id')
})

test('each attempt of a retried job is traced with its attempt number; function jobs by their label', async t => {
  const events = record(t, 'job')
  const { app } = await buildApp({ jobs: { flaky: { retries: 1, backoff: 1, handler: ctx => { if (ctx.attempt === 1) throw new Error('first') } } } })
  t.teardown(() => app.close())
  await app.ready()
  const { id } = await app.background.enqueue('flaky')
  await app.background.enqueue(() => {}, { name: 'labelled' })
  await app.background.drain()
  t.same(events.map(([event, , name, attempt]) => [event, name, attempt]), [
    ['start', 'flaky', 1], ['error', 'flaky', 1], ['end', 'flaky', 1],
    ['start', 'labelled', 1], ['end', 'labelled', 1],
    ['start', 'flaky', 2], ['end', 'flaky', 2]
  ])
  t.same(idsOf(events).filter((_, index) => events[index][2] === 'flaky'), Array(5).fill(id))
})

test('task runs publish on fastify-background:task, and jobs never do', async t => {
  const taskEvents = record(t, 'task')
  const jobEvents = record(t, 'job')
  const { app } = await buildApp({ tasks: [{ name: 'tick', every: '1h', handler: async () => 'ticked' }] })
  t.teardown(() => app.close())
  await app.ready()
  const { runId } = await app.tasks.trigger('tick')
  t.same(taskEvents.map(([event, kind, name]) => [event, kind, name]), [
    ['start', 'task', 'tick'], ['end', 'task', 'tick'], ['asyncStart', 'task', 'tick'], ['asyncEnd', 'task', 'tick']
  ])
  t.same(idsOf(taskEvents), Array(4).fill(runId))
  t.same(jobEvents, [])
})

test('the handler runs inside the start channel store, so async context follows the job', async t => {
  const storage = new AsyncLocalStorage<string>()
  const channel = tracingChannel<TraceContext>('fastify-background:job')
  // @types/node types the store as holding the message itself; any value may be stored.
  const store = storage as unknown as AsyncLocalStorage<TraceContext>
  channel.start.bindStore(store, message => `job:${message.id}` as unknown as TraceContext)
  t.teardown(() => { channel.start.unbindStore(store) })
  const { app } = await buildApp()
  t.teardown(() => app.close())
  await app.ready()
  const seen: Array<string | undefined> = []
  const { id } = await app.background.enqueue(async () => {
    seen.push(storage.getStore())
    await new Promise(resolve => setTimeout(resolve, 1))
    seen.push(storage.getStore())
  })
  await app.background.drain()
  t.same(seen, [`job:${id}`, `job:${id}`])
})
