// The ESM entry: Node cannot see the names of a CommonJS module that replaces module.exports.
import cjs from './index.js'

export const fastifyBackground = cjs.default
export const errors = cjs.errors
export default fastifyBackground
