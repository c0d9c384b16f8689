import { randomFillSync } from 'node:crypto'

// Job and run ids: random UUIDs (version 4, RFC 9562), made as Node's randomUUID() makes them,
// from random bytes read ahead in a pool, but written out as one flat string in one call.
// randomUUID() concatenates 14 pieces: a rope, which V8 flattens again at the first hash or
// comparison (the id is a Map key at once), and which holds ~490 bytes while it lives.
// The pool holds random bytes only, never state: ids of two apps in one process are as
// independent as two randomUUID() calls (which share Node's pool the same way).

const IDS_PER_FILL = 256
const pool = new Uint8Array(16 * IDS_PER_FILL)
let offset = pool.length
/** The character codes of each byte's two hex digits. */
const HIGH = new Uint8Array(256)
const LOW = new Uint8Array(256)
for (let byte = 0; byte < 256; byte++) {
  const hex = byte.toString(16).padStart(2, '0')
  HIGH[byte] = hex.charCodeAt(0)
  LOW[byte] = hex.charCodeAt(1)
}
const DASH = 0x2d

/** A random UUID (v4), as `crypto.randomUUID()` gives it. */
export function newId (): string {
  if (offset === pool.length) {
    randomFillSync(pool)
    offset = 0
  }
  const b = pool
  const o = offset
  offset += 16
  // The version (4) in the high nibble of byte 6, the variant (10xx) in the high bits of byte 8.
  const version = (b[o + 6] & 0x0f) | 0x40
  const variant = (b[o + 8] & 0x3f) | 0x80
  return String.fromCharCode(
    HIGH[b[o]], LOW[b[o]], HIGH[b[o + 1]], LOW[b[o + 1]], HIGH[b[o + 2]], LOW[b[o + 2]], HIGH[b[o + 3]], LOW[b[o + 3]], DASH,
    HIGH[b[o + 4]], LOW[b[o + 4]], HIGH[b[o + 5]], LOW[b[o + 5]], DASH,
    HIGH[version], LOW[version], HIGH[b[o + 7]], LOW[b[o + 7]], DASH,
    HIGH[variant], LOW[variant], HIGH[b[o + 9]], LOW[b[o + 9]], DASH,
    HIGH[b[o + 10]], LOW[b[o + 10]], HIGH[b[o + 11]], LOW[b[o + 11]], HIGH[b[o + 12]], LOW[b[o + 12]],
    HIGH[b[o + 13]], LOW[b[o + 13]], HIGH[b[o + 14]], LOW[b[o + 14]], HIGH[b[o + 15]], LOW[b[o + 15]]
  )
}
