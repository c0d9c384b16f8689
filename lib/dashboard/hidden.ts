import type { FastifySchema } from 'fastify'

/** The schema of every dashboard route: hidden from OpenAPI generators (@fastify/swagger reads `hide`). Fastify marks each schema it sees, so each route gets its own. */
export function hidden (schema: FastifySchema = {}): FastifySchema {
  return { ...schema, hide: true } as FastifySchema
}
