// The BlackSheep "Background tasks" page, ported to fastify-background: a web request handled
// in the background (202 Accepted), a task that runs every second and resolves a scoped
// service from the DI container, and a long-running loop. Run it with `npm start`.
import { randomUUID } from 'node:crypto'
import { asClass } from 'awilix'
import Fastify from 'fastify'
import fastifyBackground from '../lib/index'

/** A scoped service: each task run gets its own instance, disposed when the run ends. */
class Foo {
  readonly id = randomUUID()
}

declare module '../lib/index' {
  interface BackgroundCradle {
    foo: Foo
  }
}

async function main (): Promise<void> {
  // Readable logs in a terminal; JSON lines (what log collectors read) anywhere else.
  const app = Fastify({ logger: process.stdout.isTTY ? { transport: { target: 'pino-pretty' } } : true })

  await app.register(fastifyBackground, {
    statusRoute: '/jobs/:id',
    // The page to open first: tasks, jobs, and buttons to steer them (loopback clients only).
    dashboard: '/background',
    // prom-client is installed with the example's dev dependencies; in an app: npm install prom-client.
    metrics: { path: '/metrics' },
    jobs: {
      // A named job: POST /reports answers 202 at once and builds the report in the background.
      'report.build': async ({ data, log, sleep }) => {
        await sleep(1000) // simulate a delay...
        log.info({ report: data }, 'Done!')
      }
    },
    tasks: [
      {
        // Runs every second; resolves a scoped service, as BlackSheep's task_example does.
        name: 'current-time',
        every: '1s',
        handler: async ({ cradle, log }) => {
          log.info({ now: new Date().toISOString(), fooId: cradle.foo.id }, 'tick')
        }
      },
      {
        // A long-running loop (BlackSheep's `while True`): runs until close aborts its signal.
        name: 'heartbeat',
        loop: true,
        handler: async ({ signal, sleep, log }) => {
          while (!signal.aborted) {
            log.debug('heartbeat')
            await sleep(5000)
          }
        }
      }
    ]
  })
  app.background.container.register({ foo: asClass(Foo).scoped() })

  app.get('/', async () => `Hello, World! ${new Date().toISOString()}`)
  app.post('/reports', async (_request, reply) => reply.accepted('report.build', { requestedAt: new Date().toISOString() }))

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      app.log.info({ signal }, 'closing gracefully')
      app.close().catch(error => {
        app.log.error(error, 'close failed')
        process.exitCode = 1
      })
    })
  }

  const address = await app.listen({ port: Number(process.env.PORT ?? 3000), host: process.env.HOST ?? '127.0.0.1' })
  console.log(`fastify-background example listening at ${address}`)
  console.log(`dashboard: ${address}/background`)
  console.log(`metrics:   ${address}/metrics`)
}

main().catch(error => {
  console.error(error)
  process.exitCode = 1
})
