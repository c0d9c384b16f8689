import type { JobType, Queue } from 'bullmq'
import { CancelledError } from '../../core/errors'
import type { JobQuery } from '../../core/model'
import { CANCELLED_ON_REQUEST } from '../../core/run'
import { jobStatus } from '../../jobs/job-status'
import type { JobState, JobStatus } from '../../types'
import { CANCEL_MARK } from './job-cancels'
import { clientWith } from './scripts'

// What any replica reads of the fleet's jobs: one job's status, and the kept jobs newest first.
// A status is read in one script, so its state and its fields are of one moment.

/** The BullMQ keys, after the job's hash and its cancel mark, in the order STATUS_LUA reads them. */
const STATE_KEYS = ['completed', 'failed', 'active', 'wait', 'paused', 'delayed', 'prioritized', 'waiting-children'] as const

const STATUS_LUA = `
local id = ARGV[1]
if redis.call('EXISTS', KEYS[1]) == 0 then return nil end
local function listed (key)
  local position = redis.pcall('LPOS', key, id)
  if type(position) ~= 'table' then return position ~= false end
  -- Redis before 6.0.6 has no LPOS.
  for _, item in ipairs(redis.call('LRANGE', key, 0, -1)) do
    if item == id then return true end
  end
  return false
end
local state
local runAt = false
if redis.call('ZSCORE', KEYS[3], id) then state = 'succeeded'
elseif redis.call('ZSCORE', KEYS[4], id) then state = 'failed'
elseif listed(KEYS[5]) then state = 'running'
elseif listed(KEYS[6]) or listed(KEYS[7]) or redis.call('ZSCORE', KEYS[9], id) or redis.call('ZSCORE', KEYS[10], id) then state = 'queued'
else
  local delayed = redis.call('ZSCORE', KEYS[8], id)
  if not delayed then return nil end
  state = 'queued'
  -- BullMQ scores a delayed job (its delay, or a retry's backoff) by when it may run, times 4096.
  runAt = tostring(math.floor(tonumber(delayed) / 4096))
end
local job = redis.call('HMGET', KEYS[1], 'name', 'timestamp', 'processedOn', 'finishedOn', 'failedReason', 'ats', 'progress', 'returnvalue')
return { state, runAt, redis.call('GET', KEYS[2]), job[1], job[2], job[3], job[4], job[5], job[6], job[7], job[8] }`

const SCRIPTS = { fbgJobStatus: { keys: 2 + STATE_KEYS.length, lua: STATUS_LUA } }

type Field = string | null | false
type StatusReply = [Exclude<JobState, 'cancelled'>, Field, Field, string, string, Field, Field, Field, Field, Field, Field] | null

/** The BullMQ states each status is found in (a cancelled job is failed, or queued or active until a worker drops it). */
const TYPES_OF: Record<JobState, JobType[]> = {
  queued: ['waiting', 'delayed', 'prioritized', 'waiting-children'],
  running: ['active'],
  succeeded: ['completed'],
  failed: ['failed'],
  cancelled: ['failed', 'waiting', 'delayed', 'prioritized', 'active']
}
const ALL_TYPES = [...new Set(Object.values(TYPES_OF).flat())]

export class JobReads {
  constructor (private readonly queue: Queue) {}

  async status (id: string): Promise<JobStatus | undefined> {
    const keys = [this.queue.toKey(id), this.queue.toKey(`${CANCEL_MARK}${id}`), ...STATE_KEYS.map(state => this.queue.keys[state])]
    const reply: StatusReply = await (await clientWith(this.queue, SCRIPTS)).runCommand('fbgJobStatus', [...keys, id])
    if (reply === null) return undefined
    const [state, runAt, mark, name, timestamp, processedOn, finishedOn, failedReason, attempts, progress, returnvalue] = reply
    // A job cancelled before it started is cancelled from then on (the worker that takes it drops
    // it); one cancelled while it ran is running until its replica has aborted it, and failed it.
    const [cancelledAt, found] = typeof mark === 'string' ? mark.split(':') : []
    const dropped = found === 'queued'
    const status = dropped || (found === 'running' && state === 'failed') ? 'cancelled' : state
    const finished = status !== 'queued' && status !== 'running'
    return jobStatus({
      id,
      name,
      status,
      enqueuedAt: Number(timestamp),
      startedAt: dropped ? undefined : numberOf(processedOn),
      finishedAt: dropped ? Number(cancelledAt) : finished ? numberOf(finishedOn) : undefined,
      // BullMQ writes failedReason in the script that moves a job to failed.
      error: dropped ? CANCELLED_ERROR : status === 'failed' || status === 'cancelled' ? failedReason as string : undefined,
      attempt: dropped ? undefined : numberOf(attempts),
      progress: typeof progress === 'string' ? JSON.parse(progress) : undefined,
      result: status === 'succeeded' && typeof returnvalue === 'string' ? resultOf(returnvalue) : undefined,
      runAt: status === 'queued' ? numberOf(runAt) : undefined
    })
  }

  /**
   * The fleet's kept jobs, newest (last enqueued) first. BullMQ keeps them in one set per state,
   * each in its own order, so the candidates are read with their enqueue times and sorted; then
   * the statuses of the candidates are read until the page is full.
   */
  async list (query: JobQuery): Promise<JobStatus[]> {
    const ids = await this.queue.getRanges(query.status === undefined ? ALL_TYPES : TYPES_OF[query.status], 0, -1)
    const client = await this.queue.backend.client
    const stamps = await Promise.all([...new Set(ids)].map(async id => [id, Number(await client.hget(this.queue.toKey(id), 'timestamp'))] as const))
    stamps.sort((a, b) => b[1] - a[1])
    const page: JobStatus[] = []
    let skip = query.offset
    for (const [id] of stamps) {
      if (page.length === query.limit) break
      const status = await this.status(id)
      if (status === undefined || (query.status !== undefined && status.status !== query.status)) continue
      if (skip > 0) skip--
      else page.push(status)
    }
    return page
  }
}

/** The error of a job cancelled before it started, as in-process. */
const CANCELLED_ERROR = new CancelledError(CANCELLED_ON_REQUEST).message

function numberOf (field: Field): number | undefined {
  return typeof field === 'string' ? Number(field) : undefined
}

/** BullMQ keeps what the processor returned as JSON; a handler that resolved with nothing left `null`. */
function resultOf (json: string): unknown {
  const value = JSON.parse(json)
  return value === null ? undefined : value
}
