import { createPostgresBackend, runMigrations, type BackendFactory, type ConnectionOptions, type PgPool, type Queue, type Worker } from 'bullmq'
import type { StoreDriver } from '../driver'
import type { StoreErrors } from '../outage'
import type { PostgresConnections } from './connection'
import { POOL_SCHEMA } from './connection'
import * as sql from './sql'
import { PostgresStore } from './store'

/** How often rows whose expiry has passed (locks, claims, cancel marks) are deleted. */
const SWEEP_MS = 10 * 60_000

/**
 * PostgreSQL, through BullMQ's PostgreSQL backend (`pg` loaded by BullMQ, and only then). Each
 * queue and worker has BullMQ's connection of its own; the store's statements go through the
 * jobs queue's pool.
 */
export class PostgresDriver implements StoreDriver {
  readonly name = 'PostgreSQL'
  readonly factory = createPostgresBackend as unknown as BackendFactory
  readonly prefix = undefined
  readonly queueConnection
  readonly workerConnection
  #prepared: Promise<void> | undefined
  #pool: PgPool | undefined
  #sweeping: NodeJS.Timeout | undefined

  constructor (private readonly connections: PostgresConnections) {
    this.queueConnection = connections.connection as unknown as ConnectionOptions
    this.workerConnection = this.queueConnection
  }

  /**
   * BullMQ migrates a schema as a queue first connects, except on a pool it was given: that one is
   * migrated here, before any queue asks for it.
   */
  async open (): Promise<void> {
    const { pool, migrate } = this.connections
    if (pool !== undefined && migrate) await withClient(pool, client => runMigrations(client as never, POOL_SCHEMA))
  }

  storeOf (queue: Queue): PostgresStore {
    return new PostgresStore(poolOf(queue), queue.name)
  }

  /** Asks the pool the store's statements use (an outage cannot come before it is prepared). */
  readonly probe = async (): Promise<unknown> => await this.#pool?.query('SELECT 1')

  async connect (queue: Queue, errors: StoreErrors): Promise<void> {
    this.#prepared ??= this.prepare(queue, errors)
    await this.#prepared
    await queue.waitUntilReady()
  }

  /**
   * Two leaks of BullMQ's PostgreSQL worker at close, worked around here: one closed before it is
   * ready opens its connection after the close, and leaves it open; one force-closed while it
   * waits for a job leaves the wait's timer (up to the next delayed job's due time) holding the
   * process. So a worker is closed once ready (or failed to be), its wait ended first.
   */
  async closable (worker: Worker): Promise<void> {
    await worker.waitUntilReady().catch(() => {})
    await worker.backend.disconnectBlocking()
  }

  async close (): Promise<void> {
    clearInterval(this.#sweeping)
  }

  /** Migrates the schema (unless `migrate: false`) and creates the store's table beside BullMQ's. */
  private async prepare (queue: Queue, errors: StoreErrors): Promise<void> {
    const { migrate } = this.connections
    await queue.waitUntilReady()
    const own = this.#pool = poolOf(queue)
    if (migrate) {
      await withClient(own, async client => {
        await client.query('BEGIN')
        await client.query(sql.CREATE_LOCK)
        await client.query(sql.CREATE_TABLE)
        await client.query('COMMIT')
      })
    } else if ((await own.query(sql.TABLE_EXISTS)).rows[0].present !== true) {
      throw new Error(`the table ${sql.TABLE} is missing, and migrate is false: create it as the README's "Migrations" says (${sql.CREATE_TABLE.trim()})`)
    }
    const sweep = (): void => { own.query(sql.SWEEP).catch(errors.listener('expired rows could not be deleted')) }
    sweep()
    this.#sweeping = setInterval(sweep, SWEEP_MS).unref()
  }
}

/** The pool of the queue's BullMQ connection. */
function poolOf (queue: Queue): PgPool {
  return (queue.backend as unknown as { connection: { pool: PgPool } }).connection.pool
}

/** Runs `use` on a client of its own; one that failed is closed, not handed back in a failed transaction. */
async function withClient<T> (pool: PgPool, use: (client: Awaited<ReturnType<PgPool['connect']>>) => Promise<T>): Promise<T> {
  const client = await pool.connect()
  try {
    const result = await use(client)
    client.release()
    return result
  } catch (error) {
    client.release(error as never)
    throw error
  }
}
