// A persisted job carries its data as JSON. What JSON would drop, refuse or silently change is
// caught here, at enqueue, with the path of the first offending value, instead of surfacing as a
// changed payload (or a thrown TypeError) on another replica.

/** Why JSON cannot carry `value` faithfully ("data.user.id is a BigInt"), or undefined when it can. */
export function jsonProblem (value: unknown, path = 'data'): string | undefined {
  return walk(value, path, [])
}

function walk (value: unknown, path: string, parents: object[]): string | undefined {
  // What has a toJSON (a Date) is carried as what it returns.
  if (typeof value === 'object' && value !== null && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    value = (value as { toJSON: () => unknown }).toJSON()
  }
  switch (typeof value) {
    case 'bigint': return `${path} is a BigInt`
    case 'function': return `${path} is a function`
    case 'symbol': return `${path} is a symbol`
    case 'number': return Number.isFinite(value) ? undefined : `${path} is ${value} (JSON would carry it as null)`
    case 'object': break
    default: return undefined
  }
  if (value === null) return undefined
  if (value instanceof Map || value instanceof Set) return `${path} is a ${value instanceof Map ? 'Map' : 'Set'} (JSON would carry it as {})`
  if (parents.includes(value)) return `${path} refers back to an object that contains it (a cycle)`
  parents.push(value)
  const list = Array.isArray(value)
  for (const [key, item] of Object.entries(value)) {
    const problem = walk(item, list ? `${path}[${key}]` : `${path}.${key}`, parents)
    if (problem !== undefined) return problem
  }
  parents.pop()
  return undefined
}
