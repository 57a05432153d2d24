/**
 * TimerHeap: a min-heap of (deadline, item) used by the stack's timers, so `poll` touches only
 * what is due instead of scanning every connection.
 *
 * Entries are lazy: rescheduling pushes a new entry and leaves the old one in place; the owner
 * checks, when an entry pops, whether the item is really due (its current deadline) and
 * reschedules otherwise. The heap is bounded by the owner (one live entry per item plus stale
 * ones, compacted when stale entries outnumber live ones).
 * @module
 */

interface Entry<T> {
  atMs: number;
  item: T;
}

/** A min-heap of deadlines. */
export class TimerHeap<T> {
  #heap: Entry<T>[] = [];

  /** Entries, stale ones included. */
  get size(): number {
    return this.#heap.length;
  }

  /** Adds a deadline for `item`. */
  push(atMs: number, item: T): void {
    const heap = this.#heap;
    heap.push({ atMs, item });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.atMs <= atMs) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = { atMs, item };
  }

  /** The earliest deadline, or Infinity. */
  nextMs(): number {
    return this.#heap.length > 0 ? this.#heap[0]!.atMs : Infinity;
  }

  /** Removes and returns the earliest item if its deadline is <= `nowMs`. */
  popDue(nowMs: number): T | undefined {
    const heap = this.#heap;
    if (heap.length === 0 || heap[0]!.atMs > nowMs) return undefined;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= heap.length) break;
        const r = l + 1;
        const c = r < heap.length && heap[r]!.atMs < heap[l]!.atMs ? r : l;
        if (heap[c]!.atMs >= last.atMs) break;
        heap[i] = heap[c]!;
        i = c;
      }
      heap[i] = last;
    }
    return top.item;
  }

  /** Keeps only the entries `keep` accepts (drops stale ones). */
  retain(keep: (atMs: number, item: T) => boolean): void {
    const kept = this.#heap.filter((e) => keep(e.atMs, e.item));
    this.#heap = [];
    for (const e of kept) this.push(e.atMs, e.item);
  }
}
