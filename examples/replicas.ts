// Two replicas of one app sharing a store, as they would behind a load balancer:
//
//   node --import tsx examples/replicas.ts                    (Redis: REDIS_URL, default redis://127.0.0.1:6379)
//   node --import tsx examples/replicas.ts --store postgres   (PostgreSQL: DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test)
//
// Replica A listens on :3001 and replica B on :3002. The 'heartbeat' task fires every 5 s on
// one replica or the other, never on both. A report accepted by one replica may be built by
// either, and its status can be read from both:
//
//   curl -i -XPOST localhost:3001/reports -H 'content-type: application/json' -d '{"id":42}'
//   curl localhost:3002/jobs/<id from the Location header>
//
// On PostgreSQL the first replica to start creates the schema 'fbg_example' (BullMQ's tables and
// the plugin's). Ctrl-C closes both gracefully. Run one replica alone with REPLICA=A PORT=3001.
import { spawn } from 'node:child_process'
import { parseArgs } from 'node:util'
import Fastify from 'fastify'
import fastifyBackground from '../lib/index'
import { bullmqBackend, type BullmqBackendOptions } from '../lib/bullmq'

const { values: { store } } = parseArgs({ options: { store: { type: 'string', default: 'redis' } } })

/** The backend's options for the store asked for. */
function storeOptions (): BullmqBackendOptions {
  if (store === 'postgres') return { connection: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test', schema: 'fbg_example' }
  if (store === 'redis') return { connection: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', prefix: 'fbg-example' }
  throw new Error(`--store must be postgres or redis, not ${JSON.stringify(store)}`)
}

async function replica (name: string, port: number): Promise<void> {
  const app = Fastify({ logger: { base: { replica: name } } })

  await app.register(fastifyBackground, {
    backend: bullmqBackend(storeOptions()),
    statusRoute: '/jobs/:id',
    concurrency: 5,
    jobs: {
      'report.build': {
        retries: 2,
        timeout: 30_000,
        handler: async ({ data, log, sleep }) => {
          await sleep(2000) // simulate the work
          log.info({ report: data }, 'report built')
        }
      }
    },
    tasks: [
      // Fires at every multiple of 5 s since the Unix epoch, once across the replicas.
      { name: 'heartbeat', every: '5s', handler: async ({ log, scheduledAt }) => log.info({ scheduledAt }, 'heartbeat') }
    ]
  })

  app.post<{ Body: { id: number } }>('/reports', async (request, reply) => {
    return reply.accepted('report.build', { id: request.body.id })
  })

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      app.close().then(() => process.exit(0), () => process.exit(1))
    })
  }
  await app.listen({ port, host: '127.0.0.1' })
}

/** Starts both replicas as child processes of this one, and stops them with it. */
function both (): void {
  const children = [['A', 3001], ['B', 3002]].map(([name, port]) =>
    spawn(process.execPath, [...process.execArgv, __filename, '--store', store as string], {
      env: { ...process.env, REPLICA: String(name), PORT: String(port) },
      stdio: 'inherit'
    }))
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      for (const child of children) child.kill(signal)
    })
  }
}

if (process.env.REPLICA === undefined) {
  both()
} else {
  replica(process.env.REPLICA, Number(process.env.PORT ?? 3001)).catch(error => {
    console.error(error)
    process.exit(1)
  })
}
