'use strict'

// The architecture of lib/, checked on every `npm test` (npm run test:deps). Imports point one
// way: entry points → plugin → backends → { tasks, jobs } → core → types. Type-only imports
// count as much as any other, so a cycle cannot hide behind `import type`.

const layer = (name, path, mayNotImport, comment) => ({
  name,
  comment,
  severity: 'error',
  from: { path },
  to: { path: mayNotImport }
})

module.exports = {
  forbidden: [
    {
      name: 'no-cycle',
      comment: 'A module that imports itself through others cannot be read, or changed, on its own.',
      severity: 'error',
      from: { path: '^lib/' },
      to: { circular: true }
    },
    layer('public-types-stand-alone', '^lib/types\\.ts$', '^lib/',
      'The public types (lib/types.ts) are what users program against: they import nothing internal.'),
    layer('model-imports-only-public-types', '^lib/core/model\\.ts$', '^lib/(?!types\\.ts$)',
      'The internal model is imported by everything, so it imports nothing but the public types.'),
    layer('core-is-the-bottom', '^lib/core/', '^lib/(tasks|jobs|backends|dashboard|metrics)/|^lib/(plugin|index|bullmq)\\.ts$',
      'core/ (model, options, the runner) knows nothing of tasks, jobs or backends.'),
    layer('tasks-beside-jobs', '^lib/tasks/', '^lib/(jobs|backends)/|^lib/(plugin|index|bullmq)\\.ts$',
      'tasks/ uses core only; a backend reaches it through the TaskScheduler port of the model.'),
    layer('jobs-beside-tasks', '^lib/jobs/', '^lib/(tasks|backends)/|^lib/(plugin|index|bullmq)\\.ts$',
      'jobs/ uses core only; a backend reaches it through the JobBackend port of the model.'),
    layer('dashboard-on-the-public-api', '^lib/dashboard/', '^lib/(tasks|backends)/|^lib/(plugin|index|bullmq)\\.ts$',
      'The dashboard reads and steers through what the plugin hands it (the public API and two views), never a backend or the registry itself.'),
    layer('metrics-on-the-events', '^lib/metrics/', '^lib/(tasks|jobs|backends|dashboard)/|^lib/(plugin|index|bullmq)\\.ts$',
      'The metrics hear the work events of the model and read the counts they are handed; they reach into nothing.'),
    layer('backends-below-the-plugin', '^lib/backends/', '^lib/(plugin|index|bullmq)\\.ts$',
      'A backend is wired by the plugin, never the other way.'),
    layer('memory-apart-from-bullmq', '^lib/backends/memory/', '^lib/backends/bullmq/',
      'Each backend stands alone; what they share lives in core/, jobs/ or tasks/.'),
    layer('bullmq-apart-from-memory', '^lib/backends/bullmq/', '^lib/backends/memory/',
      'Each backend stands alone; what they share lives in core/, jobs/ or tasks/.'),
    layer('redis-apart-from-postgres', '^lib/backends/bullmq/redis/', '^lib/backends/bullmq/postgres/',
      'Each store stands alone behind the store port (store.ts, driver.ts); backend.ts alone chooses one.'),
    layer('postgres-apart-from-redis', '^lib/backends/bullmq/postgres/', '^lib/backends/bullmq/redis/',
      'Each store stands alone behind the store port (store.ts, driver.ts); backend.ts alone chooses one.'),
    layer('stores-below-the-backend', '^lib/backends/bullmq/(redis|postgres)/', '^lib/backends/bullmq/(?!store\\.ts$|driver\\.ts$|outage\\.ts$|redis/|postgres/)',
      'A store implements the port; it knows nothing of the jobs, tasks and workers built on it.'),
    layer('plugin-below-the-entries', '^lib/plugin\\.ts$', '^lib/(index|bullmq)\\.ts$|^lib/backends/bullmq/',
      'The plugin never loads the BullMQ backend: it arrives as an option.'),
    {
      name: 'main-entry-loads-no-bullmq',
      comment: 'bullmq, ioredis and pg are optional peers: nothing the main entry reaches may load them.',
      severity: 'error',
      from: { path: '^lib/(index\\.ts|esm\\.mts)$' },
      to: { path: 'node_modules/(bullmq|ioredis|pg)/', reachable: true }
    },
    {
      name: 'prom-client-loaded-lazily',
      comment: 'prom-client is an optional peer: only its loader requires it, when the metrics option asks for it.',
      severity: 'error',
      from: { path: '^lib/', pathNot: '^lib/metrics/prom-client\\.ts$' },
      to: { path: 'node_modules/prom-client/', dependencyTypesNot: ['type-only'] }
    }
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^(dist|coverage)/' }
  }
}
