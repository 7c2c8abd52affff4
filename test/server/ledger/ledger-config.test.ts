import t from 'tap';
import { DEFAULT_SERVER_CONFIG, loadServerConfig } from '../../../src/server/config.js';
import { repoPath } from '../../fixtures/paths.js';

t.test('without a ledger section: the defaults', async (t) => {
  t.same(DEFAULT_SERVER_CONFIG.ledger, { maxBatchRecords: 4096, maxFileBytes: 67_108_864 });
});

t.test('every key set, with units', async (t) => {
  const c = loadServerConfig(repoPath('test/fixtures/config/server/valid/ledger-rewards.yaml'));
  t.same(c.ledger, { flushIntervalMs: 50, maxBatchRecords: 1000, maxFileBytes: 0 });
});
