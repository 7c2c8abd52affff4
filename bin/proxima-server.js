#!/usr/bin/env node
import { main } from '../dist/src/server/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
