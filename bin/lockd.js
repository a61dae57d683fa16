#!/usr/bin/env node
require('../dist/src/server/main.js');
