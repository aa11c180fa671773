/** Runs the wasm-chord CLI from source in a child process. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The environment CLI children get: the CPU backend unless a test asks (probing the GPU makes
 * Dawn print warnings on machines with only a software adapter, such as CI's lavapipe).
 */
export const CLI_ENV: NodeJS.ProcessEnv = { WASM_CHORD_BACKEND: 'cpu', ...process.env };

/**
 * `input`: what the child reads on stdin (else an empty stdin); `env`: variables added to
 * CLI_ENV; `onStderr`: sees the stderr so far as it grows (a test talking to a server child).
 */
export function runCli(
  args: string[],
  options: { timeoutMs?: number; input?: string; env?: NodeJS.ProcessEnv; onStderr?: (stderr: string, child: ChildProcess) => void } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...CLI_ENV, ...options.env },
      timeout: options.timeoutMs ?? 60_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      options.onStderr?.(stderr, child);
    });
    child.on('error', reject);
    child.stdin.on('error', () => {}); // a child that exits without reading its input
    child.stdin.end(options.input);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
