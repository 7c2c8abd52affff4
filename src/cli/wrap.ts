/**
 * Wraps help text at a width between words, never inside one (yargs' own wrapping cuts words:
 * `re` / `voke`). A row of a table (a name, two spaces or more, its description) continues under
 * its description; any other line under its own indent. A word longer than the width stays whole.
 */

/** The shortest room a continuation keeps for its words; a deeper hanging indent falls back to the line's own. */
const MIN_ROOM = 20;

/** `text` with every line wrapped at `width` columns. */
export function wrapText(text: string, width: number): string {
  return text
    .split('\n')
    .map((line) => wrapLine(line, width))
    .join('\n');
}

function wrapLine(line: string, width: number): string {
  if (line.length <= width) return line;
  const lead = /^ */.exec(line)![0].length;
  const row = /^( *\S+(?: \S+)*? {2,})\S/.exec(line);
  let indent = row === null ? lead : row[1]!.length;
  if (row !== null && width - indent < MIN_ROOM) indent = width - (lead + 4) < MIN_ROOM ? lead : lead + 4;
  const head = row === null ? line.slice(0, lead) : row[1]!;
  const words = line
    .slice(head.length)
    .split(/ +/)
    .filter((w) => w !== '');
  const out: string[] = [];
  let current = head;
  let empty = true;
  for (const word of words) {
    if (!empty && current.length + 1 + word.length > width) {
      out.push(current);
      current = ' '.repeat(indent);
      empty = true;
    }
    current += (empty ? '' : ' ') + word;
    empty = false;
  }
  out.push(current);
  return out.join('\n');
}
