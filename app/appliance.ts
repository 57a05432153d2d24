/**
 * The appliance: opens the TAP, builds the stack and its services, runs the pump until stopped.
 * The only module that knows every layer; `main.ts` calls it with a parsed `Config`.
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Config } from "./config.ts";
import { UsageError } from "./config.ts";
import { SystemClock } from "../stack/clock.ts";
import { ImpairedLink, type Link } from "../stack/link.ts";
import { Stack } from "../stack/stack.ts";
import { formatMac, macEquals } from "../stack/wire/address.ts";
import { DhcpClient } from "../stack/dhcp_client.ts";
import { DhcpServer } from "../stack/dhcp_server.ts";
import { DnsResolver } from "../stack/dns.ts";
import { SntpClient } from "../stack/sntp.ts";
import { PcapLink, PcapWriter, Pump, TapDevice } from "../tap/mod.ts";
import { ensureStateDir, FileBindingStore, FileLeaseStore } from "./state.ts";

/**
 * Runs the appliance until `signal` aborts; returns the exit code. Errors with a `hint` are
 * reported by `main` as one line and exit code 1.
 *
 * Link decorators, innermost first: the TAP, then the pcap recorder (so the capture shows what is
 * really on the wire), then fault injection (so `--impair` losses never reach the capture).
 */
export async function runAppliance(config: Config, signal: AbortSignal): Promise<number> {
  const log = getLogger(["mip", "main"]);
  const clock = new SystemClock();
  using tap = TapDevice.open({ name: config.iface });
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
  const stack = new Stack({
    link,
    mac: config.mac,
    requestPoll: () => pump?.wake(),
  });
  if (config.ip !== null) {
    const { address, prefixLength } = config.ip;
    stack.configure({ address, prefixLength, gateway: config.gateway ?? 0 }, clock.now());
  }
  const services = startServices(config, stack, clock.now());
  pump = new Pump({ device: tap, link, stack, clock, signal });
  log.info("ready on {iface} ({how}), mac {mac}, mtu {mtu}", {
    iface: tap.name,
    how: tap.created ? "created" : "attached",
    mac: formatMac(config.mac),
    mtu: link.mtu,
  });
  await pump.run();
  log.info("stopping on {reason}", { reason: String(signal.reason ?? "stop") });
  // The pump has stopped: give the DHCP client one last turn to send its RELEASE.
  services.dhcpClient?.release();
  stack.poll(clock.now());
  tap.flush();
  services.close();
  return 0;
}

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

/** The services on UDP, as the flags ask for them. */
interface Services {
  resolver: DnsResolver;
  sntp: SntpClient;
  dhcpClient: DhcpClient | null;
  dhcpServer: DhcpServer | null;
  close(): void;
}

/**
 * DNS and SNTP always; the DHCP client when no `--ip` was given (it configures the stack and
 * hands its DNS servers to the resolver), the DHCP server with `--dhcp-server`.
 * `unixOriginMs` maps the pump's monotonic clock to wall time for SNTP and stored leases.
 */
function startServices(config: Config, stack: Stack, nowMs: number): Services {
  ensureStateDir(config.stateDir);
  const unixOriginMs = Date.now() - nowMs;
  const resolver = new DnsResolver(stack, { servers: config.dns });
  const sntp = new SntpClient(stack, { server: config.ntpServer, resolver, unixOriginMs });
  const dhcpClient = config.ip !== null ? null : new DhcpClient(stack, {
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
  const dhcpServer = !config.dhcpServer ? null : new DhcpServer(stack, {
    store: new FileBindingStore(config.stateDir),
    dnsServers: config.dns,
    router: config.gateway ?? undefined,
    unixOriginMs,
  });
  return {
    resolver,
    sntp,
    dhcpClient,
    dhcpServer,
    close() {
      dhcpClient?.close();
      dhcpServer?.close();
      sntp.close();
      resolver.close();
    },
  };
}
