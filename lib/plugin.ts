import { createContainer, type AwilixContainer } from 'awilix'
import type { FastifyInstance } from 'fastify'
import { acceptedReply } from './jobs/accepted'
import { createBackground } from './jobs/background'
import type { BackendAdapter } from './backends/backend'
import { memoryBackend } from './backends/memory/backend'
import { readSettings } from './core/options'
import { Registry } from './tasks/registry'
import type { RunHost } from './core/model'
import { addStatusRoute } from './jobs/status-route'
import { createTracers } from './core/tracing'
import { addDashboard } from './dashboard/dashboard'
import { IGNORED_EVENTS } from './core/work-events'
import { addMetrics } from './metrics/add-metrics'
import type { BackgroundCradle, FastifyBackgroundOptions } from './types'

/**
 * The plugin's whole lifecycle, top to bottom: options, then decorators, then the backend, then
 * hooks. Nothing runs before onReady; preClose stops new work; onClose drains what is left within
 * shutdownTimeout.
 */
export async function plugin (app: FastifyInstance, options: FastifyBackgroundOptions): Promise<void> {
  const settings = readSettings(options)
  // The option reader has checked that a given backend has every method of one.
  const backend = (settings.backend ?? memoryBackend()) as BackendAdapter
  settings.tasks.forEach((task, index) => backend.checkTask?.(task, `tasks[${index}]`))

  const container = settings.container ?? rootContainerOf(app)
  // Its events stay ignored unless metrics are on; they are set below, once nothing else can refuse the registration.
  const runner: Mutable<RunHost> = { app, container, tracers: createTracers(), events: IGNORED_EVENTS }
  const registry = new Registry({ runner, backend, log: app.log }, settings.tasks)
  // The cradle's type is the user's to declare (BackgroundCradle); the container is theirs too.
  const background = createBackground(backend, settings.jobs, container as AwilixContainer<BackgroundCradle>, app.log)

  // What may still refuse the registration (a decorator name another plugin took, a status route
  // that exists already) comes before the backend opens: nothing is left connected when it does.
  const locate = settings.statusRoute === false ? undefined : addStatusRoute(app, settings.statusRoute, background, settings.jobs)
  app.decorate('tasks', registry.api)
  app.decorate('background', background)
  app.decorateReply('accepted', acceptedReply({ backend, jobs: settings.jobs, locate, idempotency: settings.idempotency }))
  if (settings.dashboard !== false) {
    await addDashboard(app, settings.dashboard, {
      tasks: registry.api,
      background,
      overview: () => registry.overview(),
      detail: id => backend.detail(id),
      syncTasks: async () => { await backend.syncTasks?.() }
    })
  }

  const metrics = settings.metrics === false ? undefined : addMetrics(app, settings.metrics, () => background.stats())
  if (metrics !== undefined) runner.events = metrics.events

  try {
    await backend.open({ log: app.log, settings, runner })
  } catch (error) {
    metrics?.remove()
    throw error
  }

  app.addHook('onReady', async () => {
    const readyAt = Date.now()
    await backend.start()
    registry.start(readyAt)
  })

  // Closing, in the steps of the README's "Shutdown".
  app.addHook('preClose', async () => {
    // 1. Before Fastify waits for in-flight requests, the backend refuses new jobs (a late
    //    reply.accepted answers 503). It learns first, so the unschedule calls that follow stop
    //    this process only (a shared scheduler must outlive one replica).
    backend.stopAccepting()
    //    Then no task run starts any more, and the signals of loops abort at once.
    registry.stop()
  })
  app.addHook('onClose', async () => {
    // 2. Running task runs and running and queued jobs get until the deadline; 3. then their
    //    signals abort, handlers get the grace, and what is left is logged and marked cancelled
    //    (drainWithin, for both).
    const deadline = Date.now() + settings.shutdownTimeout
    try {
      await Promise.all([registry.close(deadline), backend.close(deadline)])
    } finally {
      // 4. The metrics leave the registry, so that an app made again may register its own.
      metrics?.remove()
    }
  })
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

/** @fastify/awilix's container when it was registered first, else a container of our own. */
function rootContainerOf (app: FastifyInstance): AwilixContainer {
  const decorated = (app as FastifyInstance & { diContainer?: AwilixContainer }).diContainer
  return decorated ?? createContainer()
}
