/**
 * Options for `net.connect` and `new net.Socket`, copied onto an object with no prototype.
 *
 * Node's Socket constructor copies its options with `{ ...options }` and then adds four fields to
 * the copy. Unless the constructor has been optimised, V8 11.3 (Node 20) gives the copy of an
 * ordinary object, once extended, a fresh hidden class each time, and hidden classes live in the
 * old generation: about 1.4 KiB of old-space garbage per connection (1,395 bytes per `net.connect`
 * with a literal, 2 with this, measured), which only a full mark-compact frees. The copy of an
 * object with no prototype keeps one hidden class (docs/performance-notes.md "Hidden classes per
 * connection").
 */
export function socketOptions<T extends object>(options: T): T {
  return Object.assign(Object.create(null) as T, options);
}
