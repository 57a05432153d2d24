/**
 * The places benchmarks run: the appliance on a TAP in a private namespace (the namespace's
 * kernel is its peer), and two private namespaces joined by a veth pair (kernel to kernel, the
 * baseline). `Harness` is the `BenchContext` the runner hands to every benchmark.
 *
 * Invariants (the project's network safety rule): every namespace is created here with
 * `Namespace.create` (`mip-<pid>-<n>`), every address, TAP and veth lives inside one, and nothing
 * is configured in the root namespace. The harness remembers every namespace it made; `close()`
 * destroys all of them (stopping the appliance and any peer tool inside), and the runner calls it
 * on success, on failure and on SIGINT/SIGTERM. Traffic only ever goes to addresses inside them.
 * @module
 */

import { type Appliance, startAppliance } from "../helpers/appliance.ts";
import { Namespace } from "../helpers/netns.ts";
import type { BenchContext, Target } from "./_figure.ts";
import { runPing } from "./_ping.ts";

/** The kernel's side of the TAP and the appliance's address (as in tests/interop). */
export const TAP_HOST_CIDR = "10.77.0.1/24";
export const APPLIANCE_IP = "10.77.0.2";
/** The appliance's default MAC (main.ts), for a static neighbour entry. */
export const APPLIANCE_MAC = "02:00:01:02:03:77";
/** The veth pair's two ends. */
export const VETH_A_CIDR = "10.78.0.1/24";
export const VETH_B_IP = "10.78.0.2";

/** The appliance's arguments for a TAP named tap0. */
export const APPLIANCE_ARGS: readonly string[] = ["--iface", "tap0", "--ip", `${APPLIANCE_IP}/24`];
/** The log line main.ts prints once the stack is on the wire. */
export const READY_LINE = /ready on tap0/;

/** Creates tap0 (the kernel's side) in `ns`, with a static neighbour entry for the appliance. */
export async function prepareTap(ns: Namespace): Promise<void> {
  await ns.addTap("tap0", TAP_HOST_CIDR);
  // A permanent entry keeps kernel ARP timing out of latency figures (and out of startup time).
  await ns.ip([
    "neigh",
    "replace",
    APPLIANCE_IP,
    "lladdr",
    APPLIANCE_MAC,
    "dev",
    "tap0",
    "nud",
    "permanent",
  ]);
}

/** Starts the appliance on tap0 of `ns` (prepared by `prepareTap`) and waits for it to be ready. */
export function startTapAppliance(ns: Namespace): Promise<Appliance> {
  return startAppliance(ns, [...APPLIANCE_ARGS], { ready: READY_LINE, readyTimeoutMs: 30_000 });
}

/** Echoes sent to a new target before any figure, so none pays for one-time work (JIT, ARP). */
const WARM_UP_ECHOES = 2_000;

/** A short bounded flood, so measurements see the steady state (the appliance's code is hot). */
async function warmUp(target: Target): Promise<void> {
  const { summary } = await runPing(target, {
    count: WARM_UP_ECHOES,
    flood: true,
    quiet: true,
    deadlineSeconds: 10,
  });
  if (summary.received === 0) throw new Error(`${target.label} does not answer ping`);
}

/** The runner's `BenchContext`: shared targets made on first use, fresh namespaces on request. */
export class Harness implements BenchContext {
  readonly quick: boolean;
  readonly #namespaces = new Set<Namespace>();
  #appliance: Promise<Target> | null = null;
  #kernel: Promise<Target> | null = null;
  #closing: Promise<void> | null = null;

  constructor(options: { quick: boolean }) {
    this.quick = options.quick;
  }

  log(message: string): void {
    console.error(`  ${message}`);
  }

  appliance(): Promise<Target> {
    this.#appliance ??= this.#makeAppliance();
    return this.#appliance;
  }

  kernel(): Promise<Target> {
    this.#kernel ??= this.#makeKernel();
    return this.#kernel;
  }

  async withNamespace<T>(tag: string, fn: (ns: Namespace) => Promise<T>): Promise<T> {
    const ns = await this.#create(tag);
    try {
      return await fn(ns);
    } finally {
      await this.#destroy(ns);
    }
  }

  /** Destroys every namespace still alive (with what runs inside). Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const settled = await Promise.allSettled([...this.#namespaces].map((ns) => ns.destroy()));
      this.#namespaces.clear();
      for (const outcome of settled) {
        if (outcome.status === "rejected") console.error(`cleanup failed: ${outcome.reason}`);
      }
    })();
    return this.#closing;
  }

  async #makeAppliance(): Promise<Target> {
    const ns = await this.#create("bench-appliance");
    await prepareTap(ns);
    await startTapAppliance(ns);
    // A few echoes first, so no measured request pays for anything done once (JIT, caches).
    await ns.exec(["ping", "-n", "-c", "3", "-i", "0.1", "-w", "5", APPLIANCE_IP], {
      timeoutMs: 15_000,
    });
    return {
      kind: "appliance",
      label: "appliance on TAP",
      ns,
      address: APPLIANCE_IP,
      iface: "tap0",
    };
  }

  async #makeKernel(): Promise<Target> {
    const a = await this.#create("bench-veth-a");
    const b = await this.#create("bench-veth-b");
    await a.addVethPeer(b, {
      name: "veth0",
      cidr: VETH_A_CIDR,
      peerName: "veth1",
      peerCidr: `${VETH_B_IP}/24`,
    });
    const target: Target = {
      kind: "kernel",
      label: "kernel over veth",
      ns: a,
      address: VETH_B_IP,
      iface: "veth0",
    };
    await warmUp(target);
    return target;
  }

  async #create(tag: string): Promise<Namespace> {
    if (this.#closing) throw new Error(`Cannot create namespace ${tag}: the harness is closing`);
    const ns = await Namespace.create(tag);
    this.#namespaces.add(ns);
    return ns;
  }

  async #destroy(ns: Namespace): Promise<void> {
    await ns.destroy();
    this.#namespaces.delete(ns);
  }
}
