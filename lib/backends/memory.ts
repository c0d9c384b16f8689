import type { Backend, BackendHost, JobRequest, ScheduledTask } from '../backend'
import { LocalClock } from '../local-clock'
import { JobQueue } from '../queue'
import type { JobStats, JobStatus } from '../types'

/** The default backend: jobs in a bounded in-process queue, timed tasks on in-process timers. No server needed. */
export function memoryBackend (): Backend {
  const clock = new LocalClock()
  let queue: JobQueue

  return {
    async open (host: BackendHost) {
      queue = new JobQueue(host.runner, host.settings, host.log)
    },
    enqueue: (request: JobRequest): string => queue.enqueue(request).id,
    async status (id: string): Promise<JobStatus | undefined> {
      return queue.store.get(id)
    },
    async stats (): Promise<JobStats> {
      return queue.stats()
    },
    drain: () => queue.drain(),
    schedule: (task: ScheduledTask) => clock.schedule(task),
    unschedule: (task: ScheduledTask) => clock.unschedule(task),
    async start () {
      queue.start()
    },
    stopAccepting: () => queue.stopAccepting(),
    close: (deadline: number) => queue.close(deadline)
  }
}
