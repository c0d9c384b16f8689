import type { FastifyInstance } from 'fastify'
import type { Registry } from 'prom-client'
import { hidden } from '../core/hidden-schema'

/** `GET <path>`: the registry in Prometheus text format, hidden from OpenAPI generators like the dashboard's routes. */
export function addMetricsRoute (app: FastifyInstance, path: string, registry: Registry): void {
  app.get(path, { schema: hidden() }, async (_request, reply) => {
    return reply.type(registry.contentType).send(await registry.metrics())
  })
}
