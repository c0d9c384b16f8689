// Two replicas of one app sharing a Redis, as they would behind a load balancer:
//
//   node --import tsx examples/replicas.ts        (REDIS_URL, default redis://127.0.0.1:6379)
//
// Replica A listens on :3001 and replica B on :3002. The 'heartbeat' task fires every 5 s on
// one replica or the other, never on both. A report accepted by one replica may be built by
// either, and its status can be read from both:
//
//   curl -i -XPOST localhost:3001/reports -H 'content-type: application/json' -d '{"id":42}'
//   curl localhost:3002/jobs/<id from the Location header>
//
// Ctrl-C closes both gracefully. Run one replica alone with REPLICA=A PORT=3001.
import { spawn } from 'node:child_process'
import Fastify from 'fastify'
import fastifyBackground from '../lib/index'
import { bullmqBackend } from '../lib/bullmq'

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

async function replica (name: string, port: number): Promise<void> {
  const app = Fastify({ logger: { base: { replica: name } } })

  await app.register(fastifyBackground, {
    backend: bullmqBackend({ connection: REDIS_URL, prefix: 'fbg-example' }),
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
    spawn(process.execPath, [...process.execArgv, __filename], {
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
