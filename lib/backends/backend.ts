import type { FastifyBaseLogger } from 'fastify'
import type { JobBackend, RunHost, Settings, TaskScheduler } from '../core/model'
import type { Backend } from '../types'

// The one small interface both backends implement. The plugin talks only to this, so the code
// of an application and of the plugin is the same on one process and on many replicas. It is
// not exported: see "Backends" in the README for why.

/** What the plugin gives a backend when it opens. */
export interface BackendHost {
  /** `app.log`. */
  readonly log: FastifyBaseLogger
  readonly settings: Settings
  /** What running a job through the shared runner needs. */
  readonly runner: RunHost
}

export interface BackendAdapter extends Backend, JobBackend, TaskScheduler {
  /** Called once at registration, before anything else. */
  open: (host: BackendHost) => Promise<void>
  /** onReady: jobs may run from now on. */
  start: () => Promise<void>
  /** preClose: refuse new jobs from now on. */
  stopAccepting: () => void
  /** onClose: finish queued and running jobs by `deadline` (ms since the epoch), then stop them; release resources. */
  close: (deadline: number) => Promise<void>
}
