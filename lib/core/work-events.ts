import type { WorkEvents } from './model'

/** The events of an app without metrics: nobody listens, so telling them costs a call that does nothing. */
export const IGNORED_EVENTS: WorkEvents = Object.freeze({
  taskRun: () => {},
  jobStarted: () => {},
  jobEnded: () => {},
  jobRefused: () => {}
})
