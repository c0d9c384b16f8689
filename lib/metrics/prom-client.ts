import type * as PromClient from 'prom-client'
import { InvalidOptionError } from '../core/errors'

export type PromClientModule = typeof PromClient

/**
 * prom-client is an optional peer: it is loaded when `metrics` asks for it, never by the main
 * entry, and its absence is an option error that says what to install. `load` is the module's
 * own `require`, given by tests a stand-in that fails as a missing package does.
 */
export function loadPromClient (load: (id: string) => unknown = require): PromClientModule {
  try {
    return load('prom-client') as PromClientModule
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw error
    throw new InvalidOptionError('metrics', 'needs prom-client, an optional peer dependency: npm install prom-client')
  }
}
