/**
 * mip-tap's command line: flags -> a typed, checked `Config`.
 *
 * Invariants: `parseConfig` is pure apart from reading MIP_ADMIN_PASSWORD (injectable) and
 * reports the first problem as a `UsageError` whose message names the flag and the value. No
 * secret is ever echoed: the admin password appears neither in errors nor in `describeConfig`.
 * @module
 */

import { parseArgs } from "@std/cli/parse-args";
import { type ImpairSpec, parseImpairSpec } from "../stack/impair.ts";
import { CONGESTION_CONTROLS } from "../stack/tcp/config.ts";
import {
  formatIpv4,
  formatMac,
  type Ipv4Address,
  type Ipv4Cidr,
  parseCidr,
  parseIpv4,
  parseMac,
  prefixMask,
} from "../stack/wire/address.ts";

/** The levels `--log-level` accepts. */
export type LogLevel = "debug" | "info" | "warning" | "error";
const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warning", "error"];

/** Everything the command line decides, parsed and checked. */
export interface Config {
  /** TAP device name, at most 15 bytes (IFNAMSIZ - 1). */
  iface: string;
  /** Our Ethernet address (unicast). */
  mac: Uint8Array;
  /** Static address and prefix; null = configure by DHCP. */
  ip: Ipv4Cidr | null;
  /** Default router, inside the `ip` subnet; null = none (or DHCP's). */
  gateway: Ipv4Address | null;
  /** DNS servers given on the command line (at most MAX_DNS_SERVERS), in order, no repeats. */
  dns: Ipv4Address[];
  hostname: string;
  httpPort: number;
  /** 0 = HTTPS off. */
  httpsPort: number;
  /** Directory of static files to serve; null = built-in dashboard only. */
  webRoot: string | null;
  /** HTTPS certificate and key files (PEM); null = a self-signed pair in the state dir. */
  tlsCert: string | null;
  tlsKey: string | null;
  stateDir: string;
  /** From --admin-password or MIP_ADMIN_PASSWORD; null = not set. */
  adminPassword: string | null;
  /** Serve DHCP on the `ip` subnet (requires `ip`). */
  dhcpServer: boolean;
  /** SNTP server: host name or dotted quad. */
  ntpServer: string;
  logLevel: LogLevel;
  /** Capture file for every frame in and out; null = off. */
  pcap: string | null;
  /** Fault injection on the link; null = off. */
  impair: ImpairSpec | null;
  /** Use the vnet header and offloads (false with --no-offload). */
  offload: boolean;
  /** Most TCP connections at once, in every state (TcpConfig.maxConnections). */
  maxConnections: number;
  /** TCP congestion controller: a key of CONGESTION_CONTROLS. */
  congestionControl: string;
  /** --help was given: print HELP and exit 0 (the other fields are then defaults). */
  help: boolean;
}

/** A bad command line; `main` prints `mip-tap: <message> (see --help)` and exits 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** resolv.conf's MAXNS: more servers than this are never tried. */
export const MAX_DNS_SERVERS = 3;
const MAX_PASSWORD_CHARS = 256;
const PASSWORD_ENV = "MIP_ADMIN_PASSWORD";

/** The defaults, shared by HELP and parseConfig so they cannot disagree. */
const DEFAULTS = {
  iface: "tap0",
  mac: "02:00:01:02:03:77",
  hostname: "mip-tap",
  httpPort: 80,
  httpsPort: 443,
  stateDir: "./.state",
  ntpServer: "pool.ntp.org",
  logLevel: "info" as LogLevel,
  maxConnections: 1024,
  congestionControl: "newreno",
};
/** Upper bound of --max-connections (each idle connection costs ~40 KiB). */
export const MAX_CONNECTIONS_LIMIT = 100_000;

/** The --help text. */
export const HELP = `Usage: mip-tap [options]

A user-space TCP/IP stack and network appliance on a Linux TAP device.
Without --ip it configures itself by DHCP. Exit status: 0 after SIGINT/SIGTERM,
1 on a runtime error, 2 on a bad command line.

Options:
  --iface NAME         TAP device to attach or create, <= 15 of [A-Za-z0-9_.-] (default ${DEFAULTS.iface})
  --mac MAC            our unicast Ethernet address (default ${DEFAULTS.mac})
  --ip CIDR            static address and prefix, e.g. 192.168.0.2/24 (default: DHCP client)
  --gateway IP         default router, inside the --ip subnet (default: none, or DHCP's)
  --dns IP             DNS server; repeat or comma-separate, at most ${MAX_DNS_SERVERS} (default: DHCP's)
  --hostname NAME      host name, one RFC 1123 label (default ${DEFAULTS.hostname})
  --http-port N        HTTP port, 1-65535 (default ${DEFAULTS.httpPort})
  --https-port N       HTTPS port, 0 = off (default ${DEFAULTS.httpsPort})
  --web-root DIR       also serve static files from DIR (default: dashboard only)
  --tls-cert FILE      HTTPS certificate, PEM (with --tls-key; default: self-signed in --state-dir)
  --tls-key FILE       HTTPS private key, PEM (with --tls-cert)
  --state-dir DIR      settings, keys and firmware slots (default ${DEFAULTS.stateDir})
  --admin-password P   dashboard admin password (default: env ${PASSWORD_ENV}, else unset)
  --dhcp-server        serve DHCP leases on the --ip subnet (needs --ip; default off)
  --ntp-server NAME    SNTP server, host name or IPv4 address (default ${DEFAULTS.ntpServer})
  --log-level LEVEL    debug, info, warning or error (default ${DEFAULTS.logLevel})
  -v                   same as --log-level debug
  --pcap FILE          write every frame in and out to FILE in pcap format (default off)
  --impair SPEC        fault injection, e.g. loss=5%,delay=10ms,reorder=2%,rate=100mbit,seed=7
                       (also duplicate=N%, corrupt=N%; default off)
  --no-offload         do not use the vnet header and checksum/segmentation offloads
  --max-connections N  most TCP connections at once, 1-${MAX_CONNECTIONS_LIMIT} (default ${DEFAULTS.maxConnections})
  --congestion-control CC  TCP congestion control: ${
  Object.keys(CONGESTION_CONTROLS).join(" or ")
} (default ${DEFAULTS.congestionControl})
  -h, --help           show this help and exit`;

const STRING_FLAGS = [
  "iface",
  "mac",
  "ip",
  "gateway",
  "dns",
  "hostname",
  "http-port",
  "https-port",
  "web-root",
  "tls-cert",
  "tls-key",
  "state-dir",
  "admin-password",
  "ntp-server",
  "log-level",
  "pcap",
  "impair",
  "max-connections",
  "congestion-control",
] as const;
type StringFlag = typeof STRING_FLAGS[number];
const BOOLEAN_FLAGS = ["dhcp-server", "no-offload", "help", "v"] as const;
type BooleanFlag = typeof BOOLEAN_FLAGS[number];

/** Flags as given: each string flag's values in order, each boolean flag's presence. */
interface RawFlags {
  strings: Partial<Record<StringFlag, string[]>>;
  booleans: Record<BooleanFlag, boolean>;
}

/** Options of `parseConfig`. */
export interface ParseOptions {
  /** Reads an environment variable (default `Deno.env.get`). */
  env?: (name: string) => string | undefined;
}

/**
 * Parses and checks a command line. Throws `UsageError` naming the first bad flag.
 *
 * @example
 * ```ts
 * parseConfig(["--ip", "192.168.0.2/24", "--gateway", "192.168.0.1"]).gateway; // 0xc0a80001
 * ```
 */
export function parseConfig(args: string[], options: ParseOptions = {}): Config {
  const raw = readFlags(args);
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const config: Config = {
    iface: value(raw, "iface", DEFAULTS.iface, checkIfaceName),
    mac: value(raw, "mac", parseUnicastMac(DEFAULTS.mac), parseUnicastMac),
    ip: value(raw, "ip", null, parseHostCidr),
    gateway: null,
    dns: parseDnsList(raw.strings.dns ?? []),
    hostname: value(raw, "hostname", DEFAULTS.hostname, checkHostname),
    httpPort: value(raw, "http-port", DEFAULTS.httpPort, (t) => parsePort(t, 1)),
    httpsPort: value(raw, "https-port", DEFAULTS.httpsPort, (t) => parsePort(t, 0)),
    webRoot: value(raw, "web-root", null, checkPath),
    tlsCert: value(raw, "tls-cert", null, checkPath),
    tlsKey: value(raw, "tls-key", null, checkPath),
    stateDir: value(raw, "state-dir", DEFAULTS.stateDir, checkPath),
    adminPassword: parsePassword(
      single(raw, "admin-password"),
      raw.booleans.help ? undefined : env(PASSWORD_ENV),
    ),
    dhcpServer: raw.booleans["dhcp-server"],
    ntpServer: value(raw, "ntp-server", DEFAULTS.ntpServer, checkServerName),
    logLevel: raw.booleans.v ? "debug" : value(raw, "log-level", DEFAULTS.logLevel, parseLogLevel),
    pcap: value(raw, "pcap", null, checkPath),
    impair: value(raw, "impair", null, parseImpairSpec),
    offload: !raw.booleans["no-offload"],
    maxConnections: value(raw, "max-connections", DEFAULTS.maxConnections, parseMaxConnections),
    congestionControl: value(
      raw,
      "congestion-control",
      DEFAULTS.congestionControl,
      parseCongestionControl,
    ),
    help: raw.booleans.help,
  };
  config.gateway = value(raw, "gateway", null, (text) => parseGateway(text, config.ip));
  checkCombinations(config);
  return config;
}

/** Tokenises with parseArgs; rejects unknown flags, stray words, repeats and missing values. */
function readFlags(args: string[]): RawFlags {
  let unknown: string | null = null;
  const parsed = parseArgs(args, {
    string: [...STRING_FLAGS],
    boolean: [...BOOLEAN_FLAGS],
    collect: [...STRING_FLAGS],
    alias: { h: "help" },
    unknown: (arg: string, key?: string) => {
      const option = arg.startsWith("--") ? arg.replace(/=.*$/s, "") : `-${key}`;
      unknown ??= key === undefined ? `unexpected argument '${arg}'` : `unknown option '${option}'`;
      return false;
    },
  });
  const booleans = Object.fromEntries(
    BOOLEAN_FLAGS.map((flag) => [flag, parsed[flag] === true]),
  ) as Record<BooleanFlag, boolean>;
  if (booleans.help) return { strings: {}, booleans };
  const strings: RawFlags["strings"] = {};
  for (const flag of STRING_FLAGS) {
    const values = (parsed[flag] as unknown[] | undefined ?? []).map(String);
    // parseArgs gives "" when the value is absent or starts with "-" (use --flag=-value then).
    if (values.some((v) => v === "")) throw new UsageError(`--${flag}: missing value`);
    if (values.length > 0) strings[flag] = values;
  }
  const stray = parsed._[0]; // words after "--" bypass the unknown callback
  if (unknown === null && stray !== undefined) unknown = `unexpected argument '${stray}'`;
  if (unknown !== null) throw new UsageError(unknown);
  for (const [flag, values] of Object.entries(strings)) {
    if (values.length > 1 && flag !== "dns") {
      throw new UsageError(`--${flag}: given more than once`);
    }
  }
  return { strings, booleans };
}

function single(raw: RawFlags, flag: StringFlag): string | undefined {
  return raw.strings[flag]?.[0];
}

/** The parsed value of `flag`, or `fallback`; a parser's TypeError/RangeError -> UsageError. */
function value<T>(raw: RawFlags, flag: StringFlag, fallback: T, parse: (text: string) => T): T {
  const text = single(raw, flag);
  if (text === undefined) return fallback;
  return rethrowAsUsage(`--${flag} '${text}'`, () => parse(text));
}

function rethrowAsUsage<T>(prefix: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof TypeError || err instanceof RangeError) {
      throw new UsageError(`${prefix}: ${err.message}`);
    }
    throw err;
  }
}

/** Interface names as Linux accepts them (dev_valid_name; IFNAMSIZ = 16 with the NUL). */
export function checkIfaceName(text: string): string {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(text) || text === "." || text === "..") {
    throw new TypeError(
      `Cannot use interface name '${text}': expected 1-15 characters of A-Z a-z 0-9 _ . -`,
    );
  }
  return text;
}

/** A MAC that can be an interface's own address: unicast (I/G bit clear) and not all zero. */
export function parseUnicastMac(text: string): Uint8Array {
  const mac = parseMac(text);
  if ((mac[0]! & 1) !== 0) {
    throw new TypeError(
      `Cannot use MAC address '${text}': expected a unicast address (first octet even)`,
    );
  }
  if (mac.every((b) => b === 0)) {
    throw new TypeError(`Cannot use MAC address '${text}': expected a nonzero address`);
  }
  return mac;
}

/** Why `address` cannot be a host's own unicast address, or null (RFC 1122 3.2.1.3). */
function specialAddress(address: Ipv4Address): string | null {
  const first = address >>> 24;
  if (first === 0) return "it is in 0.0.0.0/8 (this network)";
  if (first === 127) return "it is a loopback address (127.0.0.0/8)";
  if (first >= 224 && first < 240) return "it is a multicast address (224.0.0.0/4)";
  if (first >= 240) return "it is a reserved or broadcast address (240.0.0.0/4)";
  return null;
}

/** Why `address` cannot be a host inside `cidr`'s subnet, or null. */
function subnetProblem(address: Ipv4Address, cidr: Ipv4Cidr): string | null {
  const mask = prefixMask(cidr.prefixLength);
  if (((address ^ cidr.address) & mask) !== 0) {
    return `it is outside the --ip subnet ${
      formatIpv4((cidr.address & mask) >>> 0)
    }/${cidr.prefixLength}`;
  }
  // RFC 3021: /31 and /32 have no network or broadcast address.
  if (cidr.prefixLength <= 30) {
    if ((address & ~mask) === 0) return "it is the network address of its subnet";
    if (((address & ~mask) >>> 0) === (~mask >>> 0)) {
      return "it is the broadcast address of its subnet";
    }
  }
  return null;
}

/** Our static address: `a.b.c.d/n`, a unicast host of its own subnet. */
export function parseHostCidr(text: string): Ipv4Cidr {
  const cidr = parseCidr(text);
  if (cidr.prefixLength === 0) {
    throw new RangeError(`Cannot use address '${text}': expected a prefix length of 1-32`);
  }
  const problem = specialAddress(cidr.address) ?? subnetProblem(cidr.address, cidr);
  if (problem) throw new TypeError(`Cannot use address '${text}': ${problem}`);
  return cidr;
}

function parseGateway(text: string, ip: Ipv4Cidr | null): Ipv4Address {
  const gateway = parseIpv4(text);
  if (ip === null) {
    throw new TypeError("Cannot use a gateway without --ip (with DHCP the server supplies it)");
  }
  const problem = gateway === ip.address
    ? "it is our own address"
    : specialAddress(gateway) ?? subnetProblem(gateway, ip);
  if (problem) throw new TypeError(`Cannot use gateway ${text}: ${problem}`);
  return gateway;
}

/** --dns values: each repeat may be a comma list; unicast addresses, no repeats, bounded. */
function parseDnsList(values: string[]): Ipv4Address[] {
  const servers: Ipv4Address[] = [];
  for (const text of values) {
    rethrowAsUsage(`--dns '${text}'`, () => {
      for (const part of text.split(",").map((p) => p.trim()).filter((p) => p !== "")) {
        const address = parseIpv4(part);
        const problem = specialAddress(address);
        if (problem) throw new TypeError(`Cannot use DNS server ${part}: ${problem}`);
        if (!servers.includes(address)) servers.push(address);
      }
      if (servers.length > MAX_DNS_SERVERS) {
        throw new RangeError(`Cannot use more than ${MAX_DNS_SERVERS} DNS servers`);
      }
    });
  }
  return servers;
}

/** One host-name label (RFC 1123 2.1: letters, digits, hyphens; 1-63; no hyphen at the ends). */
export function checkHostname(text: string): string {
  if (!isLabel(text)) {
    throw new TypeError(
      `Cannot use host name '${text}': expected 1-63 letters, digits or hyphens, not starting or ending with a hyphen`,
    );
  }
  return text;
}

function isLabel(text: string): boolean {
  return /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(text);
}

/** A DNS name (labels, at most 253 characters) or a dotted quad (RFC 1123 2.1). */
export function checkServerName(text: string): string {
  const labels = text.replace(/\.$/, "").split(".");
  if (labels.every((l) => /^[0-9]+$/.test(l))) return formatIpv4(parseIpv4(text));
  if (text.length > 253 || !labels.every(isLabel)) {
    throw new TypeError(`Cannot use server '${text}': expected a host name or IPv4 address`);
  }
  return text;
}

/** A decimal port number from `min` to 65535. */
export function parsePort(text: string, min: number): number {
  const port = /^[0-9]{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= min && port <= 65535)) {
    throw new RangeError(`Cannot parse port '${text}': expected an integer ${min}-65535`);
  }
  return port;
}

function parseMaxConnections(text: string): number {
  const n = /^[0-9]{1,6}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= MAX_CONNECTIONS_LIMIT)) {
    throw new RangeError(
      `Cannot parse --max-connections '${text}': expected an integer 1-${MAX_CONNECTIONS_LIMIT}`,
    );
  }
  return n;
}

function parseCongestionControl(text: string): string {
  if (!Object.hasOwn(CONGESTION_CONTROLS, text)) {
    const names = Object.keys(CONGESTION_CONTROLS).join(" or ");
    throw new TypeError(`Cannot use congestion control '${text}': expected ${names}`);
  }
  return text;
}

function checkPath(text: string): string {
  if (text.includes("\0")) throw new TypeError("Cannot use a path containing a NUL character");
  return text;
}

function parseLogLevel(text: string): LogLevel {
  if (!(LOG_LEVELS as readonly string[]).includes(text)) {
    throw new TypeError(`Cannot use log level '${text}': expected ${LOG_LEVELS.join(", ")}`);
  }
  return text as LogLevel;
}

/** The flag wins over the environment; errors never echo the password. */
function parsePassword(flag: string | undefined, env: string | undefined): string | null {
  const [source, password] = flag !== undefined
    ? ["--admin-password", flag]
    : [PASSWORD_ENV, env === "" ? undefined : env];
  if (password === undefined) return null;
  if (password.length > MAX_PASSWORD_CHARS) {
    throw new UsageError(`${source}: the password is longer than ${MAX_PASSWORD_CHARS} characters`);
  }
  return password;
}

function checkCombinations(config: Config): void {
  if (config.dhcpServer && config.ip === null) {
    throw new UsageError("--dhcp-server needs --ip (a DHCP server needs a static address)");
  }
  if (config.dhcpServer && config.ip !== null && config.ip.prefixLength > 30) {
    throw new UsageError(
      `--dhcp-server needs room for clients: --ip prefix length /${config.ip.prefixLength} is longer than /30`,
    );
  }
  if ((config.tlsCert === null) !== (config.tlsKey === null)) {
    throw new UsageError("--tls-cert and --tls-key go together: give both, or neither");
  }
  if (config.httpsPort !== 0 && config.httpsPort === config.httpPort) {
    throw new UsageError(`--https-port ${config.httpsPort}: the same as --http-port`);
  }
}

/** One readable line of the effective configuration (the password shown only as set/unset). */
export function describeConfig(config: Config): string {
  const ip = config.ip ? `${formatIpv4(config.ip.address)}/${config.ip.prefixLength}` : "dhcp";
  const impair = config.impair ? describeImpair(config.impair) : "off";
  return [
    `iface=${config.iface}`,
    `mac=${formatMac(config.mac)}`,
    `ip=${ip}`,
    `gateway=${config.gateway === null ? "-" : formatIpv4(config.gateway)}`,
    `dns=${config.dns.length === 0 ? "-" : config.dns.map(formatIpv4).join(",")}`,
    `hostname=${config.hostname}`,
    `http=${config.httpPort}`,
    `https=${config.httpsPort === 0 ? "off" : config.httpsPort}`,
    `web-root=${config.webRoot ?? "-"}`,
    `tls=${config.tlsCert === null ? "self-signed" : config.tlsCert}`,
    `state-dir=${config.stateDir}`,
    `admin-password=${config.adminPassword === null ? "unset" : "set"}`,
    `dhcp-server=${config.dhcpServer ? "on" : "off"}`,
    `ntp=${config.ntpServer}`,
    `pcap=${config.pcap ?? "off"}`,
    `impair=${impair}`,
    `offload=${config.offload ? "on" : "off"}`,
    `max-connections=${config.maxConnections}`,
    `congestion-control=${config.congestionControl}`,
  ].join(" ");
}

/** The --impair syntax of a spec: the faults that are on, then the seed. */
function describeImpair(spec: ImpairSpec): string {
  const parts = [
    spec.lossPercent ? `loss=${spec.lossPercent}%` : "",
    spec.duplicatePercent ? `duplicate=${spec.duplicatePercent}%` : "",
    spec.reorderPercent ? `reorder=${spec.reorderPercent}%` : "",
    spec.delayMs ? `delay=${spec.delayMs}ms` : "",
    spec.corruptPercent ? `corrupt=${spec.corruptPercent}%` : "",
    spec.rateMbit ? `rate=${spec.rateMbit}mbit` : "",
    `seed=${spec.seed}`,
  ];
  return parts.filter((p) => p !== "").join(",");
}
