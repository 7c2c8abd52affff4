import t from 'tap';
import { wrapText } from '../../src/cli/wrap.js';

t.test('a table row continues under its description, between words', async (t) => {
  const row = '  -c, --config   the server.yaml file to read at start  [string]';
  t.equal(wrapText(row, 40), ['  -c, --config   the server.yaml file to', '                 read at start [string]'].join('\n'));
});

t.test('a plain line continues under its own indent; short lines and blank lines stay as they are', async (t) => {
  t.equal(wrapText('Exit codes: 0 ok, 1 failure, 2 usage', 16), 'Exit codes: 0\nok, 1 failure, 2\nusage');
  t.equal(wrapText('  indented text that wraps here', 20), '  indented text that\n  wraps here');
  t.equal(wrapText('short\n\nlines', 10), 'short\n\nlines');
});

t.test('a word longer than the width stays whole on a line of its own', async (t) => {
  t.equal(wrapText('see https://example.com/a/very/long/path now', 12), 'see\nhttps://example.com/a/very/long/path\nnow');
});

t.test('a hanging indent that leaves too little room falls back to the line indent', async (t) => {
  const row = '  proxima-server nodes add my-gpu  register my-gpu and print its token';
  const wrapped = wrapText(row, 50).split('\n');
  t.equal(wrapped[0], '  proxima-server nodes add my-gpu  register my-gpu');
  t.match(wrapped[1], /^ {6}\S/, 'four more than the row');
  t.ok(wrapped.every((line) => line.length <= 50));
});
