import type { FastifyInstance } from 'fastify'
import type { DashboardSettings } from '../core/model'
import { accessCheck, actionCheck } from './access'
import { addApi, type DashboardSources } from './api'
import { addPage } from './page'

export type { DashboardSources } from './api'

/**
 * Serves the dashboard at `settings.path`: the page, its assets and its JSON API, in a scope of
 * their own, so the access check runs on every one of them and on nothing else of the app.
 */
export async function addDashboard (app: FastifyInstance, settings: DashboardSettings, sources: DashboardSources): Promise<void> {
  await app.register(async scope => {
    scope.addHook('onRequest', accessCheck(settings))
    addPage(scope, settings)
    addApi(scope, sources, actionCheck(settings))
  }, { prefix: settings.path })
}
