import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { DashboardSettings } from '../core/model'
import { hidden } from '../core/hidden-schema'

// The page and its static files, shipped in the package (assets/, copied to dist/ by the build)
// and read once at registration: nothing is fetched from anywhere else.

const ASSETS = join(__dirname, 'assets')

const TYPES: Readonly<Record<string, string>> = {
  'dashboard.css': 'text/css; charset=utf-8',
  'dashboard.js': 'text/javascript; charset=utf-8',
  'icon.svg': 'image/svg+xml'
}

/** Same origin only, and no inline script or style: an injected string can never run. */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'"
].join('; ')

/** Adds `GET /` (the page) and `GET /assets/<file>` to the dashboard's scope, whose prefix is the dashboard's path. */
export function addPage (scope: FastifyInstance, settings: DashboardSettings): void {
  const base = scope.prefix
  const html = readFileSync(join(ASSETS, 'index.html'), 'utf8')
    .replaceAll('{{base}}', base)
    .replace('{{readOnly}}', String(settings.readOnly))
  const files = new Map(Object.keys(TYPES).map(name => [name, readFileSync(join(ASSETS, name))]))

  scope.get('/', { schema: hidden() }, async (_request, reply) => {
    return reply.type('text/html; charset=utf-8')
      .header('content-security-policy', CONTENT_SECURITY_POLICY)
      .header('cache-control', 'no-cache')
      .send(html)
  })
  scope.get<{ Params: { file: string } }>('/assets/:file', { schema: hidden() }, async (request, reply) => {
    const file = files.get(request.params.file)
    if (file === undefined) return reply.callNotFound()
    return reply.type(TYPES[request.params.file]).header('cache-control', 'no-cache').send(file)
  })
}
