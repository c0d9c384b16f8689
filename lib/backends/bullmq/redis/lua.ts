// The Lua scripts of the Redis store that read BullMQ's own keys or write two keys at once.

// An idempotency claim is one SET NX, with a second key from the job to its claim, for settling.
export const CLAIM_LUA = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[3]) then
  redis.call('SET', KEYS[2], KEYS[1], 'PX', ARGV[3])
  return false
end
return redis.call('GET', KEYS[1])`

// Settling: the replica that ends the job keeps its claim `ttl` from then on.
export const SETTLE_LUA = `
local claim = redis.call('GET', KEYS[1])
if not claim then return 0 end
redis.call('PEXPIRE', claim, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`

// Marking a job cancelled, atomic with BullMQ's own scripts (a job moves to active, or finishes,
// either before the mark or after it), so a cancel that races a job's start or end comes out as
// one status.
export const CANCEL_LUA = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 'unknown' end
if redis.call('ZSCORE', KEYS[3], ARGV[1]) or redis.call('ZSCORE', KEYS[4], ARGV[1]) then return 'finished' end
if redis.call('EXISTS', KEYS[2]) == 1 then return 'finished' end
local found = 'queued'
local active = redis.pcall('LPOS', KEYS[5], ARGV[1])
if type(active) ~= 'table' and active ~= false then found = 'running' end
if type(active) == 'table' then
  for _, item in ipairs(redis.call('LRANGE', KEYS[5], 0, -1)) do
    if item == ARGV[1] then found = 'running' end
  end
end
-- The mark says when, and whether the job had started: one that had not reads cancelled at once,
-- and is renamed, so the worker that takes it drops it; the mark keeps its name.
local mark = ARGV[2] .. ':' .. found
if found == 'queued' then
  mark = mark .. ':' .. redis.call('HGET', KEYS[1], 'name')
  redis.call('HSET', KEYS[1], 'name', ARGV[4])
end
redis.call('SET', KEYS[2], mark, 'PX', ARGV[3])
return found`

// Taking a cancel mark away (a retry): a job it renamed gets its name back.
export const UNMARK_LUA = `
local mark = redis.call('GET', KEYS[1])
if not mark then return 0 end
local name = string.match(mark, '^[^:]*:queued:(.*)$')
if name and redis.call('HGET', KEYS[2], 'name') == ARGV[1] then redis.call('HSET', KEYS[2], 'name', name) end
return redis.call('DEL', KEYS[1])`

/** The BullMQ keys, after the job's hash and its cancel mark, in the order STATUS_LUA reads them. */
export const STATE_KEYS = ['completed', 'failed', 'active', 'wait', 'paused', 'delayed', 'prioritized', 'waiting-children'] as const

// A job's state and fields, read in one step.
export const STATUS_LUA = `
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
