import t from 'tap';
import { conversationKeys, conversationKeysAt } from '../../../src/proto/llm/conversation.js';
import { memberStarts } from '../../../src/proto/llm/model-field.js';

/** The keys of `json` read from its bytes, serialised with `space`. */
function keysAt(json: Record<string, unknown>, kind: 'chat' | 'prompt', space?: number): string[] {
  const b = Buffer.from(JSON.stringify(json, null, space), 'utf8');
  const at = (key: string): number => memberStarts(b, key).pop() ?? -1;
  return conversationKeysAt(b, kind, { messages: at('messages'), prompt: at('prompt'), system: at('system') });
}

t.test('a chat is known by its messages up to the first user message', async (t) => {
  const system = { role: 'system', content: 'You are terse.' };
  const first = { role: 'user', content: 'What is a GPU?' };
  const turn1 = conversationKeys({ messages: [system, first] }, 'chat');
  const turn3 = conversationKeys(
    { messages: [system, first, { role: 'assistant', content: 'A chip.' }, { role: 'user', content: 'And a TPU?' }] },
    'chat',
  );
  t.equal(turn1.length, 1);
  t.same(turn3, turn1, 'every later turn has the key of the first');
  t.not(conversationKeys({ messages: [system, { role: 'user', content: 'Hello' }] }, 'chat')[0], turn1[0], 'another opening question');
  t.not(conversationKeys({ messages: [first] }, 'chat')[0], turn1[0], 'the system prompt counts');
  t.same(conversationKeys({ messages: [] }, 'chat'), []);
  t.same(conversationKeys({ prompt: 'x' }, 'chat'), [], 'no messages');
  t.match(conversationKeys({ messages: [system] }, 'chat'), [/^c:[\w-]{22}$/], 'no user message: all of them');
});

t.test('a prompt is known by its prefixes, the longest first, so a longer follow-up finds the shorter one', async (t) => {
  const short = conversationKeys({ prompt: 'hello' }, 'prompt');
  t.equal(short.length, 1, 'shorter than every prefix: the whole prompt');
  const p300 = 'a'.repeat(300);
  const first = conversationKeys({ prompt: p300 }, 'prompt');
  t.same(
    first.map((k) => k.split(':')[0]),
    ['p256', 'p64'],
  );
  const later = conversationKeys({ prompt: `${p300}${'b'.repeat(5000)}` }, 'prompt');
  t.same(
    later.map((k) => k.split(':')[0]),
    ['p4096', 'p1024', 'p256', 'p64'],
  );
  t.ok(later.includes(first[0]!), 'the follow-up looks up the key its predecessor was remembered under');
  t.not(conversationKeys({ prompt: p300, system: 'other' }, 'prompt')[0], first[0], 'the system prompt counts');
  t.same(conversationKeys({ prompt: '' }, 'prompt'), []);
  t.equal(conversationKeys({ prompt: ['a', 'b'] }, 'prompt').length, 1, 'a list prompt (/v1/completions) as its JSON');
});

t.test('the bytes give the keys the parsed body gives, however the body is spelled', async (t) => {
  const bodies: [Record<string, unknown>, 'chat' | 'prompt'][] = [
    [
      {
        messages: [
          { role: 'system', content: 'You are terse. é 😀' },
          { role: 'user', content: 'What is a "GPU"?\n' },
        ],
      },
      'chat',
    ],
    [
      {
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'look' },
              { type: 'image_url', image_url: { url: 'data:x' } },
            ],
          },
        ],
      },
      'chat',
    ],
    [{ messages: [{ role: 'user', content: 'x', images: ['aGk='] }] }, 'chat'],
    [{ messages: [1, 'x', { role: 7 }] }, 'chat'],
    [{ messages: [] }, 'chat'],
    [{ prompt: 'x'.repeat(5000), system: 's' }, 'prompt'],
    [{ prompt: ['a', 1.5, [1, 2], { o: 1 }, null] }, 'prompt'],
    [{ prompt: '' }, 'prompt'],
  ];
  for (const [json, kind] of bodies) {
    const parsed = conversationKeys(json, kind);
    t.same(keysAt(json, kind), parsed, JSON.stringify(json).slice(0, 60));
    t.same(keysAt(json, kind, 2), parsed, 'indented');
  }
});

t.test('a chat is hashed up to 64 Ki code units, a prompt up to 4,096: what follows does not change the key', async (t) => {
  const opening = (tail: string) => ({
    messages: [
      { role: 'system', content: `${'s'.repeat(70_000)}${tail}` },
      { role: 'user', content: 'q' },
    ],
  });
  t.same(keysAt(opening('a'), 'chat'), keysAt(opening('b'), 'chat'));
  t.same(conversationKeys(opening('a'), 'chat'), keysAt(opening('b'), 'chat'));
  t.not(keysAt(opening('a'), 'chat')[0], conversationKeys({ messages: [{ role: 'user', content: 's' }] }, 'chat')[0]);
});
