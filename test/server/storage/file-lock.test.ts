import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { acquireFileLock, pidAlive } from '../../../src/server/storage/file-lock.js';

/** The pid of a process that has exited. */
function deadPid(): number {
  const pid = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
  return Number(pid);
}

t.test('the lock holds the owner pid and excludes a second holder until released', async (t) => {
  const lockPath = path.join(t.testdir(), 'x.lock');
  const first = await acquireFileLock(lockPath);
  t.match(fs.readFileSync(lockPath, 'utf8'), new RegExp(`^${process.pid} [0-9a-f]+\\n$`));
  await t.rejects(acquireFileLock(lockPath, { waitMs: 50 }), { code: 'PRX_ERR_STORE_LOCKED' });
  const order: string[] = [];
  const second = acquireFileLock(lockPath, { waitMs: 5_000 }).then((lock) => {
    order.push('second');
    return lock;
  });
  order.push('release');
  await first.release();
  const lock = await second;
  t.same(order, ['release', 'second'], 'the waiter got the lock only after the release');
  await lock.release();
  await lock.release();
  t.notOk(fs.existsSync(lockPath), 'released and gone');
  t.same(fs.readdirSync(path.dirname(lockPath)), [], 'no temp files left');
});

t.test('a lock whose owner died is taken over', async (t) => {
  const lockPath = path.join(t.testdir(), 'x.lock');
  const pid = deadPid();
  t.notOk(pidAlive(pid));
  fs.writeFileSync(lockPath, `${pid} 00ff\n`);
  const lock = await acquireFileLock(lockPath, { waitMs: 0 });
  t.match(fs.readFileSync(lockPath, 'utf8'), new RegExp(`^${process.pid} `));
  await lock.release();
});

t.test('a lock with our own pid that we do not hold is from a past life (pid reuse in containers)', async (t) => {
  const lockPath = path.join(t.testdir(), 'x.lock');
  fs.writeFileSync(lockPath, `${process.pid} 00ff\n`);
  const lock = await acquireFileLock(lockPath, { waitMs: 0 });
  await lock.release();
  t.notOk(fs.existsSync(lockPath));
});

t.test('a live owner is waited for; an old or unreadable lock is stale only after staleMs', async (t) => {
  const dir = t.testdir();
  const live = path.join(dir, 'live.lock');
  fs.writeFileSync(live, `${process.ppid} 00ff\n`);
  await t.rejects(acquireFileLock(live, { waitMs: 20 }), { code: 'PRX_ERR_STORE_LOCKED' }, 'the parent process is alive');
  t.equal(fs.readFileSync(live, 'utf8'), `${process.ppid} 00ff\n`, 'a live lock is left alone');
  const old = new Date(Date.now() - 60_000);
  fs.utimesSync(live, old, old);
  const taken = await acquireFileLock(live, { waitMs: 0, staleMs: 30_000 });
  await taken.release();

  const garbled = path.join(dir, 'garbled.lock');
  fs.writeFileSync(garbled, 'not a lock');
  await t.rejects(acquireFileLock(garbled, { waitMs: 20 }), { code: 'PRX_ERR_STORE_LOCKED' });
  fs.utimesSync(garbled, old, old);
  await (await acquireFileLock(garbled, { waitMs: 0 })).release();
});

t.test('a release does not remove a lock that someone else took over', async (t) => {
  const lockPath = path.join(t.testdir(), 'x.lock');
  const lock = await acquireFileLock(lockPath);
  fs.writeFileSync(lockPath, `${process.ppid} 00ff\n`);
  await lock.release();
  t.equal(fs.readFileSync(lockPath, 'utf8'), `${process.ppid} 00ff\n`);
});

t.test('many concurrent takers in one process get the lock one at a time', async (t) => {
  const lockPath = path.join(t.testdir(), 'x.lock');
  let inside = 0;
  let most = 0;
  await Promise.all(
    Array.from({ length: 20 }, async () => {
      const lock = await acquireFileLock(lockPath, { waitMs: 10_000 });
      inside += 1;
      most = Math.max(most, inside);
      await new Promise<void>((resolve) => setImmediate(resolve));
      inside -= 1;
      await lock.release();
    }),
  );
  t.equal(most, 1);
});

t.test('a taker in this process waits its turn up to waitMs, then gets PRX_ERR_STORE_LOCKED; the queue goes on', async (t) => {
  const lockPath = path.join(t.testdir(), 'x.lock');
  const held = await acquireFileLock(lockPath);
  await t.rejects(acquireFileLock(lockPath, { waitMs: 30 }), {
    code: 'PRX_ERR_STORE_LOCKED',
    message: new RegExp(`held by pid ${process.pid} `),
  });
  const next = acquireFileLock(lockPath, { waitMs: 10_000 });
  await held.release();
  const lock = await next;
  t.equal(fs.readFileSync(lockPath, 'utf8').split(' ')[0], String(process.pid), 'the next taker holds it');
  await lock.release();
  t.notOk(fs.existsSync(lockPath), 'and releases it');
});
