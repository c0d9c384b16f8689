'use strict'

const globals = require('globals')

module.exports = [
  ...require('neostandard')({
    ts: true,
    ignores: ['dist/**', 'coverage/**', '.tap/**']
  }),
  // The dashboard's page runs in the browser.
  { files: ['lib/dashboard/assets/**/*.js'], languageOptions: { globals: globals.browser, sourceType: 'module' } }
]
