import { bullmqBackend } from './backends/bullmq/backend'

// The second entry point, 'fastify-background/bullmq'. Only this entry imports bullmq (and,
// through it, ioredis), so both stay optional for applications on the in-process backend.

export { bullmqBackend } from './backends/bullmq/backend'
export { BULLMQ_DEFAULTS, type BullmqBackendOptions } from './backends/bullmq/options'
export default bullmqBackend

// require('fastify-background/bullmq') returns bullmqBackend itself, with .default and
// .bullmqBackend on it; import gets the same names (Node reads them off module.exports).
module.exports = Object.assign(bullmqBackend, exports, { default: bullmqBackend, bullmqBackend })
