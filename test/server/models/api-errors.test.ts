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

t.test("errors on /v1/messages: Anthropic's shape, its type from the status; in-band an error event", async (t) => {
  const shaped = (code: (typeof ErrorCodes)[keyof typeof ErrorCodes]): unknown =>
    JSON.parse(errorBody('anthropic', userError(new ProximaError(code, 'why'))));
  const types = [
    ErrorCodes.HTTP_BAD_REQUEST,
    ErrorCodes.UNAUTHORIZED,
    ErrorCodes.FORBIDDEN,
    ErrorCodes.MODEL_NOT_FOUND,
    ErrorCodes.HTTP_METHOD_NOT_ALLOWED,
    ErrorCodes.HTTP_BODY_TOO_LARGE,
    ErrorCodes.RATE_LIMITED,
    ErrorCodes.NODES_BUSY,
    ErrorCodes.MODEL_UNAVAILABLE,
    ErrorCodes.NODE_TIMEOUT,
    ErrorCodes.NODE_FAILED,
  ].map((code) => (shaped(code) as { error: { type: string } }).error.type);
  t.same(types, [
    'invalid_request_error',
    'authentication_error',
    'permission_error',
    'not_found_error',
    'invalid_request_error',
    'request_too_large',
    'rate_limit_error',
    'overloaded_error',
    'overloaded_error',
    'timeout_error',
    'api_error',
  ]);
  t.same(shaped(ErrorCodes.MODEL_NOT_FOUND), { type: 'error', error: { type: 'not_found_error', message: 'why' } });
  t.same(JSON.parse(errorBody('anthropic', userError(new Error('bug')))), {
    type: 'error',
    error: { type: 'api_error', message: 'internal error' },
  });
  t.equal(
    inBandError('anthropic', new ProximaError(ErrorCodes.NODE_FAILED, 'gone')).toString(),
    'event: error\ndata: {"type":"error","error":{"type":"api_error","message":"gone"}}\n\n',
  );
});
