// The statements of the PostgreSQL store: one table beside BullMQ's own, in the same schema
// (the connection's search_path), and one statement per operation, each atomic on its own.
// Times are the server's, in ms, as BullMQ keeps them; a row whose expiry has passed counts as
// gone (and is swept now and then).

/** The store's table: per queue, kinds of rows (lock, pause, claim, claim-of, cancel, counter) by key. */
export const TABLE = 'fastify_background'

export const CREATE_TABLE = `
CREATE TABLE IF NOT EXISTS ${TABLE} (
  queue text NOT NULL,
  kind text NOT NULL,
  key text NOT NULL,
  value text NOT NULL,
  expires_at_ms bigint,
  PRIMARY KEY (queue, kind, key)
);
CREATE INDEX IF NOT EXISTS ${TABLE}_expiry_idx ON ${TABLE} (expires_at_ms) WHERE expires_at_ms IS NOT NULL`

/** Replicas starting together create the table one after the other. */
export const CREATE_LOCK = "SELECT pg_advisory_xact_lock(hashtext('fastify-background schema'))"
export const TABLE_EXISTS = `SELECT to_regclass('${TABLE}') IS NOT NULL AS present`

const NOW = '(extract(epoch FROM clock_timestamp()) * 1000)::bigint'
const LIVE = `(expires_at_ms IS NULL OR expires_at_ms > ${NOW})`

export const SWEEP = `DELETE FROM ${TABLE} WHERE expires_at_ms <= ${NOW}`

/** $1 queue, $2 name, $3 token, $4 ms: a row back means the lock is this token's. */
export const LOCK_ACQUIRE = `
INSERT INTO ${TABLE} AS held (queue, kind, key, value, expires_at_ms) VALUES ($1, 'lock', $2, $3, ${NOW} + $4)
ON CONFLICT (queue, kind, key) DO UPDATE SET value = excluded.value, expires_at_ms = excluded.expires_at_ms
WHERE held.expires_at_ms <= ${NOW}
RETURNING 1`

export const LOCK_REFRESH = `UPDATE ${TABLE} SET expires_at_ms = ${NOW} + $4 WHERE queue = $1 AND kind = 'lock' AND key = $2 AND value = $3`
export const LOCK_RELEASE = `DELETE FROM ${TABLE} WHERE queue = $1 AND kind = 'lock' AND key = $2 AND value = $3`

export const PAUSE_ADD = `
INSERT INTO ${TABLE} (queue, kind, key, value) VALUES ($1, 'pause', $2, ${NOW}::text)
ON CONFLICT (queue, kind, key) DO NOTHING`
export const PAUSE_REMOVE = `DELETE FROM ${TABLE} WHERE queue = $1 AND kind = 'pause' AND key = $2`
export const PAUSES = `SELECT key FROM ${TABLE} WHERE queue = $1 AND kind = 'pause'`
export const IS_PAUSED = `SELECT 1 FROM ${TABLE} WHERE queue = $1 AND kind = 'pause' AND key = $2`

/**
 * $1 queue, $2 claim, $3 job id, $4 record, $5 ms. The upsert always answers the row, locked, as
 * it now is: ours if it was free (then the job's link to it is written too), else the holder's.
 */
export const CLAIM = `
WITH claimed AS (
  INSERT INTO ${TABLE} AS held (queue, kind, key, value, expires_at_ms) VALUES ($1, 'claim', $2, $4, ${NOW} + $5)
  ON CONFLICT (queue, kind, key) DO UPDATE SET
    value = CASE WHEN held.expires_at_ms <= ${NOW} THEN excluded.value ELSE held.value END,
    expires_at_ms = CASE WHEN held.expires_at_ms <= ${NOW} THEN excluded.expires_at_ms ELSE held.expires_at_ms END
  RETURNING value
), linked AS (
  INSERT INTO ${TABLE} (queue, kind, key, value, expires_at_ms)
  SELECT $1, 'claim-of', $3, $2, ${NOW} + $5 FROM claimed WHERE claimed.value = $4
  ON CONFLICT (queue, kind, key) DO UPDATE SET value = excluded.value, expires_at_ms = excluded.expires_at_ms
)
SELECT CASE WHEN value = $4 THEN NULL ELSE value END AS held FROM claimed`

/** $1 queue, $2 job id, $3 ms: the job's link, and the claim it names, expire `ms` from now. */
export const CLAIM_SETTLE = `
UPDATE ${TABLE} SET expires_at_ms = ${NOW} + $3
WHERE queue = $1 AND (
  (kind = 'claim-of' AND key = $2)
  OR (kind = 'claim' AND key = (SELECT value FROM ${TABLE} WHERE queue = $1 AND kind = 'claim-of' AND key = $2 AND ${LIVE}))
) AND ${LIVE}`

export const CLAIM_RELEASE = `DELETE FROM ${TABLE} WHERE queue = $1 AND kind = 'claim' AND key = $2`

/**
 * $1 queue, $2 job id, $3 when, $4 ms, $5 the name of a job cancelled while queued. The job's row
 * is locked (FOR UPDATE) while its state is read, the mark written and a queued job renamed:
 * BullMQ's moves of the job wait for it, or happen before it.
 */
export const CANCEL = `
WITH target AS (
  SELECT state, name FROM job WHERE queue = $1 AND id = $2 FOR UPDATE
), found AS (
  SELECT name, CASE
    WHEN state IN ('completed', 'failed') THEN 'finished'
    WHEN EXISTS (SELECT 1 FROM ${TABLE} WHERE queue = $1 AND kind = 'cancel' AND key = $2 AND ${LIVE}) THEN 'finished'
    WHEN state = 'active' THEN 'running'
    ELSE 'queued'
  END AS found FROM target
), marked AS (
  INSERT INTO ${TABLE} (queue, kind, key, value, expires_at_ms)
  SELECT $1, 'cancel', $2, $3::text || ':' || found || CASE WHEN found = 'queued' THEN ':' || name ELSE '' END, ${NOW} + $4
  FROM found WHERE found IN ('queued', 'running')
  ON CONFLICT (queue, kind, key) DO UPDATE SET value = excluded.value, expires_at_ms = excluded.expires_at_ms
), renamed AS (
  UPDATE job SET name = $5 FROM found WHERE job.queue = $1 AND job.id = $2 AND found.found = 'queued'
)
SELECT coalesce((SELECT found FROM found), 'unknown') AS found`

export const CANCEL_MARKS = `SELECT key FROM ${TABLE} WHERE queue = $1 AND kind = 'cancel' AND key = ANY($2) AND ${LIVE}`
/** $1 queue, $2 job id, $3 the name a cancel gave a queued job: the mark goes, and a renamed job gets its name back. */
export const UNMARK = `
WITH removed AS (
  DELETE FROM ${TABLE} WHERE queue = $1 AND kind = 'cancel' AND key = $2 RETURNING value
)
UPDATE job SET name = substring(removed.value FROM '^[^:]*:queued:(.*)$') FROM removed
WHERE job.queue = $1 AND job.id = $2 AND job.name = $3 AND removed.value ~ '^[^:]*:queued:'`

/** A job's row and its cancel mark, in one read. */
export const JOB = `
SELECT job.state, job.process_at_ms, mark.value AS mark, job.name, job.added_at_ms, job.processed_at_ms,
  job.finished_at_ms, job.failed_reason, job.attempts_started, job.progress, job.return_value
FROM job LEFT JOIN ${TABLE} AS mark
  ON mark.queue = job.queue AND mark.kind = 'cancel' AND mark.key = job.id AND (mark.expires_at_ms IS NULL OR mark.expires_at_ms > ${NOW})
WHERE job.queue = $1 AND job.id = $2`

export const LISTED = 'SELECT id, added_at_ms FROM job WHERE queue = $1 AND state::text = ANY($2)'

export const COUNT_REFUSAL = `
INSERT INTO ${TABLE} AS counted (queue, kind, key, value) VALUES ($1, 'counter', 'rejected', '1')
ON CONFLICT (queue, kind, key) DO UPDATE SET value = (counted.value::bigint + 1)::text`
export const REFUSALS = `SELECT value FROM ${TABLE} WHERE queue = $1 AND kind = 'counter' AND key = 'rejected'`
