/**
 * The things open now (connections, streams being forwarded), in a list whose entries forget their
 * neighbours when they leave, where a `Map` or `Set` would keep replacing its backing table.
 *
 * A `Map` or `Set` that keeps taking and dropping entries rebuilds its table every few dozen
 * insertions, and V8 leaves the replaced table as it was (iterators may still walk it). Once such a
 * table has reached the old generation, every young-generation collection takes what it names for
 * live: connections closed long ago are copied, then promoted, until the next full collection (in
 * a Node script with 20 live entries of 40 KB each churning, 1.1 MB promoted per collection against
 * none with this list). An entry here is unlinked and its links cleared when it leaves, so a dead
 * entry never keeps a newer one alive.
 */

/** One value's place in a LiveList: what `add` returns and `delete` takes. */
export interface LiveEntry<T> {
  readonly value: T;
}

interface Node<T> extends LiveEntry<T> {
  prev: Node<T> | undefined;
  next: Node<T> | undefined;
  linked: boolean;
}

export class LiveList<T> {
  #head: Node<T> | undefined;
  #count = 0;

  get size(): number {
    return this.#count;
  }

  add(value: T): LiveEntry<T> {
    const node: Node<T> = { value, prev: undefined, next: this.#head, linked: true };
    if (this.#head !== undefined) this.#head.prev = node;
    this.#head = node;
    this.#count++;
    return node;
  }

  /** Takes `entry` out; a second delete of the same entry does nothing. */
  delete(entry: LiveEntry<T>): void {
    const node = entry as Node<T>;
    if (!node.linked) return;
    if (node.prev !== undefined) node.prev.next = node.next;
    else this.#head = node.next;
    if (node.next !== undefined) node.next.prev = node.prev;
    node.prev = node.next = undefined;
    node.linked = false;
    this.#count--;
  }

  /** The values now in the list, newest first, as a new array: safe to change the list meanwhile. */
  list(): T[] {
    const out: T[] = [];
    for (let node = this.#head; node !== undefined; node = node.next) out.push(node.value);
    return out;
  }
}
