#!/usr/bin/env node
require('../dist/src/cli/lockctl.js')
  .main(process.argv.slice(2))
  .then((code) => process.exit(code));
