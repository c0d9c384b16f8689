import type { JobQuery } from '../core/model'
import { count, invalid, plainObject, show } from '../core/option-values'
import type { JobState } from '../types'

const STATES: readonly JobState[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled']
const MAX_LIMIT = 1000

/** Checks `list()`'s query; throws FST_BACKGROUND_INVALID_OPTION naming `query.status`, `query.limit` or `query.offset`. */
export function readListQuery (input: unknown): JobQuery {
  const query = plainObject(input ?? {}, 'query', ['status', 'limit', 'offset'], 'must be an object { status?, limit?, offset? }')
  const status = query.status
  if (status !== undefined && !STATES.includes(status as JobState)) {
    throw invalid('query.status', `must be one of ${STATES.join(', ')}, got ${show(status)}`)
  }
  const limit = count(query.limit, 'query.limit', 50, 1)
  if (limit > MAX_LIMIT) throw invalid('query.limit', `must be an integer from 1 to ${MAX_LIMIT}, got ${limit}`)
  return { status: status as JobState | undefined, limit, offset: count(query.offset, 'query.offset', 0, 0) }
}
