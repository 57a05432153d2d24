/**
 * The appliance: opens the TAP, builds the stack and its services and web servers, and runs the
 * pump until stopped. The only module that knows every layer; `main.ts` calls it with a parsed
 * `Config`.
 *
 * The network side (stack, UDP services, HTTP servers) is an `Instance` that a device reset
 * replaces while the TAP, the pump, the dashboard sessions and the event log stay: the pump talks
 * to a `StackHost` that forwards to whichever instance is current.
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Config } from "./config.ts";
import { UsageError } from "./config.ts";
import { ensureStateDir, FileBindingStore, FileLeaseStore } from "./state.ts";
import { startWeb, type Web } from "./web.ts";
import type { StatsSnapshot } from "../http/dashboard/mod.ts";
import { NetApi } from "../stack/api.ts";
import { type Clock, SystemClock } from "../stack/clock.ts";
import { LAYERS } from "../stack/counters.ts";
import { DhcpClient } from "../stack/dhcp_client.ts";
import { DhcpServer } from "../stack/dhcp_server.ts";
import { DnsResolver } from "../stack/dns.ts";
import { EventLog } from "../stack/events.ts";
import { ImpairedLink, type Link, type RxMeta } from "../stack/link.ts";
import { SntpClient } from "../stack/sntp.ts";
import { Stack } from "../stack/stack.ts";
import { CONGESTION_CONTROLS } from "../stack/tcp/config.ts";
import { formatIpv4, formatMac, macEquals } from "../stack/wire/address.ts";
import { PcapLink, PcapWriter, Pump, type PumpStack, TapDevice } from "../tap/mod.ts";

const log = getLogger(["mip", "main"]);

/**
 * ARP probing before using a DHCP address, tuned for a TAP: every host on the link is one kernel
 * hop away (RTT well under a millisecond), so two probes 100 ms apart and a 150 ms wait detect a
 * conflict as surely as RFC 5227's 1-2 s timers do on a shared LAN, and the lease is usable in
 * well under a second instead of about seven.
 */
const TAP_PROBE = {
  probeWaitMs: 10,
  probeCount: 2,
  probeMinMs: 100,
  probeMaxMs: 100,
  announceWaitMs: 150,
};

/**
 * Runs the appliance until `signal` aborts; returns the exit code. Errors with a `hint` are
 * reported by `main` as one line and exit code 1.
 *
 * Link decorators, innermost first: the TAP, then the pcap recorder (so the capture shows what is
 * really on the wire), then fault injection (so `--impair` losses never reach the capture).
 */
export async function runAppliance(config: Config, signal: AbortSignal): Promise<number> {
  const clock = new SystemClock();
  ensureStateDir(config.stateDir);
  using tap = TapDevice.open({ name: config.iface, offload: config.offload });
  if (macEquals(tap.kernelMac, 0, config.mac)) {
    throw new UsageError(
      `--mac ${formatMac(config.mac)} is the MAC of the kernel side of ${config.iface}; ` +
        "the appliance needs its own address",
    );
  }
  let link: Link = tap;
  using pcap = config.pcap === null ? null : PcapWriter.create(config.pcap);
  if (pcap !== null) link = new PcapLink(link, pcap, { clock });
  if (config.impair !== null) {
    link = new ImpairedLink(link, {
      clock,
      outbound: config.impair,
      inbound: { ...config.impair, seed: config.impair.seed + 1 },
    });
  }
  let pump: Pump | null = null;
  const startMs = clock.now();
  const context: Context = {
    config,
    link,
    clock,
    // SystemClock is performance.now(), whose zero is performance.timeOrigin (sub-ms exact).
    unixOriginMs: performance.timeOrigin,
    events: new EventLog(),
    wake: () => pump?.wake(),
  };
  const host = new StackHost(new Instance(context));
  // The pump starts first: ARP, ICMP and DHCP run while the web side prepares (password hash,
  // certificate), which takes a few hundred milliseconds on a first start.
  pump = new Pump({ device: tap, link, stack: host, clock, signal });
  const pumping = pump.run();
  let web: Web;
  try {
    web = await startWeb({
      config,
      stats: () => statsOf(host.instance, tap, context, startMs),
      events: context.events,
      wallTimeMs: (t) => context.unixOriginMs + t,
      eventNowMs: () => clock.now(),
      resetDevice: async () => {
        log.info("Device reset: restarting the network stack");
        await web.closeServers();
        host.instance.stop(false);
        host.instance = new Instance(context);
        context.events.add(clock.now(), "device", "network stack restarted", "warning");
        web.listen(host.instance.net);
      },
    });
  } catch (error) {
    pump.stop();
    await pumping.catch(() => {});
    throw error;
  }
  web.listen(host.instance.net);
  log.info("ready on {iface} ({how}), mac {mac}, mtu {mtu}", {
    iface: tap.name,
    how: tap.created ? "created" : "attached",
    mac: formatMac(config.mac),
    mtu: link.mtu,
  });
  await pumping;
  log.info("stopping on {reason}", { reason: String(signal.reason ?? "stop") });
  await web.close();
  host.instance.stop(true);
  tap.flush();
  return 0;
}

/** What every instance is built from. */
interface Context {
  config: Config;
  link: Link;
  clock: Clock;
  /** Wall time at clock time 0. */
  unixOriginMs: number;
  events: EventLog;
  wake: () => void;
}

/** The pump's view of the stack: forwards to the current instance's stack. */
class StackHost implements PumpStack {
  instance: Instance;

  constructor(instance: Instance) {
    this.instance = instance;
  }

  input(frame: Uint8Array, nowMs: number, meta?: RxMeta): void {
    this.instance.stack.input(frame, nowMs, meta);
  }

  poll(nowMs: number): number {
    return this.instance.stack.poll(nowMs);
  }
}

/**
 * One network side: a stack with its address, the DNS resolver and SNTP always, the DHCP client
 * when no `--ip` was given (it configures the stack and hands its DNS servers to the resolver),
 * the DHCP server with `--dhcp-server`, and the socket API the web servers listen on.
 */
class Instance {
  readonly stack: Stack;
  readonly net: NetApi;
  readonly resolver: DnsResolver;
  readonly sntp: SntpClient;
  readonly dhcpClient: DhcpClient | null;
  readonly dhcpServer: DhcpServer | null;
  readonly #context: Context;

  constructor(context: Context) {
    const { config, clock, unixOriginMs } = context;
    this.#context = context;
    this.stack = new Stack({
      link: context.link,
      mac: config.mac,
      events: context.events,
      requestPoll: context.wake,
      tcp: {
        maxConnections: config.maxConnections,
        congestionControl: CONGESTION_CONTROLS[config.congestionControl],
      },
    });
    if (config.ip !== null) {
      const { address, prefixLength } = config.ip;
      this.stack.configure({ address, prefixLength, gateway: config.gateway ?? 0 }, clock.now());
    }
    const stack = this.stack;
    const resolver = new DnsResolver(stack, { servers: config.dns });
    const sntp = new SntpClient(stack, { server: config.ntpServer, resolver, unixOriginMs });
    this.resolver = resolver;
    this.sntp = sntp;
    this.net = new NetApi(stack, resolver);
    this.dhcpClient = config.ip !== null ? null : new DhcpClient(stack, {
      hostname: config.hostname,
      store: new FileLeaseStore(config.stateDir),
      unixOriginMs,
      probe: TAP_PROBE,
      onLease: (lease) => {
        resolver.servers = lease !== null && lease.dnsServers.length > 0
          ? lease.dnsServers
          : config.dns;
        if (lease !== null) sntp.syncNow();
      },
    });
    this.dhcpServer = !config.dhcpServer ? null : new DhcpServer(stack, {
      store: new FileBindingStore(config.stateDir),
      dnsServers: config.dns,
      router: config.gateway ?? undefined,
      unixOriginMs,
    });
    context.wake();
  }

  /**
   * Stops this network side: connections reset, services closed, the address dropped. With
   * `release`, the DHCP client first sends its RELEASE (on exit; not on a reset, which keeps the
   * lease to ask for it again).
   */
  stop(release: boolean): void {
    const nowMs = this.#context.clock.now();
    if (release) this.dhcpClient?.release();
    this.stack.tcp.closeAll();
    this.stack.poll(nowMs);
    this.dhcpClient?.close();
    this.dhcpServer?.close();
    this.sntp.close();
    this.resolver.close();
    if (!release) this.stack.configure(null, nowMs);
  }
}

/** The figures `/api/stats/get` shows, read from the current instance. */
function statsOf(
  instance: Instance,
  tap: TapDevice,
  context: Context,
  startMs: number,
): StatsSnapshot {
  const { stack, dhcpClient } = instance;
  const nowMs = context.clock.now();
  const ipv4 = stack.ipv4.config;
  const tcp: Record<string, number> = {};
  for (const c of stack.tcp.connections()) tcp[c.state] = (tcp[c.state] ?? 0) + 1;
  const dhcp = dhcpClient?.snapshot() ?? null;
  return {
    uptimeMs: nowMs - startMs,
    link: { name: tap.name, up: true, mac: formatMac(stack.mac), mtu: context.link.mtu },
    ipv4: ipv4 === null ? null : {
      address: formatIpv4(ipv4.address),
      prefixLength: ipv4.prefixLength,
      gateway: ipv4.gateway === 0 ? null : formatIpv4(ipv4.gateway),
      source: dhcpClient === null ? "static" : "dhcp",
    },
    layers: Object.fromEntries(LAYERS.map((layer) => [layer, stack.counters[layer].snapshot()])),
    arp: stack.arp.entries(nowMs),
    tcp,
    dhcp: dhcp === null ? null : {
      state: dhcp.state,
      address: dhcp.address,
      server: dhcp.server,
      leaseSeconds: dhcp.leaseSeconds,
      expiresUnixMs: dhcp.leaseExpiresMs === null
        ? null
        : context.unixOriginMs + dhcp.leaseExpiresMs,
    },
  };
}
