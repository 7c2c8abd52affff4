import t from 'tap';
import { ErrorCodes, ProximaError } from '../../../src/errors.js';
import { BadFieldError, errorBody, inBandError, userError } from '../../../src/server/models/api-errors.js';

t.test('errors: OpenAI shape with types and codes, Ollama shape a string, bugs say nothing', async (t) => {
  const notFound = userError(new ProximaError(ErrorCodes.MODEL_NOT_FOUND, 'no node shares the model x'));
  t.same(JSON.parse(errorBody('openai', notFound)), {
    error: { message: 'no node shares the model x', type: 'invalid_request_error', param: null, code: 'model_not_found' },
  });
  t.same(JSON.parse(errorBody('ollama', notFound)), { error: 'no node shares the model x' });
  t.same(userError(new BadFieldError('model', 'model is required')).param, 'model');
  const statuses = [
    ErrorCodes.UNAUTHORIZED,
    ErrorCodes.FORBIDDEN,
    ErrorCodes.RATE_LIMITED,
    ErrorCodes.NODES_BUSY,
    ErrorCodes.MODEL_UNAVAILABLE,
    ErrorCodes.NODE_TIMEOUT,
    ErrorCodes.NODE_FAILED,
    ErrorCodes.TARGET_UNREACHABLE,
    ErrorCodes.MUX_STREAM_RESET,
  ].map((code) => userError(new ProximaError(code, 'x')).status);
  t.same(statuses, [401, 403, 429, 503, 503, 504, 502, 502, 502]);
  t.same(userError(new Error('/secret/path exploded')), {
    status: 500,
    type: 'server_error',
    openaiCode: 'internal_error',
    message: 'internal error',
    code: undefined,
    param: null,
  });
  t.equal(inBandError('ollama', new ProximaError(ErrorCodes.NODE_FAILED, 'gone')).toString(), '{"error":"gone"}\n');
  t.equal(
    inBandError('openai', new ProximaError(ErrorCodes.NODE_TIMEOUT, 'slow')).toString(),
    'data: {"error":{"message":"slow","type":"server_error","param":null,"code":"timeout"}}\n\n',
  );
});
