import t from 'tap';
import { checkRecord, recordProblem, recordTimeMs } from '../../../src/server/ledger/ledger-record.js';
import { canary, flag, probe, request, T0 } from '../../fixtures/ledger-records.js';

t.test('a record of each type checks, and keeps fields it does not know', async (t) => {
  for (const record of [request(), probe(), canary(), flag()]) t.equal(recordProblem(record), undefined, record.type);
  const newer = { ...request(), servedBy: 'gpu-2' };
  t.equal(checkRecord(newer), newer);
  t.equal(recordTimeMs(request({ time: '2025-01-01T00:01:00.000Z' })), T0 + 60_000);
  t.equal(recordProblem(request({ parameterSize: undefined, contentBytes: undefined })), undefined, 'optional fields may be absent');
  t.equal(recordProblem(request({ canary: { reference: null, digest: 'sha256:x', passed: null } })), undefined);
  t.equal(
    recordProblem(request({ ttftMs: null, promptTokensReported: null, completionTokensReported: null, evalDurationNs: null })),
    undefined,
  );
});

t.test('each malformed field is named', async (t) => {
  const cases: [unknown, RegExp][] = [
    [null, /not a JSON object/],
    [[request()], /not a JSON object/],
    [{ ...request(), type: 'bill' }, /^type must be one of request, probe, canary, flag/],
    [{ ...request(), id: '' }, /^id must be a string/],
    [{ ...request(), time: '2025-01-01 00:00' }, /^time must be an ISO 8601 UTC time/],
    [{ ...request(), time: '2025-13-45T00:00:00Z' }, /^time must/],
    [{ ...request(), node: 'Not_A_Label' }, /^node must be a node name/],
    [{ ...request(), keyOwner: ['alpha', 'BAD'] }, /^keyOwner must be a list of node names/],
    [{ ...request(), outcome: 'crashed' }, /^outcome must be one of ok, node_error, timeout, client_abort/],
    [{ ...request(), stream: 'yes' }, /^stream must be true or false/],
    [{ ...request(), durationMs: -1 }, /^durationMs must be a number of milliseconds/],
    [{ ...request(), completionTokensObserved: 1.5 }, /^completionTokensObserved must be a whole number/],
    [{ ...request(), completionTokensReported: '12' }, /^completionTokensReported must be null or a whole number/],
    [{ ...request(), contentBytes: -3 }, /^contentBytes must be absent, null or a whole number/],
    [{ ...request(), canary: { reference: null, digest: 'd' } }, /^canary must be null or \{reference, digest, passed\}/],
    [{ ...request(), keyId: undefined }, /^keyId must be null or a string/],
    [{ ...probe(), models: 'llama3.2' }, /^models must be a list of model names/],
    [{ ...probe(), latencyMs: Infinity }, /^latencyMs must be null or a number of milliseconds/],
    [{ ...canary(), passed: null }, /^passed must be true or false/],
    [{ ...canary(), reason: 'x'.repeat(1025) }, /^reason must be a string of 1 to 1024 characters/],
    [{ ...flag(), epoch: 1.5 }, /^epoch must be a whole number/],
  ];
  for (const [value, problem] of cases) t.match(recordProblem(value), problem, String(problem));
  t.throws(() => checkRecord({ ...request(), outcome: 'crashed' }), { code: 'PRX_ERR_LEDGER_RECORD_INVALID' });
});
