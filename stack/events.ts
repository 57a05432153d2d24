/**
 * The event log: what happened to the device (link, address, DHCP, logins, settings, firmware),
 * newest last, bounded to `capacity` entries (the oldest fall off). The dashboard pages through it.
 * @module
 */

/** Importance, as the dashboard shows it. */
export type EventPriority = "info" | "warning" | "error";

/** One entry. */
export interface DeviceEvent {
  /** Monotonic stack time of the event (ms); the host maps it to wall time. */
  timeMs: number;
  type: string;
  priority: EventPriority;
  text: string;
}

/** A bounded log of {@linkcode DeviceEvent}s. */
export class EventLog {
  readonly capacity: number;
  readonly #events: DeviceEvent[] = [];
  #total = 0;
  /** Called for every new event (logging, live push). */
  onEvent: ((event: DeviceEvent) => void) | null = null;

  constructor(capacity = 1000) {
    this.capacity = capacity;
  }

  /** Appends an event. */
  add(timeMs: number, type: string, text: string, priority: EventPriority = "info"): void {
    const event = { timeMs, type, priority, text };
    this.#events.push(event);
    if (this.#events.length > this.capacity) this.#events.shift();
    this.#total++;
    this.onEvent?.(event);
  }

  /** Events recorded since start (including those that fell off). */
  get total(): number {
    return this.#total;
  }

  /** Events held now, oldest first. */
  list(): readonly DeviceEvent[] {
    return this.#events;
  }
}
