import t from 'tap';
import { conversationKeys } from '../../../src/proto/llm/conversation.js';

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
