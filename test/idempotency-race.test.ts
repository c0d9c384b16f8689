import t, { type Test } from 'tap'
import pino from 'pino'
import { IdempotencyInProgressError, QueueFullError } from '../lib/core/errors'
import type { Enqueued, IdempotencyRecord, JobBackend, JobRequest, JobSpec } from '../lib/core/model'
import { CLAIM_POLL_MS, CLAIM_WAIT_MS, enqueueOnce } from '../lib/jobs/idempotency'
import { installClock } from './helpers/tasks'

// A repeat of an idempotent request that reads the first one's claim before that one's job
// exists: it waits for the job, or takes the key the first one gave up, never answering an id
// that has no job behind it.

interface Answer {
  promise: Promise<void>
  resolve: () => void
  reject: (error: Error) => void
}

function answer (): Answer {
  const settle: Partial<Answer> = {}
  const promise = new Promise<void>((resolve, reject) => Object.assign(settle, { resolve, reject }))
  return { ...settle, promise } as Answer
}

const SETTINGS = { header: 'idempotency-key', ttl: 60_000 }

/** Claims and statuses as a store keeps them; each enqueue waits for a gate the test opens or fails. */
function racingBackend () {
  const claims = new Map<string, IdempotencyRecord>()
  const statuses = new Map<string, Enqueued['status']>()
  const enqueues: Array<{ id: string, answer: Answer }> = []
  const backend = {
    async claim (scope: string, key: string, record: IdempotencyRecord) {
      const first = claims.get(`${scope}:${key}`)
      if (first === undefined) claims.set(`${scope}:${key}`, record)
      return first
    },
    async release (scope: string, key: string) {
      claims.delete(`${scope}:${key}`)
    },
    async status (id: string) {
      const status = statuses.get(id)
      return status === undefined ? undefined : { id, status }
    },
    async enqueue (request: JobRequest): Promise<Enqueued> {
      const id = request.id as string
      const made = answer()
      enqueues.push({ id, answer: made })
      await made.promise
      statuses.set(id, 'queued')
      return { id, duplicate: false, status: 'queued' }
    }
  } as unknown as JobBackend
  return { backend, enqueues }
}

const request: JobRequest = {
  name: 'charge',
  data: { amount: 5 },
  spec: {} as JobSpec,
  named: true,
  log: pino({ level: 'silent' }),
  placement: {} as JobRequest['placement']
}

function setUp (t: Test) {
  const clock = installClock()
  t.teardown(() => clock.uninstall())
  const { backend, enqueues } = racingBackend()
  const send = () => enqueueOnce(backend, SETTINGS, 'order-1', request)
  return { clock, enqueues, send }
}

t.test('a repeat that finds the first request refused makes the job itself, with its own id', async t => {
  const { clock, enqueues, send } = setUp(t)
  const first = send()
  const repeat = send()
  await clock.tickAsync(0)
  t.equal(enqueues.length, 1, 'the repeat found the key claimed and waits')
  enqueues[0].answer.reject(new QueueFullError(1))
  await t.rejects(first, { code: 'FST_BACKGROUND_QUEUE_FULL' })
  await clock.tickAsync(CLAIM_POLL_MS)
  t.equal(enqueues.length, 2, 'the key given up, the repeat claimed it')
  enqueues[1].answer.resolve()
  const made = await repeat
  t.same(made, { id: enqueues[1].id, duplicate: false, status: 'queued' })
  t.not(made.id, enqueues[0].id, 'not the id of the job that never was')
})

t.test('a repeat waits for the job of the first request and answers it', async t => {
  const { clock, enqueues, send } = setUp(t)
  const first = send()
  const repeat = send()
  await clock.tickAsync(CLAIM_POLL_MS * 3)
  enqueues[0].answer.resolve()
  t.same(await first, { id: enqueues[0].id, duplicate: false, status: 'queued' })
  await clock.tickAsync(CLAIM_POLL_MS)
  t.same(await repeat, { id: enqueues[0].id, duplicate: true, status: 'queued' })
  t.equal(enqueues.length, 1, 'one job for both')
})

t.test('a repeat whose first request makes no job within a second is refused with 409, and may retry', async t => {
  const { clock, enqueues, send } = setUp(t)
  const first = send()
  const repeat = send()
  const refused = t.rejects(repeat, new IdempotencyInProgressError())
  await clock.tickAsync(CLAIM_WAIT_MS - CLAIM_POLL_MS)
  t.equal(await Promise.race([repeat.then(() => 'answered', () => 'refused'), 'waiting']), 'waiting', 'still waiting before a second')
  await clock.tickAsync(CLAIM_POLL_MS)
  await refused
  t.match(await repeat.catch(error => error), { statusCode: 409, code: 'FST_BACKGROUND_IDEMPOTENCY_IN_PROGRESS' })
  enqueues[0].answer.resolve()
  await first
  t.same(await send(), { id: enqueues[0].id, duplicate: true, status: 'queued' }, 'a retry gets the first job')
})
