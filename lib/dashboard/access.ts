import type { FastifyReply, FastifyRequest } from 'fastify'
import { ForbiddenError } from '../core/errors'
import type { DashboardSettings } from '../core/model'

// Who may see the dashboard, and who may act through it. Its actions change what runs, so a page
// of another origin must not be able to post to it on a visitor's behalf (CSRF), whatever the
// guard lets through.

const OCTET = '(?:25[0-5]|2[0-4]\\d|1?\\d?\\d)'
/** 127.0.0.0/8, ::1, and 127.x.x.x mapped into IPv6 (a dual-stack socket reports IPv4 clients so). */
const LOOPBACK = new RegExp(`^(?:(?:::ffff:)?127\\.${OCTET}\\.${OCTET}\\.${OCTET}|::1)$`, 'i')

/** An `onRequest` hook for every dashboard route: the guard alone, else clients on this machine only. */
export function accessCheck (settings: DashboardSettings): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  const guard = settings.guard
  // Awaited whether it is async or not: a plain function would otherwise be taken for a callback-style hook.
  if (guard !== undefined) return async (request, reply) => { await guard(request, reply) }
  return async request => {
    // The socket's address, not request.ip: X-Forwarded-For (with trustProxy) can claim anything.
    if (!isLoopback(request.raw.socket.remoteAddress)) {
      throw new ForbiddenError('without a guard, the dashboard serves loopback clients only')
    }
  }
}

/** An `onRequest` hook for the routes that act (POST): refused when read-only, or sent by a page of another origin. */
export function actionCheck (settings: DashboardSettings): (request: FastifyRequest) => Promise<void> {
  return async request => {
    if (settings.readOnly) throw new ForbiddenError('the dashboard is read-only')
    const origin = request.headers.origin
    // No Origin: not a browser's cross-site request (browsers send one with every POST).
    if (origin !== undefined && origin !== `${request.protocol}://${request.host}`) {
      throw new ForbiddenError(`a request from origin ${origin} may not act on this dashboard`)
    }
  }
}

export function isLoopback (address: string | undefined): boolean {
  return address !== undefined && LOOPBACK.test(address)
}
