import FakeTimers from '@sinonjs/fake-timers'
import t from 'tap'
import { OUTAGE_LOG_EVERY_MS, OutageLog } from '../lib/backends/bullmq-outage'
import { linesWith, logCapture } from './helpers/app'
import Fastify from 'fastify'

t.test('an outage is logged once, then once per interval with what was suppressed, and its end once', async t => {
  const clock = FakeTimers.install({ toFake: ['Date'] })
  t.teardown(() => clock.uninstall())
  const { stream, lines } = logCapture()
  const app = Fastify({ logger: { level: 'info', stream } })
  const outage = new OutageLog(app.log)
  t.equal(outage.restored(), false, 'no outage to end')
  outage.error(new Error('ECONNREFUSED'))
  outage.error(new Error('ECONNREFUSED'))
  outage.error(new Error('ECONNREFUSED'))
  t.equal(lines.length, 1)
  clock.tick(OUTAGE_LOG_EVERY_MS)
  outage.error(new Error('ECONNREFUSED'))
  t.match(lines[1], { msg: 'Redis still failing', suppressed: 2, downMs: OUTAGE_LOG_EVERY_MS })
  clock.tick(5)
  t.equal(outage.restored(), true)
  t.match(linesWith(lines, 'Redis reachable again'), [{ downMs: OUTAGE_LOG_EVERY_MS + 5 }])
  t.equal(outage.restored(), false, 'ended once')
  await app.close()
})
