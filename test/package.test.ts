import { execFileSync } from 'node:child_process'
import { mkdtempSync, mkdirSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import t from 'tap'

// The tarball `npm pack` makes, unpacked where an application would have it, must work from both
// require() and import. Its dependencies are linked from this checkout, so no registry is needed.
const root = resolve(__dirname, '..')
// The build inside `npm pack` need not be traced for coverage, which makes it several times slower.
const { NODE_V8_COVERAGE, ...untraced } = process.env

t.test('the packed package works from require() and import', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'fastify-background-pack-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const [{ filename, files }] = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', dir], { cwd: root, env: untraced, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))
  const paths: string[] = files.map((file: { path: string }) => file.path)
  t.ok(paths.includes('dist/index.js') && paths.includes('dist/index.d.ts') && paths.includes('dist/esm.mjs'), 'ships the built entry points and types')
  t.notOk(paths.some(path => path.startsWith('lib/') || path.startsWith('test/')), 'ships no sources or tests')
  t.ok(paths.includes('LICENSE') && paths.includes('README.md'), 'ships the licence and README')

  const modules = join(dir, 'node_modules')
  mkdirSync(join(modules, '@fastify'), { recursive: true })
  execFileSync('tar', ['-xzf', join(dir, filename), '-C', modules])
  execFileSync('mv', [join(modules, 'package'), join(modules, 'fastify-background')])
  for (const dependency of ['fastify', 'fastify-plugin', 'awilix', 'croner', '@fastify/error']) {
    symlinkSync(join(root, 'node_modules', dependency), join(modules, dependency))
  }

  const run = (args: string[]): string => execFileSync(process.execPath, args, { cwd: dir, encoding: 'utf8' }).trim()
  const probe = `
    const app = Fastify()
    await app.register(plugin, { tasks: [{ name: 't', every: '1h', handler: () => {} }] })
    app.post('/', async (request, reply) => reply.accepted(async () => {}))
    await app.ready()
    const response = await app.inject({ method: 'POST', url: '/' })
    await app.close()
    console.log([typeof plugin, plugin === named, plugin.default === plugin, response.statusCode, typeof errors.InvalidOptionError].join(' '))
  `
  const cjs = run(['-e', `
    const plugin = require('fastify-background'); const named = plugin.fastifyBackground; const errors = plugin.errors
    const Fastify = require('fastify');
    (async () => { ${probe} })()`])
  t.equal(cjs, 'function true true 202 function', 'require() returns the plugin itself, with .default and .fastifyBackground')
  const esm = run(['--input-type=module', '-e', `
    import plugin, { fastifyBackground as named, errors } from 'fastify-background'
    import Fastify from 'fastify'
    ${probe}`])
  t.equal(esm, 'function true true 202 function', 'import gives the default and named exports')
})
