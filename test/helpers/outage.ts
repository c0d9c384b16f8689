// What the outage tests of both stores share: a port for a private server, and an app that
// accepts jobs over HTTP and ticks a task, so that an outage and its end can be seen.
import { createServer } from 'node:net'
import type { Test } from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import type { FastifyBackgroundOptions, JobContext } from '../../lib/types'
import { buildApp, type LogLine } from './app'

export function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    }).on('error', reject)
  })
}

export interface OutageApp {
  app: FastifyInstance
  lines: LogLine[]
  /** The data of each echo job run. */
  ran: string[]
  ticks: () => number
  /** POST /echo, which answers reply.accepted('echo', text). */
  echo: (text: string) => Promise<LightMyRequestResponse>
}

/** A ready app on `options.backend` with an 'echo' job, a 'tick' task every 100 ms and GET /health; closed at the end of `t`. */
export async function outageApp (t: Test, options: FastifyBackgroundOptions): Promise<OutageApp> {
  const ran: string[] = []
  let ticks = 0
  const { app, lines } = await buildApp({
    shutdownTimeout: 500,
    jobs: { echo: async (ctx: JobContext<string>) => { ran.push(ctx.data) } },
    tasks: [{ name: 'tick', every: 100, handler: async () => { ticks++ } }],
    ...options
  })
  app.get('/health', async () => ({ ok: true }))
  app.post('/echo', async (request, reply) => reply.accepted('echo', (request.body as { text: string }).text))
  await app.ready()
  t.teardown(() => app.close())
  return { app, lines, ran, ticks: () => ticks, echo: text => app.inject({ method: 'POST', url: '/echo', payload: { text } }) }
}
