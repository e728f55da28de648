import { spawn, type ChildProcess } from "node:child_process";
import { nextRestart } from "./restart-backoff.js";

// One child of `npm start` (the edge's `wrangler dev` or a media node), run in its own process
// group so signals reach its grandchildren (npx → wrangler → workerd). When it exits without
// being told to, its whole group is killed (a workerd left behind would hold the port) and it is
// started again after a backoff (restart-backoff.ts), or, with restarts off, left stopped with
// the command to run it by hand. Only `stop()` ends it for good.

export interface ChildSpec {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
}

export interface SupervisorOptions {
  restart: boolean;
  /** Launcher messages (not the child's output), one line each. */
  report: (line: string) => void;
}

export class SupervisedChild {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private restartTimer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private failures = 0;
  private stopped = false;
  private readonly prefix: string;

  constructor(
    readonly spec: ChildSpec,
    private readonly options: SupervisorOptions,
  ) {
    this.prefix = `[${spec.name}] `;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  start(): void {
    if (this.stopped || this.child) return;
    const { command, args, env } = this.spec;
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env }, detached: true });
    this.child = child;
    this.startedAt = Date.now();
    this.pipe(child.stdout!, process.stdout);
    this.pipe(child.stderr!, process.stderr);
    this.exited = new Promise((resolve) => {
      let ended = false;
      const end = (code: number | null, signal: NodeJS.Signals | null) => {
        if (ended) return;
        ended = true;
        this.child = undefined;
        this.onExit(child, code, signal);
        resolve();
      };
      child.once("exit", end);
      child.once("error", (err) => {
        // Only a failed spawn (no such command) matters here; "exit" may or may not follow it.
        if (child.pid !== undefined) return;
        this.options.report(`${this.prefix}could not start: ${err.message}`);
        end(null, null);
      });
    });
    if (child.pid !== undefined) this.options.report(`${this.prefix}started (pid ${child.pid})`);
  }

  /** SIGTERM to the group, SIGKILL after `graceMs`; no restart afterwards. */
  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child) return;
    signalGroup(child, "SIGTERM");
    const timer = setTimeout(() => signalGroup(child, "SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
    signalGroup(child, "SIGKILL"); // stragglers in the group (workerd)
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    signalGroup(child, "SIGKILL");
    if (this.stopped) return;
    const ranForMs = Date.now() - this.startedAt;
    const how = `exited (${signal ?? `code ${code}`}) after ${(ranForMs / 1000).toFixed(1)} s`;
    if (!this.options.restart) {
      const commandLine = [this.spec.command, ...this.spec.args].map(quote).join(" ");
      this.options.report(`${this.prefix}${how}; not restarting (--no-restart). To run it by hand: ${commandLine}`);
      return;
    }
    const { failures, delayMs } = nextRestart(this.failures, ranForMs);
    this.failures = failures;
    this.options.report(`${this.prefix}${how}; restarting in ${delayMs / 1000} s (restart ${failures} in a row)`);
    this.restartTimer = setTimeout(() => this.start(), delayMs);
  }

  private pipe(stream: NodeJS.ReadableStream, out: NodeJS.WriteStream): void {
    let buffered = "";
    stream.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      for (const line of lines) out.write(this.prefix + line + "\n");
    });
    stream.on("end", () => {
      if (buffered) out.write(this.prefix + buffered + "\n");
      buffered = "";
    });
  }
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid) process.kill(-child.pid, signal);
  } catch {
    // The group is gone.
  }
}

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
