import type { FastifyInstance } from 'fastify'
import type { Registry } from 'prom-client'
import type { MetricsSettings } from '../core/model'
import type { JobStats } from '../types'
import { createMetrics, type AppMetrics } from './metrics'
import { loadPromClient } from './prom-client'
import { addMetricsRoute } from './route'

/**
 * The `metrics` option at registration: the route first (a path taken refuses the registration
 * before anything is on the registry), then the metrics, on the given registry or prom-client's
 * global one.
 */
export function addMetrics (app: FastifyInstance, settings: MetricsSettings, stats: () => Promise<JobStats>): AppMetrics {
  const prom = loadPromClient()
  const registry = (settings.registry ?? prom.register) as Registry
  if (settings.path !== undefined) addMetricsRoute(app, settings.path, registry)
  return createMetrics(prom, { registry, stats, log: app.log })
}
