#!/usr/bin/env node
import { main } from '../dist/proxima-client/proxima-client.js';

process.exitCode = await main(process.argv.slice(2));
