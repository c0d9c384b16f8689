import { existsSync } from 'node:fs'
import { chromium, type Browser } from 'playwright-core'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/** Debian's chromium, headless; never a browser download. */
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']

/** Why the browser tests cannot run here, or false. On CI (CI=true) a missing Chromium fails. */
export function chromiumSkipReason (): string | false {
  if (existsSync(CHROMIUM)) return false
  const reason = `Chromium is not installed at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH) to run the dashboard's browser tests`
  if (process.env.CI === 'true') throw new Error(reason)
  return reason
}

export function launchChromium (): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: FLAGS })
}
