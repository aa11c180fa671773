/** Runs a benchmark child (this Node with `args`) to its end: its exit and what it printed. */
import { spawn } from 'node:child_process';

export interface ChildRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function runNodeChild(args: readonly string[]): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** The last line a child wrote to stderr (its error, by the CLI's convention), or how it ended. */
export function lastErrorLine(run: ChildRun): string {
  return run.stderr.trim().split('\n').pop() || `exit ${run.code ?? run.signal}`;
}
