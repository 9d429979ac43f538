/** The benchmarks' command line: the value after `--name`, or undefined when the flag is absent (or has no value). */
export function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
