import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { RESULT_MARK, type SectionResult } from './harness'

// `npm run test:reliability`: runs each section in its own process, one after the other (they
// measure time and memory, so they must not share the two cores), then prints every section's
// counts again and fails if anything was lost, a section crashed, or one ran past its limit.

const SECTIONS: Array<{ file: string, limitMs: number }> = [
  { file: 'faults.ts', limitMs: 60_000 },
  { file: 'load.ts', limitMs: 90_000 },
  { file: 'shutdown.ts', limitMs: 90_000 },
  { file: 'bad-input.ts', limitMs: 30_000 },
  { file: 'schedule.ts', limitMs: 60_000 },
  { file: 'job-control.ts', limitMs: 60_000 }
]

function runSection (file: string, limitMs: number): Promise<SectionResult> {
  return new Promise(resolve => {
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', join(__dirname, file)], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: process.env
    })
    let result: SectionResult | undefined
    let buffered = ''
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString()
      let newline
      while ((newline = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, newline)
        buffered = buffered.slice(newline + 1)
        if (line.startsWith(RESULT_MARK)) result = JSON.parse(line.slice(RESULT_MARK.length))
        else console.log(line)
      }
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      const section = file.replace(/\.ts$/, '')
      // A section that reported its losses exits 1 for them; any other non-zero exit is a crash.
      if (result === undefined || (code !== 0 && result.lost === 0)) {
        const why = signal !== null ? `killed by ${signal}${signal === 'SIGKILL' ? ` after ${limitMs} ms` : ''}` : `exit code ${code}`
        const base = result ?? { section, tried: 0, survived: 0, lost: 0, notes: [] }
        resolve({ ...base, tried: base.tried + 1, lost: base.lost + 1, notes: [...base.notes, `process: ${why}`] })
      } else {
        resolve(result)
      }
    })
  })
}

async function main (): Promise<void> {
  const started = Date.now()
  const only = process.argv.slice(2)
  const results: SectionResult[] = []
  for (const { file, limitMs } of SECTIONS) {
    if (only.length > 0 && !only.some(name => file.startsWith(name))) continue
    console.log(`\n# ${file}`)
    results.push(await runSection(file, limitMs))
  }
  // The summary is TAP too (one point per section), so CI counts the sections with the unit tests.
  console.log('\n# reliability summary\nTAP version 14')
  results.forEach((result, index) => {
    const line = `${result.section}: tried ${result.tried}, survived ${result.survived}, lost ${result.lost}`
    console.log(`${result.lost === 0 ? 'ok' : 'not ok'} ${index + 1} - ${line}`)
    for (const note of result.notes) console.log(`  # ${note}`)
  })
  console.log(`1..${results.length}`)
  const total = results.reduce((sum, r) => ({ tried: sum.tried + r.tried, survived: sum.survived + r.survived, lost: sum.lost + r.lost }), { tried: 0, survived: 0, lost: 0 })
  console.log(`# total: tried ${total.tried}, survived ${total.survived}, lost ${total.lost} (${((Date.now() - started) / 1000).toFixed(1)} s)`)
  if (total.lost > 0) process.exitCode = 1
}

main().catch(error => {
  console.error(error)
  process.exitCode = 1
})
