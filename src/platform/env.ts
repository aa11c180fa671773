/**
 * An environment variable, or undefined where there is none, or where reading it is not allowed
 * (Deno without --allow-env throws on any access): settings from the environment are optional.
 */
export function envVar(name: string): string | undefined {
  try {
    return typeof process === 'undefined' ? undefined : process.env[name];
  } catch {
    return undefined;
  }
}
