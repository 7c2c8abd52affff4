import { STATUS_CODES } from 'node:http';
import t from 'tap';
import { STATUS_REASONS } from '../../src/http/status-reasons.js';

t.test("the reason phrases are node:http's, every code", async (t) => {
  t.same({ ...STATUS_REASONS }, { ...STATUS_CODES });
  t.equal(Object.keys(STATUS_REASONS).length, Object.keys(STATUS_CODES).length);
});
