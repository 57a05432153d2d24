/**
 * Running commands from tests: `run` for a command that finishes (output captured, bounded in
 * time), `spawn` for a long-lived child whose stdout and stderr are read line by line.
 *
 * Invariants: a child's stdin is closed (or fed a given text, then closed) and both output
 * pipes are drained, so it can never block on a full pipe; every wait is bounded by a timeout;
 * a child is only ever signalled through its own `Deno.ChildProcess` (never by name or by a pid
 * we did not start); output kept per child is bounded (`MAX_LINES`, oldest dropped first, line
 * indices stay absolute).
 * @module
 */

/** Lines kept per child; older lines are dropped (indices keep counting). */
export const MAX_LINES = 20_000;
/** Characters `run` keeps of each stream. */
const MAX_CAPTURE_CHARS = 4_000_000;
/** Characters kept of one line; the rest is cut. */
const MAX_LINE_CHARS = 16_384;
/** Default bound on `run`. */
const RUN_TIMEOUT_MS = 30_000;
/** How long output may trail the exit (a grandchild may hold the pipes); then reading stops. */
const READ_GRACE_MS = 1_000;

/** What a finished command did. */
export interface RunResult {
  /** Exit code (128 + n when killed by signal n). */
  code: number;
  signal: Deno.Signal | null;
  success: boolean;
  stdout: string;
  stderr: string;
}

/** Options of `run`. */
export interface RunOptions {
  /** Kill the command (SIGKILL) and throw after this long. Default 30 s. */
  timeoutMs?: number;
  cwd?: string;
  /** Added to the inherited environment. */
  env?: Record<string, string>;
  /** Text written to the command's stdin (otherwise stdin is closed). */
  stdin?: string;
  /** Throw when the exit code is not 0 (default false). */
  check?: boolean;
}

/**
 * Runs `cmd` to completion and captures its output.
 * Throws when it outlives `timeoutMs` (after killing it) and, with `check`, when it fails.
 *
 * @example
 * ```ts
 * const { stdout } = await run(["ip", "-V"], { check: true });
 * ```
 */
export async function run(cmd: string[], options: RunOptions = {}): Promise<RunResult> {
  const [program, ...args] = cmd;
  if (program === undefined) throw new TypeError("Cannot run an empty command");
  const child = new Deno.Command(program, {
    args,
    cwd: options.cwd,
    env: options.env,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout = drain(child.stdout);
  const stderr = drain(child.stderr);
  if (options.stdin !== undefined) feed(child.stdin, options.stdin); // not awaited: bounded below
  const timeoutMs = options.timeoutMs ?? RUN_TIMEOUT_MS;
  const status = await settleWithin(child.status, timeoutMs);
  if (status === null) killQuietly(child, "SIGKILL");
  const final = status ?? await child.status;
  // Output is complete at exit unless a background grandchild still holds the pipes.
  await settleWithin(Promise.all([stdout.done, stderr.done]), READ_GRACE_MS);
  const result: RunResult = {
    code: final.code,
    signal: final.signal,
    success: final.success,
    stdout: stdout.cancel(),
    stderr: stderr.cancel(),
  };
  if (status === null) {
    throw new Error(`Command timed out after ${timeoutMs} ms: ${describe(cmd)}${tail(result)}`);
  }
  if (options.check && !result.success) {
    throw new Error(
      `Command failed with exit code ${result.code}: ${describe(cmd)}${tail(result)}`,
    );
  }
  return result;
}

/** Options of `spawn`. */
export interface SpawnOptions {
  cwd?: string;
  /** Added to the inherited environment. */
  env?: Record<string, string>;
}

/** Which output a line came from. */
export type Stream = "stdout" | "stderr";

/** One line of a child's output. */
export interface OutputLine {
  /** Absolute index (0 = first line the child printed, on either stream). */
  index: number;
  stream: Stream;
  text: string;
}

interface Waiter {
  regex: RegExp;
  from: number;
  resolve: (line: OutputLine) => void;
  reject: (err: Error) => void;
}

/** A long-lived child process with line-by-line access to its output. */
export class ChildHandle {
  readonly #cmd: string[];
  readonly #child: Deno.ChildProcess;
  readonly #lines: OutputLine[] = [];
  #dropped = 0;
  #waiters = new Set<Waiter>();
  #status: Deno.CommandStatus | null = null;
  readonly #done: Promise<Deno.CommandStatus>;

  constructor(cmd: string[], options: SpawnOptions = {}) {
    const [program, ...args] = cmd;
    if (program === undefined) throw new TypeError("Cannot spawn an empty command");
    this.#cmd = cmd;
    this.#child = new Deno.Command(program, {
      args,
      cwd: options.cwd,
      env: options.env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const readers = [
      this.#readLines(this.#child.stdout, "stdout"),
      this.#readLines(this.#child.stderr, "stderr"),
    ];
    this.#done = this.#child.status.then(async (status) => {
      await settleWithin(Promise.all(readers.map((r) => r.done)), READ_GRACE_MS);
      for (const reader of readers) reader.cancel();
      this.#status = status;
      for (const waiter of this.#waiters) waiter.reject(this.#exitedError(waiter.regex, status));
      this.#waiters.clear();
      return status;
    });
  }

  /** The child's process id. */
  get pid(): number {
    return this.#child.pid;
  }

  /** The command line, for messages. */
  get command(): string {
    return describe(this.#cmd);
  }

  /** The exit status once the child has exited and its output is read; null before. */
  get status(): Deno.CommandStatus | null {
    return this.#status;
  }

  /** Resolves when the child has exited and all its output is read. */
  get exited(): Promise<Deno.CommandStatus> {
    return this.#done;
  }

  /** How many lines the child has printed so far (use as `from` for a later wait). */
  get lineCount(): number {
    return this.#dropped + this.#lines.length;
  }

  /** The lines kept so far, oldest first. */
  lines(): readonly OutputLine[] {
    return this.#lines;
  }

  /** Everything kept of both streams, one line each, in arrival order. */
  output(): string {
    return this.#lines.map((line) => line.text).join("\n");
  }

  /**
   * Resolves with the first line (index >= `from`, on either stream) that matches `pattern`,
   * including lines printed before the call (`g`/`y` flags are ignored). Rejects after
   * `timeoutMs`, or when the child exits without printing one.
   */
  waitForLine(pattern: RegExp, timeoutMs: number, from = 0): Promise<OutputLine> {
    const regex = new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, "")); // stateless test()
    const seen = this.#lines.find((line) => line.index >= from && regex.test(line.text));
    if (seen) return Promise.resolve(seen);
    if (this.#status) return Promise.reject(this.#exitedError(regex, this.#status));
    return new Promise<OutputLine>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(
          new Error(
            `No line matching ${regex} within ${timeoutMs} ms from ${this.command}${this.#tail()}`,
          ),
        );
      }, timeoutMs);
      const waiter: Waiter = {
        regex,
        from,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.#waiters.add(waiter);
    });
  }

  /**
   * Sends `signal` (unless the child has exited), waits up to `timeoutMs`, then SIGKILLs it.
   * Resolves with the exit code. Safe to call more than once.
   */
  async stop(signal: Deno.Signal = "SIGTERM", timeoutMs = 5_000): Promise<number> {
    if (this.#status) return this.#status.code;
    killQuietly(this.#child, signal);
    const status = await settleWithin(this.#done, timeoutMs);
    if (status === null) killQuietly(this.#child, "SIGKILL");
    return (await this.#done).code;
  }

  #readLines(stream: ReadableStream<Uint8Array>, name: Stream): Drain<void> {
    let partial = "";
    return drain(stream, (chunk) => {
      const parts = (partial + chunk).split("\n");
      partial = parts.pop() ?? "";
      if (partial.length > MAX_LINE_CHARS) partial = partial.slice(0, MAX_LINE_CHARS);
      for (const part of parts) this.#push(name, part);
    }, () => {
      if (partial !== "") this.#push(name, partial);
      partial = "";
    });
  }

  #push(stream: Stream, raw: string): void {
    const text = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    const line: OutputLine = { index: this.lineCount, stream, text: text.slice(0, MAX_LINE_CHARS) };
    this.#lines.push(line);
    if (this.#lines.length > MAX_LINES) {
      this.#lines.shift();
      this.#dropped++;
    }
    for (const waiter of this.#waiters) {
      if (line.index >= waiter.from && waiter.regex.test(line.text)) {
        this.#waiters.delete(waiter);
        waiter.resolve(line);
      }
    }
  }

  #exitedError(regex: RegExp, status: Deno.CommandStatus): Error {
    return new Error(
      `${this.command} exited with code ${status.code} before printing a line matching ${regex}` +
        this.#tail(),
    );
  }

  #tail(): string {
    const last = this.#lines.slice(-20).map((line) => `  ${line.stream}: ${line.text}`);
    return last.length > 0 ? `\nlast lines:\n${last.join("\n")}` : "\n(no output)";
  }
}

/**
 * Starts a long-lived child; read its output with `waitForLine`, end it with `stop`.
 *
 * @example
 * ```ts
 * const child = spawn(["ping", "-c", "3", "127.0.0.1"]);
 * await child.waitForLine(/bytes from/, 5_000);
 * await child.stop();
 * ```
 */
export function spawn(cmd: string[], options: SpawnOptions = {}): ChildHandle {
  return new ChildHandle(cmd, options);
}

/** A stream being read to its end; `cancel` stops reading and returns what was read. */
interface Drain<T> {
  done: Promise<void>;
  cancel: () => T;
}

/** Reads `stream` as text: into one string, or chunk by chunk into `onText`. */
function drain(stream: ReadableStream<Uint8Array>): Drain<string>;
function drain(
  stream: ReadableStream<Uint8Array>,
  onText: (text: string) => void,
  onEnd: () => void,
): Drain<void>;
function drain(
  stream: ReadableStream<Uint8Array>,
  onText?: (text: string) => void,
  onEnd?: () => void,
): Drain<string> | Drain<void> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let finished = false;
  const finish = () => {
    if (!finished) onEnd?.();
    finished = true;
  };
  const done = (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        if (onText) onText(value);
        else if (text.length < MAX_CAPTURE_CHARS) text += value;
      }
    } catch {
      // Cancelled or broken pipe: keep what was read.
    }
    finish();
  })();
  return {
    done,
    cancel: () => {
      reader.cancel().catch(() => {});
      finish();
      return text;
    },
  } as Drain<string>;
}

/** Writes `text` and closes; a child that exits without reading it just ends the write. */
function feed(stdin: WritableStream<Uint8Array>, text: string): void {
  const writer = stdin.getWriter();
  writer.write(new TextEncoder().encode(text))
    .then(() => writer.close())
    .catch(() => {});
}

/** `work`'s value, or null when it has not settled within `timeoutMs`. */
async function settleWithin<T>(work: Promise<T>, timeoutMs: number): Promise<T | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), timeoutMs);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

function killQuietly(child: Deno.ChildProcess, signal: Deno.Signal): void {
  try {
    child.kill(signal);
  } catch {
    // Already exited: nothing to signal.
  }
}

function describe(cmd: string[]): string {
  return cmd.map((arg) => /^[A-Za-z0-9_./:=@%+,-]+$/.test(arg) ? arg : JSON.stringify(arg)).join(
    " ",
  );
}

function tail(result: RunResult): string {
  const clip = (text: string) => text.trimEnd().split("\n").slice(-20).join("\n");
  return `\nstdout:\n${clip(result.stdout)}\nstderr:\n${clip(result.stderr)}`;
}
