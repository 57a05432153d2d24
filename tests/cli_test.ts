/**
 * The command line: parseConfig on good and bad values (every error message checked), the help
 * text, log and fatal-error formatting, and main.ts run as a subprocess with the compile task's
 * permissions. The subprocess tests only use paths that exit before any network is touched
 * (usage errors, --help); running the appliance itself is an interop test (netns_test.ts).
 */

import { assert, assertEquals, assertThrows } from "@std/assert";
import type { LogRecord } from "@logtape/logtape";
import {
  type Config,
  describeConfig,
  formatFatalError,
  formatLogLine,
  HELP,
  MAX_DNS_SERVERS,
  parseConfig,
  UsageError,
} from "../main.ts";
import { applianceCommand, permissionsFromTask } from "./helpers/appliance.ts";
import { run } from "./helpers/process.ts";

const NO_ENV = () => undefined;

function parse(args: string[], env: Record<string, string> = {}): Config {
  return parseConfig(args, { env: (name) => env[name] });
}

function usageError(args: string[], env: Record<string, string> = {}): string {
  return assertThrows(() => parse(args, env), UsageError).message;
}

Deno.test("parseConfig: defaults", () => {
  const config = parseConfig([], { env: NO_ENV });
  assertEquals(config, {
    iface: "tap0",
    mac: Uint8Array.of(0x02, 0x00, 0x01, 0x02, 0x03, 0x77),
    ip: null,
    gateway: null,
    dns: [],
    hostname: "mip-tap",
    httpPort: 80,
    httpsPort: 443,
    webRoot: null,
    tlsCert: null,
    tlsKey: null,
    stateDir: "./.state",
    adminPassword: null,
    dhcpServer: false,
    ntpServer: "pool.ntp.org",
    logLevel: "info",
    pcap: null,
    impair: null,
    offload: true,
    maxConnections: 1024,
    congestionControl: "newreno",
    help: false,
  });
});

Deno.test("parseConfig: every flag with a good value", () => {
  const config = parse([
    "--iface=mip_t.0-a",
    "--mac",
    "0A-1B-2C-3D-4E-5F",
    "--ip",
    "192.168.0.2/24",
    "--gateway",
    "192.168.0.1",
    "--dns",
    "1.1.1.1,9.9.9.9",
    "--dns",
    "1.1.1.1",
    "--hostname",
    "Box-7",
    "--http-port",
    "8080",
    "--https-port",
    "0",
    "--web-root",
    "/srv/www",
    "--state-dir",
    "/tmp/state",
    "--admin-password",
    "hunter2 with spaces",
    "--dhcp-server",
    "--ntp-server",
    "time.example.org",
    "--log-level",
    "warning",
    "--pcap",
    "out.pcap",
    "--impair",
    "loss=5%,delay=10ms,seed=7",
    "--no-offload",
    "--max-connections",
    "12000",
    "--congestion-control",
    "cubic",
  ]);
  assertEquals(config.iface, "mip_t.0-a");
  assertEquals(config.mac, Uint8Array.of(0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f));
  assertEquals(config.ip, { address: 0xc0a80002, prefixLength: 24 });
  assertEquals(config.gateway, 0xc0a80001);
  assertEquals(config.dns, [0x01010101, 0x09090909]); // repeats dropped, order kept
  assertEquals(config.hostname, "Box-7");
  assertEquals(config.httpPort, 8080);
  assertEquals(config.httpsPort, 0);
  assertEquals(config.webRoot, "/srv/www");
  assertEquals(config.stateDir, "/tmp/state");
  assertEquals(config.adminPassword, "hunter2 with spaces");
  assertEquals(config.dhcpServer, true);
  assertEquals(config.ntpServer, "time.example.org");
  assertEquals(config.logLevel, "warning");
  assertEquals(config.pcap, "out.pcap");
  assertEquals(config.impair, {
    lossPercent: 5,
    duplicatePercent: 0,
    reorderPercent: 0,
    delayMs: 10,
    corruptPercent: 0,
    rateMbit: 0,
    seed: 7,
  });
  assertEquals(config.offload, false);
  assertEquals(config.maxConnections, 12000);
  assertEquals(config.congestionControl, "cubic");
});

Deno.test("parseConfig: -v means debug and wins over --log-level", () => {
  assertEquals(parse(["-v"]).logLevel, "debug");
  assertEquals(parse(["--log-level", "error", "-v"]).logLevel, "debug");
  assertEquals(parse(["--log-level", "debug"]).logLevel, "debug");
});

Deno.test("parseConfig: admin password from the flag, else MIP_ADMIN_PASSWORD", () => {
  assertEquals(parse([], { MIP_ADMIN_PASSWORD: "from-env" }).adminPassword, "from-env");
  assertEquals(
    parse(["--admin-password", "from-flag"], { MIP_ADMIN_PASSWORD: "from-env" }).adminPassword,
    "from-flag",
  );
  assertEquals(parse([], { MIP_ADMIN_PASSWORD: "" }).adminPassword, null);
});

Deno.test("parseConfig: point-to-point /31 and /32 addresses (RFC 3021)", () => {
  const p2p = parse(["--ip", "10.0.0.0/31", "--gateway", "10.0.0.1"]);
  assertEquals(p2p.ip, { address: 0x0a000000, prefixLength: 31 });
  assertEquals(p2p.gateway, 0x0a000001);
  assertEquals(parse(["--ip", "10.1.2.3/32"]).ip, { address: 0x0a010203, prefixLength: 32 });
});

Deno.test("parseConfig: an IPv4 NTP server and DNS given up to the limit", () => {
  assertEquals(parse(["--ntp-server", "10.0.0.1"]).ntpServer, "10.0.0.1");
  const dns = parse(["--dns", "10.0.0.1", "--dns", "10.0.0.2,10.0.0.3"]).dns;
  assertEquals(dns, [0x0a000001, 0x0a000002, 0x0a000003]);
  assertEquals(dns.length, MAX_DNS_SERVERS);
});

Deno.test("parseConfig: --help wins over everything else", () => {
  const config = parse(["--bogus", "--ip", "nonsense", "--help"], { MIP_ADMIN_PASSWORD: "x" });
  assertEquals(config.help, true);
  assertEquals(parse(["-h"]).help, true);
});

const BAD: [string[], string][] = [
  [["--tls-cert", "c.pem"], "--tls-cert and --tls-key go together: give both, or neither"],
  [["--tls-key", "k.pem"], "--tls-cert and --tls-key go together: give both, or neither"],
  [["--bogus"], "unknown option '--bogus'"],
  [
    ["--congestion-control", "bbr"],
    "--congestion-control 'bbr': Cannot use congestion control 'bbr': expected newreno or cubic",
  ],
  [
    ["--max-connections", "0"],
    "--max-connections '0': Cannot parse --max-connections '0': expected an integer 1-100000",
  ],
  [
    ["--max-connections", "1e5"],
    "--max-connections '1e5': Cannot parse --max-connections '1e5': expected an integer 1-100000",
  ],
  [["--bogus=1"], "unknown option '--bogus'"],
  [["-x"], "unknown option '-x'"],
  [["--no-dhcp-server"], "unknown option '--no-dhcp-server'"],
  [["stray"], "unexpected argument 'stray'"],
  [["--", "--ip"], "unexpected argument '--ip'"],
  [["--ip"], "--ip: missing value"],
  [["--ip", "--dhcp-server"], "--ip: missing value"],
  [["--iface="], "--iface: missing value"],
  [["--ip", "10.0.0.2/8", "--ip", "10.0.0.3/8"], "--ip: given more than once"],
  [
    ["--ip", "300.1.1.1/24"],
    "--ip '300.1.1.1/24': Cannot parse IPv4 address '300.1.1.1': expected four decimal octets",
  ],
  [
    ["--ip", "192.168.0.2"],
    "--ip '192.168.0.2': Cannot parse address '192.168.0.2': expected IPv4 address and prefix " +
    "length, e.g. 192.168.0.2/24",
  ],
  [
    ["--ip", "10.0.0.1/0"],
    "--ip '10.0.0.1/0': Cannot use address '10.0.0.1/0': expected a " +
    "prefix length of 1-32",
  ],
  [
    ["--ip", "192.168.0.0/24"],
    "--ip '192.168.0.0/24': Cannot use address '192.168.0.0/24': it is the network address of " +
    "its subnet",
  ],
  [
    ["--ip", "192.168.0.255/24"],
    "--ip '192.168.0.255/24': Cannot use address '192.168.0.255/24': it is the broadcast " +
    "address of its subnet",
  ],
  [
    ["--ip", "127.0.0.2/8"],
    "--ip '127.0.0.2/8': Cannot use address '127.0.0.2/8': it is a loopback address (127.0.0.0/8)",
  ],
  [
    ["--ip", "224.0.0.5/24"],
    "--ip '224.0.0.5/24': Cannot use address '224.0.0.5/24': it is a multicast address " +
    "(224.0.0.0/4)",
  ],
  [
    ["--gateway", "192.168.0.1"],
    "--gateway '192.168.0.1': Cannot use a gateway without --ip (with DHCP the server supplies it)",
  ],
  [
    ["--ip", "192.168.0.2/24", "--gateway", "192.168.1.1"],
    "--gateway '192.168.1.1': Cannot use gateway 192.168.1.1: it is outside the --ip subnet " +
    "192.168.0.0/24",
  ],
  [
    ["--ip", "192.168.0.2/24", "--gateway", "192.168.0.2"],
    "--gateway '192.168.0.2': Cannot use gateway 192.168.0.2: it is our own address",
  ],
  [
    ["--ip", "192.168.0.2/24", "--gateway", "192.168.0.255"],
    "--gateway '192.168.0.255': Cannot use gateway 192.168.0.255: it is the broadcast address " +
    "of its subnet",
  ],
  [
    ["--ip", "192.168.0.2/24", "--gateway", "192.168.0.x"],
    "--gateway '192.168.0.x': Cannot parse IPv4 address '192.168.0.x': expected four decimal " +
    "octets",
  ],
  [
    ["--iface", "a-very-long-name0"],
    "--iface 'a-very-long-name0': Cannot use interface name " +
    "'a-very-long-name0': expected 1-15 characters of A-Z a-z 0-9 _ . -",
  ],
  [
    ["--iface", "tap 0"],
    "--iface 'tap 0': Cannot use interface name 'tap 0': expected 1-15 " +
    "characters of A-Z a-z 0-9 _ . -",
  ],
  [
    ["--iface", ".."],
    "--iface '..': Cannot use interface name '..': expected 1-15 characters " +
    "of A-Z a-z 0-9 _ . -",
  ],
  [
    ["--mac", "03:00:00:00:00:01"],
    "--mac '03:00:00:00:00:01': Cannot use MAC address '03:00:00:00:00:01': expected a unicast " +
    "address (first octet even)",
  ],
  [
    ["--mac", "00:00:00:00:00:00"],
    "--mac '00:00:00:00:00:00': Cannot use MAC address '00:00:00:00:00:00': expected a nonzero " +
    "address",
  ],
  [
    ["--mac", "zz:01"],
    "--mac 'zz:01': Cannot parse MAC address 'zz:01': expected six hex octets",
  ],
  [
    ["--dns", "1.1.1.1,8.8.8"],
    "--dns '1.1.1.1,8.8.8': Cannot parse IPv4 address '8.8.8': expected four decimal octets",
  ],
  [
    ["--dns", "255.255.255.255"],
    "--dns '255.255.255.255': Cannot use DNS server 255.255.255.255: it is a reserved or " +
    "broadcast address (240.0.0.0/4)",
  ],
  [
    ["--dns", "10.0.0.1,10.0.0.2", "--dns", "10.0.0.3,10.0.0.4"],
    "--dns '10.0.0.3,10.0.0.4': Cannot use more than 3 DNS servers",
  ],
  [["--hostname", "-box"], "--hostname: missing value"],
  [
    ["--hostname=-box"],
    "--hostname '-box': Cannot use host name '-box': expected 1-63 letters, digits or hyphens, " +
    "not starting or ending with a hyphen",
  ],
  [
    ["--hostname", "box.example"],
    "--hostname 'box.example': Cannot use host name 'box.example': expected 1-63 letters, digits " +
    "or hyphens, not starting or ending with a hyphen",
  ],
  [
    ["--hostname", "a".repeat(64)],
    `--hostname '${"a".repeat(64)}': Cannot use host name '${"a".repeat(64)}': expected 1-63 ` +
    "letters, digits or hyphens, not starting or ending with a hyphen",
  ],
  [["--http-port", "0"], "--http-port '0': Cannot parse port '0': expected an integer 1-65535"],
  [
    ["--http-port", "65536"],
    "--http-port '65536': Cannot parse port '65536': expected an " +
    "integer 1-65535",
  ],
  [
    ["--http-port", "0x50"],
    "--http-port '0x50': Cannot parse port '0x50': expected an integer " +
    "1-65535",
  ],
  [
    ["--https-port", "8.5"],
    "--https-port '8.5': Cannot parse port '8.5': expected an integer " +
    "0-65535",
  ],
  [["--http-port", "8443", "--https-port", "8443"], "--https-port 8443: the same as --http-port"],
  [["--dhcp-server"], "--dhcp-server needs --ip (a DHCP server needs a static address)"],
  [
    ["--dhcp-server", "--ip", "10.0.0.0/31"],
    "--dhcp-server needs room for clients: --ip prefix length /31 is longer than /30",
  ],
  [
    ["--ntp-server", "bad_name.org"],
    "--ntp-server 'bad_name.org': Cannot use server 'bad_name.org': expected a host name or IPv4 " +
    "address",
  ],
  [
    ["--ntp-server", "300.1.1.1"],
    "--ntp-server '300.1.1.1': Cannot parse IPv4 address '300.1.1.1': expected four decimal " +
    "octets",
  ],
  [
    ["--log-level", "trace"],
    "--log-level 'trace': Cannot use log level 'trace': expected debug, info, warning, error",
  ],
  [
    ["--impair", "loss=200%"],
    "--impair 'loss=200%': Cannot use impairment 'loss=200%': a percentage is at most 100",
  ],
  [
    ["--impair", "jitter=5ms"],
    "--impair 'jitter=5ms': Cannot parse impairment 'jitter=5ms': expected key=value with key " +
    "one of loss, duplicate, reorder, delay, corrupt, rate, seed (e.g. loss=5%,delay=10ms)",
  ],
  [
    ["--admin-password", "p".repeat(257)],
    "--admin-password: the password is longer than 256 characters",
  ],
];

Deno.test("parseConfig: bad command lines give one precise UsageError each", () => {
  for (const [args, message] of BAD) {
    assertEquals(usageError(args), message, `for ${JSON.stringify(args)}`);
  }
});

Deno.test("parseConfig: a bad password from the environment is blamed on the variable", () => {
  const message = usageError([], { MIP_ADMIN_PASSWORD: "q".repeat(300) });
  assertEquals(message, "MIP_ADMIN_PASSWORD: the password is longer than 256 characters");
  assert(!message.includes("qqq"), "the password itself is never echoed");
});

Deno.test("HELP documents every flag, one line each, with defaults", () => {
  const flags = [
    "--iface NAME",
    "--mac MAC",
    "--ip CIDR",
    "--gateway IP",
    "--dns IP",
    "--hostname NAME",
    "--http-port N",
    "--https-port N",
    "--web-root DIR",
    "--state-dir DIR",
    "--admin-password P",
    "--dhcp-server",
    "--ntp-server NAME",
    "--log-level LEVEL",
    "-v",
    "--pcap FILE",
    "--impair SPEC",
    "--no-offload",
    "--max-connections N",
    "--congestion-control CC",
    "-h, --help",
  ];
  const lines = HELP.split("\n");
  for (const flag of flags) {
    const matching = lines.filter((line) => line.trimStart().startsWith(`${flag} `));
    assertEquals(matching.length, 1, `one help line for ${flag}`);
  }
  for (
    const [flag, shown] of [
      ["--iface", "tap0"],
      ["--mac", "02:00:01:02:03:77"],
      [
        "--hostname",
        "mip-tap",
      ],
      ["--http-port", "80"],
      ["--https-port", "443"],
      ["--state-dir", "./.state"],
      [
        "--ntp-server",
        "pool.ntp.org",
      ],
      ["--log-level", "info"],
      ["--max-connections", "1024"],
      ["--congestion-control", "newreno"],
    ]
  ) {
    const line = lines.find((l) => l.trimStart().startsWith(`${flag} `))!;
    assert(line.includes(`(default ${shown})`), `${flag} shows its default: ${line}`);
  }
  for (const line of lines) assert(line.length <= 100, `help line too long: ${line}`);
});

Deno.test("describeConfig shows the effective values but never the password", () => {
  const config = parse([
    "--ip",
    "10.0.0.2/24",
    "--gateway",
    "10.0.0.1",
    "--admin-password",
    "sekrit-pw",
    "--impair",
    "loss=5%,seed=3",
  ]);
  const text = describeConfig(config);
  assert(!text.includes("sekrit-pw"));
  for (
    const part of [
      "iface=tap0",
      "mac=02:00:01:02:03:77",
      "ip=10.0.0.2/24",
      "gateway=10.0.0.1",
      "admin-password=set",
      "impair=loss=5%,seed=3",
      "https=443",
    ]
  ) {
    assert(text.split(" ").includes(part), `${part} in ${text}`);
  }
  assert(describeConfig(parse([])).split(" ").includes("ip=dhcp"));
});

Deno.test("formatLogLine: HH:MM:SS.mmm LEVEL category message, one line", () => {
  const record: LogRecord = {
    category: ["mip", "tcp"],
    level: "warning",
    message: ["reset from ", "10.0.0.1:80", "\nforged line"],
    rawMessage: "reset from {peer}\nforged line",
    timestamp: Date.UTC(2024, 0, 2, 3, 4, 5, 6),
    properties: { peer: "10.0.0.1:80" },
  };
  const line = formatLogLine(record).replace(/\n$/, "");
  assert(!line.includes("\n"), "a record is one line even with a newline in the message");
  const local = new Date(record.timestamp); // the line shows local time
  const two = (n: number) => String(n).padStart(2, "0");
  const time = `${two(local.getHours())}:${two(local.getMinutes())}:05.006`;
  assert(line.startsWith(`${time} WARNING mip.tcp reset from 10.0.0.1:80`), line);
});

Deno.test("formatFatalError: a hint makes one line; other errors keep their stack", () => {
  const tapError = Object.assign(new Error("Cannot open /dev/net/tun: EACCES\n(errno 13)"), {
    hint: "run as root or grant CAP_NET_ADMIN",
  });
  assertEquals(
    formatFatalError(tapError),
    "mip-tap: Cannot open /dev/net/tun: EACCES (errno 13) (hint: run as root or grant CAP_NET_ADMIN)",
  );
  const bug = formatFatalError(new RangeError("index out of range"));
  assert(bug.startsWith("mip-tap: unexpected error: RangeError: index out of range"));
});

Deno.test("permissionsFromTask reads the flags of a compile task", () => {
  assertEquals(
    permissionsFromTask(
      "deno compile --allow-ffi --allow-net=0.0.0.0 --output mip-tap --deny-env=HOME main.ts",
    ),
    ["--allow-ffi", "--allow-net=0.0.0.0", "--deny-env=HOME"],
  );
  assertThrows(() => permissionsFromTask("deno run -A main.ts"), TypeError);
  assertThrows(() => permissionsFromTask("deno compile --output x main.ts"), TypeError);
});

Deno.test("main.ts with compile permissions: unknown flag -> exit 2, one stderr line", async () => {
  const result = await run(await applianceCommand(["--bogus"]), { env: { NO_COLOR: "1" } });
  assertEquals(result.code, 2);
  assertEquals(result.stdout, "");
  assertEquals(result.stderr, "mip-tap: unknown option '--bogus' (see --help)\n");
});

Deno.test("main.ts with compile permissions: bad value -> exit 2, the documented line", async () => {
  const result = await run(await applianceCommand(["--ip", "300.1.1.1/24"]));
  assertEquals(result.code, 2);
  assertEquals(
    result.stderr,
    "mip-tap: --ip '300.1.1.1/24': Cannot parse IPv4 address '300.1.1.1': expected four decimal " +
      "octets (see --help)\n",
  );
});

Deno.test("main.ts with compile permissions: --help -> exit 0, the help on stdout", async () => {
  const result = await run(await applianceCommand(["--help"]));
  assertEquals(result.code, 0);
  assertEquals(result.stdout, `${HELP}\n`);
  assertEquals(result.stderr, "");
});
