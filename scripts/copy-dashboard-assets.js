// Part of `npm run build`: the dashboard's browser files are not TypeScript, so tsc leaves them out.
// Copies the page's own script and style, and uPlot's minified browser build and CSS from its npm
// package, next to the compiled dashboard module, where the super node reads them into memory.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const from = path.join(root, 'src/server/admin/dashboard/assets');
const to = path.join(root, 'dist/src/server/admin/dashboard/assets');
const uplot = path.dirname(createRequire(import.meta.url).resolve('uplot/package.json'));

fs.mkdirSync(to, { recursive: true });
for (const name of fs.readdirSync(from)) fs.copyFileSync(path.join(from, name), path.join(to, name));
for (const name of ['uPlot.iife.min.js', 'uPlot.min.css']) fs.copyFileSync(path.join(uplot, 'dist', name), path.join(to, name));
