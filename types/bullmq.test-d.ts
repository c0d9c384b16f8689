import { Redis } from 'ioredis'
import { expectError, expectType } from 'tsd'
import type { Backend } from '..'
import defaultExport, { bullmqBackend, type BullmqBackendOptions } from '../dist/bullmq'

expectType<Backend>(bullmqBackend({ connection: 'redis://127.0.0.1:6379' }))
expectType<typeof bullmqBackend>(defaultExport)
bullmqBackend({
  connection: { host: '127.0.0.1', port: 6379, password: 'secret' },
  prefix: 'app',
  queueName: 'jobs',
  workerOptions: { lockDuration: 30_000, stalledInterval: 15_000, maxStalledCount: 2, concurrency: 4 }
})
bullmqBackend({ connection: new Redis({ lazyConnect: true }) })
const options: BullmqBackendOptions = { connection: 'redis://redis:6379' }
bullmqBackend(options)

expectError(bullmqBackend({}))
expectError(bullmqBackend({ connection: 'redis://x', queue: 'jobs' }))
expectError(bullmqBackend({ connection: 'redis://x', workerOptions: { connection: {} } }))
