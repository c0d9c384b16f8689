// What is PostgreSQL's own on the BullMQ backend: its options, its migrations, the connections it
// leaves (none), and a lost connection (an outage: 503, logged, recovered, nothing lost).
import { spawnSync } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runMigrations } from 'bullmq'
import t from 'tap'
import type { JobContext } from '../lib/types'
import { bullmqBackend } from '../lib/bullmq'
import { buildApp, linesWith, LEVEL } from './helpers/app'
import { freePort, outageApp } from './helpers/outage'
import { buildBullApp, forget, uniquePrefix, until, useStore } from './helpers/redis'
import { adminPool, DATABASE_URL, endAdminPool, postgresStore } from './helpers/stores'

const skip = postgresStore.skip
useStore(postgresStore)
t.teardown(() => endAdminPool())

/** The sockets open in this process. */
function sockets (): number {
  return process.getActiveResourcesInfo().filter(kind => kind === 'TCPSocketWrap').length
}

t.test('a fresh schema is migrated at start, jobs run, and close leaves no connection open', { skip }, async t => {
  const schema = uniquePrefix()
  await forget(schema)
  const before = sockets()
  const { app } = await buildBullApp(schema, { jobs: { double: (ctx: JobContext<number>) => ctx.data * 2 } })
  await app.ready()
  const job = await app.background.enqueue('double', 21)
  await app.background.drain()
  t.match(await app.background.status(job.id), { status: 'succeeded', result: 42 })
  t.ok(sockets() > before, 'the app holds connections while open')
  await app.close()
  await until(() => sockets() === before, 5000, 'no connection left')
  t.pass('no connection left after close')
})

const PG_BIN = '/usr/lib/postgresql/15/bin'
const canRunPrivate = existsSync(`${PG_BIN}/initdb`) && process.getuid?.() === 0
const privateSkip = skip === false && !canRunPrivate ? `the outage test runs a private PostgreSQL: it needs ${PG_BIN} and root (to run it as the postgres user)` : skip

/** A PostgreSQL of the test's own, in a fresh data directory, on `port`: stopped and started at will. */
class PrivatePostgres {
  readonly dir = mkdtempSync(join(tmpdir(), 'fbg-pg-'))
  constructor (readonly port: number) {
    chownSync(this.dir, Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout), Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout))
    this.run('initdb', '-D', `${this.dir}/data`, '-A', 'trust', '-U', 'postgres', '--no-sync')
  }

  get url (): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`
  }

  start (): void {
    this.run('pg_ctl', 'start', '-w', '-D', `${this.dir}/data`, '-l', `${this.dir}/log`,
      '-o', `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off`)
  }

  stop (): void {
    this.run('pg_ctl', 'stop', '-m', 'fast', '-w', '-D', `${this.dir}/data`)
  }

  remove (): void {
    if (existsSync(`${this.dir}/data/postmaster.pid`)) this.stop()
    rmSync(this.dir, { recursive: true, force: true })
  }

  private run (command: string, ...args: string[]): void {
    const result = spawnSync('runuser', ['-u', 'postgres', '--', `${PG_BIN}/${command}`, ...args], { encoding: 'utf8', timeout: 30_000 })
    if (result.status !== 0) throw new Error(`${command} failed: ${result.stderr}`)
  }
}

t.test('a PostgreSQL restart is an outage: the app serves, refuses jobs with 503, logs it once, resumes, and loses nothing accepted', { skip: privateSkip }, async t => {
  const postgres = new PrivatePostgres(await freePort())
  t.teardown(() => postgres.remove())
  postgres.start()
  const { app, lines, ran, ticks, echo } = await outageApp(t, { backend: bullmqBackend({ connection: postgres.url, schema: 'outage' }) })
  await echo('before')
  await until(() => ran.includes('before') && ticks() > 0, 5000, 'a job and a tick before the outage')
  await app.background.enqueue('echo', 'accepted before, run after', { delay: 1500 })

  postgres.stop()
  await until(async () => (await echo('during')).statusCode === 503, 5000, 'a 503')
  const refused = await echo('during')
  t.equal(refused.statusCode, 503)
  t.equal(refused.headers['retry-after'], '1')
  t.equal(refused.json().code, 'FST_BACKGROUND_UNAVAILABLE')
  t.equal((await app.inject({ url: '/health' })).statusCode, 200, 'the app keeps serving')
  await t.rejects(app.background.status('x'), { code: 'FST_BACKGROUND_UNAVAILABLE' })
  await until(() => linesWith(lines, 'PostgreSQL error', LEVEL.error).length > 0, 5000, 'the outage to be logged')
  await new Promise(resolve => setTimeout(resolve, 1500))
  t.equal(linesWith(lines, 'PostgreSQL', LEVEL.error).length, 1, 'one error line for the whole outage')

  postgres.start()
  await until(() => linesWith(lines, 'PostgreSQL reachable again', LEVEL.info).length > 0, 10_000, 'the reconnection to be logged')
  const ticksBefore = ticks()
  await echo('after')
  await until(() => ran.includes('after') && ran.includes('accepted before, run after') && ticks() > ticksBefore, 15_000, 'jobs and a tick after the outage')
  t.notOk(ran.includes('during'), 'a refused job never runs')
})

t.test('PostgreSQL options are checked: a bad value throws naming it', async t => {
  const { Pool } = require('pg') as typeof import('pg')
  const pool = new Pool({ connectionString: 'postgres://nobody@127.0.0.1:1/none' })
  t.teardown(() => pool.end())
  const url = 'postgres://app@db:5432/app'
  const cases: Array<[unknown, string]> = [
    [{ connection: 'redis://127.0.0.1:6379', schema: 'jobs' }, 'backend.schema'],
    [{ connection: 'redis://127.0.0.1:6379', migrate: false }, 'backend.migrate'],
    [{ connection: url, prefix: 'bull' }, 'backend.prefix'],
    [{ connection: `postgresql${url.slice('postgres'.length)}`, migrate: 'no' }, 'backend.migrate'],
    [{ connection: url, schema: 'my-jobs' }, 'backend.schema'],
    [{ connection: url, schema: '' }, 'backend.schema'],
    [{ connection: pool, schema: 'jobs' }, 'backend.schema'],
    [{ connection: 'mysql://db/app' }, 'backend.connection']
  ]
  for (const [options, path] of cases) {
    t.throws(() => bullmqBackend(options as any), { code: 'FST_BACKGROUND_INVALID_OPTION', message: new RegExp(`Invalid option ${path.replace(/\./g, '\\.')}:`) }, path)
  }
  t.doesNotThrow(() => bullmqBackend({ connection: pool, migrate: false }), 'a pg.Pool, without schema')
})

t.test('with migrate: false, an unmigrated schema is refused at ready(), and so is one without the plugin\'s table', { skip }, async t => {
  const schema = uniquePrefix()
  await forget(schema)
  const unmigrated = await buildBullApp(schema, { jobs: { a: () => {} } }, { migrate: false })
  await t.rejects(async () => await unmigrated.app.ready(), /not initialized/, "BullMQ's own refusal")
  await unmigrated.app.close()

  const client = await adminPool().connect()
  try {
    await runMigrations(client as never, schema)
  } finally {
    client.release()
  }
  const { app } = await buildBullApp(schema, { jobs: { a: () => {} } }, { migrate: false })
  await t.rejects(async () => await app.ready(), /the table fastify_background is missing, and migrate is false: create it .*CREATE TABLE IF NOT EXISTS fastify_background/s)
  await app.close()
})

t.test('a schema where the plugin\'s table name is taken fails at ready() with PostgreSQL\'s error', { skip }, async t => {
  const schema = uniquePrefix()
  await forget(schema)
  const client = await adminPool().connect()
  try {
    await runMigrations(client as never, schema)
    await client.query(`CREATE VIEW "${schema}".fastify_background AS SELECT 1 AS one`)
  } finally {
    client.release()
  }
  const { app } = await buildBullApp(schema, { jobs: { a: () => {} } })
  await t.rejects(async () => await app.ready(), /expires_at_ms/)
  await app.close()
})

t.test('a pg.Pool of yours: migrated by the backend, used as it is, and left open for you to end', { skip }, async t => {
  const { Pool } = require('pg') as typeof import('pg')
  // BullMQ runs on a pool it did not build in its default schema, through the pool's search_path.
  const pool = new Pool({ connectionString: DATABASE_URL, options: '-c search_path=bullmq', max: 8 })
  t.teardown(async () => {
    await pool.query('DROP SCHEMA IF EXISTS bullmq CASCADE')
    await pool.end()
  })
  const queueName = uniquePrefix()
  const { app } = await buildApp({
    jobs: { double: (ctx: JobContext<number>) => ctx.data * 2 },
    backend: bullmqBackend({ connection: pool, queueName })
  })
  await app.ready()
  const job = await app.background.enqueue('double', 21)
  await app.background.drain()
  t.match(await app.background.status(job.id), { status: 'succeeded', result: 42 })
  await app.close()
  t.match((await pool.query('SELECT count(*)::int AS n FROM fastify_background')).rows, [{ n: Number }], "the plugin's table is in the pool's schema")
  t.equal((await pool.query('SELECT 1 AS one')).rows[0].one, 1, 'the pool is still open: it is yours')
})
