import type { JobRequest, ScheduledTask } from '../../core/model'
import { LocalClock } from '../../tasks/local-clock'
import type { BackendAdapter, BackendHost } from '../backend'
import { IdempotencyKeys } from './idempotency-keys'
import { JobQueue } from './queue'

/** The default backend: jobs in a bounded in-process queue, timed tasks on in-process timers. No server needed. */
export function memoryBackend (): BackendAdapter {
  const clock = new LocalClock()
  let queue: JobQueue
  let keys: IdempotencyKeys

  return {
    kind: 'memory',
    async open (host: BackendHost) {
      queue = new JobQueue(host.runner, host.settings)
      keys = new IdempotencyKeys(queue.store)
    },
    enqueue: (request: JobRequest) => queue.enqueue(request),
    status: async id => queue.store.get(id),
    detail: async id => queue.store.detail(id),
    stats: async () => queue.stats(),
    drain: () => queue.drain(),
    cancel: id => queue.cancel(id),
    retry: async id => queue.retry(id),
    list: async query => queue.list(query),
    claim: async (scope, key, record, ttlMs) => keys.claim(scope, key, record, ttlMs),
    release: async (scope, key) => keys.release(scope, key),
    schedule: (task: ScheduledTask) => clock.schedule(task),
    unschedule: (task: ScheduledTask) => clock.unschedule(task),
    async start () {
      queue.start()
    },
    stopAccepting: () => queue.stopAccepting(),
    close: (deadline: number) => queue.close(deadline)
  }
}
