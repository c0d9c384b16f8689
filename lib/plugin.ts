import { createContainer, type AwilixContainer } from 'awilix'
import type { FastifyInstance } from 'fastify'
import { acceptedReply } from './accepted'
import { createBackground } from './background'
import { memoryBackend } from './backends/memory'
import { readSettings } from './options'
import { Registry } from './registry'
import type { RunHost } from './run'
import { addStatusRoute } from './status-route'
import { createTracers } from './tracing'
import type { BackgroundCradle, FastifyBackgroundOptions } from './types'

/**
 * The plugin's whole lifecycle, top to bottom: options, then decorators, then hooks. Nothing
 * runs before onReady; preClose stops new work; onClose drains what is left within shutdownTimeout.
 */
export async function plugin (app: FastifyInstance, options: FastifyBackgroundOptions): Promise<void> {
  const settings = readSettings(options)
  const backend = settings.backend ?? memoryBackend()
  settings.tasks.forEach((task, index) => backend.checkTask?.(task, `tasks[${index}]`))

  const container = settings.container ?? rootContainerOf(app)
  const runner: RunHost = { app, container, tracers: createTracers() }
  await backend.open({ log: app.log, settings, runner })

  const registry = new Registry({ runner, backend, log: app.log }, settings.tasks)
  // The cradle's type is the user's to declare (BackgroundCradle); the container is theirs too.
  const background = createBackground(backend, settings.jobs, container as AwilixContainer<BackgroundCradle>, app.log)
  const locate = settings.statusRoute === false ? undefined : addStatusRoute(app, settings.statusRoute, background)

  app.decorate('tasks', registry.api)
  app.decorate('background', background)
  app.decorateReply('accepted', acceptedReply({ backend, jobs: settings.jobs, locate }))

  app.addHook('onReady', async () => {
    const readyAt = Date.now()
    await backend.start()
    registry.start(readyAt)
  })
  app.addHook('preClose', async () => {
    // The backend learns first that the app is closing, so the unschedule calls that follow
    // stop this process only (a shared scheduler must outlive one replica).
    backend.stopAccepting()
    registry.stop()
  })
  app.addHook('onClose', async () => {
    const deadline = Date.now() + settings.shutdownTimeout
    await Promise.all([registry.close(deadline), backend.close(deadline)])
  })
}

/** @fastify/awilix's container when it was registered first, else a container of our own. */
function rootContainerOf (app: FastifyInstance): AwilixContainer {
  const decorated = (app as FastifyInstance & { diContainer?: AwilixContainer }).diContainer
  return decorated ?? createContainer()
}
