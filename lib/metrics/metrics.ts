import type { FastifyBaseLogger } from 'fastify'
import type { Histogram, Counter, Metric, Registry } from 'prom-client'
import { InvalidOptionError } from '../core/errors'
import type { WorkEvents } from '../core/model'
import type { JobStats } from '../types'
import type { PromClientModule } from './prom-client'

// The seven metrics of "Metrics" in API.md, fed by the work events of the runner and the
// backends. Label values are task and job names, statuses and reasons: bounded, never ids.

/** Seconds: background work runs from milliseconds to minutes, beyond prom-client's default 10 s. */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600]

export interface MetricsSources {
  readonly registry: Registry
  /** The counts the `fastify_background_jobs` gauge reads at each scrape (on BullMQ, the fleet's). */
  readonly stats: () => Promise<JobStats>
  readonly log: FastifyBaseLogger
}

/** The metrics of one app, registered on its registry, and the events that feed them. */
export interface AppMetrics {
  readonly events: WorkEvents
  /** Takes the metrics off the registry, so that an app made again may register them. */
  readonly remove: () => void
}

export function createMetrics (prom: PromClientModule, sources: MetricsSources): AppMetrics {
  const { registry, stats, log } = sources
  const registers = [registry]
  const names: string[] = []
  const remove = (): void => names.forEach(name => registry.removeSingleMetric(name))
  const metric = <M extends Metric>(name: string, make: () => M): M => {
    if (registry.getSingleMetric(name) !== undefined) {
      remove()
      throw new InvalidOptionError('metrics.registry', `already holds ${name}: two apps in one process each need their own registry`)
    }
    names.push(name)
    return make()
  }
  const counter = (name: string, help: string, labelNames: string[]): Counter =>
    metric(name, () => new prom.Counter({ name, help, labelNames, registers }))
  const histogram = (name: string, help: string, labelNames: string[]): Histogram =>
    metric(name, () => new prom.Histogram({ name, help, labelNames, buckets: BUCKETS, registers }))

  const taskRuns = counter('fastify_background_task_runs_total', 'Task runs that ended, and due runs skipped for overlap, by task and status.', ['task', 'status'])
  const taskDuration = histogram('fastify_background_task_duration_seconds', 'How long task runs took, by task.', ['task'])
  const jobs = counter('fastify_background_jobs_total', 'Jobs that ended, by job name and status.', ['job', 'status'])
  const jobDuration = histogram('fastify_background_job_duration_seconds', 'From a job\'s start to its end, by job name.', ['job'])
  const jobWait = histogram('fastify_background_job_wait_seconds', 'From when a job could start (enqueue, runAt or backoff) to its start, by job name.', ['job'])
  const rejected = counter('fastify_background_jobs_rejected_total', 'Jobs refused, by reason.', ['reason'])
  const gauge = 'fastify_background_jobs'
  metric(gauge, () => new prom.Gauge({
    name: gauge,
    help: 'Jobs queued and running now (on BullMQ, the fleet\'s).',
    labelNames: ['state'],
    registers,
    async collect () {
      try {
        const { queued, running } = await stats()
        this.set({ state: 'queued' }, queued)
        this.set({ state: 'running' }, running)
      } catch (error) {
        // The store is out of reach: the scrape still answers, with the last counts read.
        log.warn({ err: error }, 'metrics: the job counts could not be read')
      }
    }
  }))

  return {
    events: {
      taskRun: (task, status, durationMs) => {
        taskRuns.inc({ task, status })
        if (status !== 'skipped') taskDuration.observe({ task }, durationMs / 1000)
      },
      jobStarted: (job, waitMs) => jobWait.observe({ job }, Math.max(0, waitMs) / 1000),
      jobEnded: (job, status, durationMs) => {
        jobs.inc({ job, status })
        if (durationMs !== undefined) jobDuration.observe({ job }, durationMs / 1000)
      },
      jobRefused: reason => rejected.inc({ reason })
    },
    remove
  }
}
