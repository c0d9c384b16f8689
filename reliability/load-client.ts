import { writeFileSync } from 'node:fs'
import autocannon from 'autocannon'

// A real HTTP client at full speed, in its own process: POSTs `amount` requests to `url` and
// writes what came back (status counts, the ids of 202s, 503s without Retry-After) to `out`.

const [url, amountText, connectionsText, out] = process.argv.slice(2)
const ids: string[] = []
const statuses: Record<string, number> = {}
let missingRetryAfter = 0
let badBodies = 0

const instance = autocannon({
  url,
  method: 'POST',
  amount: Number(amountText),
  connections: Number(connectionsText),
  requests: [{
    method: 'POST',
    onResponse (status: number, body: string, _context: unknown, headers: Record<string, string>) {
      statuses[status] = (statuses[status] ?? 0) + 1
      if (status === 202) {
        try {
          ids.push(JSON.parse(body).id)
        } catch {
          badBodies++
        }
      } else if (status === 503 && !(Number(headers['retry-after']) >= 1)) {
        missingRetryAfter++
      }
    }
  }]
}, (error: Error | null, result: any) => {
  if (error !== null && error !== undefined) throw error
  writeFileSync(out, JSON.stringify({
    ids,
    statuses,
    missingRetryAfter,
    badBodies,
    errors: result.errors,
    timeouts: result.timeouts,
    requests: result.requests.total,
    durationMs: result.duration * 1000,
    rps: result.requests.average
  }))
})
instance.on('error', (error: Error) => { throw error })
