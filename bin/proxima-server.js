#!/usr/bin/env node
import { main } from '../dist/proxima-server/proxima-server.js';

process.exitCode = await main(process.argv.slice(2));
