import type { FastifySchema } from 'fastify'

/** The schema of the routes only operators use (the dashboard's, the metrics'): hidden from OpenAPI generators (@fastify/swagger reads `hide`). Fastify marks each schema it sees, so each route gets its own. */
export function hidden (schema: FastifySchema = {}): FastifySchema {
  return { ...schema, hide: true } as FastifySchema
}
