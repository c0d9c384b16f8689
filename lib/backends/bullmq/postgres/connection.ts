import type { PgPool, PostgresPoolConfig } from 'bullmq'
import { invalid } from '../../../core/option-values'

/** The connection for PostgreSQL, as BullMQ's PostgreSQL backend takes it, and what the backend migrates. */
export interface PostgresConnections {
  readonly kind: 'postgres'
  /** A pool config BullMQ builds its pools from (pinned to `schema`), or the caller's pg.Pool, which stays the caller's. */
  readonly connection: PostgresPoolConfig | PgPool
  /** The caller's pool: BullMQ neither migrates nor closes it, so the backend migrates it. */
  readonly pool: PgPool | undefined
  readonly migrate: boolean
}

export const POSTGRES_URL = /^postgres(ql)?:\/\//

/** The schema BullMQ uses on a pool it did not build (its DEFAULT_SCHEMA). */
export const POOL_SCHEMA = 'bullmq'

export function postgresConnections (connection: string | PgPool, schema: string | undefined, migrate: boolean): PostgresConnections {
  if (typeof connection === 'string') {
    if (schema !== undefined && !/^[A-Za-z_][A-Za-z0-9_$]{0,62}$/.test(schema)) throw invalid('backend.schema', 'must be a PostgreSQL identifier: a letter or _, then letters, digits, _ or $, at most 63')
    return { kind: 'postgres', connection: { connectionString: connection, schema, migrate }, pool: undefined, migrate }
  }
  if (schema !== undefined) {
    throw invalid('backend.schema', `cannot be set with a pg.Pool: BullMQ uses its pools' own search_path (give the pool options: '-c search_path=${POOL_SCHEMA}'), or pass a postgres:// URL with schema`)
  }
  return { kind: 'postgres', connection, pool: connection, migrate }
}
