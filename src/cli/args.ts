/**
 * A small declarative parser for `smpr <command> [flags] [arguments]`.
 *
 * A command declares its flags (boolean, string, number) and positional arguments once; from that one spec come
 * the parsed, typed values, the `--help` text and every usage error. Accepted forms: `--flag value`,
 * `--flag=value`, `--flag` / `--no-flag` for booleans, `--` to end the flags. Flags may come in any order among
 * the positionals; giving one twice is an error. Mistakes are `UsageError`s that name the command and, for a
 * misspelt flag or choice, suggest the nearest valid one.
 */
import { UsageError } from './errors.js';

interface FlagBase {
  description: string;
}

/** Defaults to false. `--name`, `--no-name`, `--name=true|false`. */
export interface BooleanFlag extends FlagBase {
  type: 'boolean';
  default?: boolean;
}

export interface StringFlag extends FlagBase {
  type: 'string';
  default?: string;
  required?: boolean;
  choices?: readonly string[];
  /** The placeholder in the help text (default `value`, or the choices). */
  valueName?: string;
}

export interface NumberFlag extends FlagBase {
  type: 'number';
  default?: number;
  required?: boolean;
  integer?: boolean;
  min?: number;
  max?: number;
  valueName?: string;
}

export type FlagSpec = BooleanFlag | StringFlag | NumberFlag;
export type FlagSpecs = Record<string, FlagSpec>;

/** Positionals are matched in order; optional ones follow the required ones, and only the last may be variadic. */
export interface PositionalSpec {
  name: string;
  description: string;
  optional?: boolean;
  /** Takes all remaining arguments (one or more; zero or more when also optional). */
  variadic?: boolean;
}

export interface CommandSpec<S extends FlagSpecs = FlagSpecs> {
  name: string;
  summary: string;
  flags: S;
  positionals?: readonly PositionalSpec[];
}

type ValueOf<F> = F extends BooleanFlag ? boolean : F extends NumberFlag ? number : F extends { choices: readonly (infer C)[] } ? C : string;
type AlwaysSet<F> = F extends BooleanFlag ? true : F extends { required: true } ? true : F extends { default: string | number } ? true : false;

/** The parsed flags: flags that are required, have a default or are boolean are always set; others may be undefined. */
export type ParsedFlags<S extends FlagSpecs> = { -readonly [K in keyof S]: AlwaysSet<S[K]> extends true ? ValueOf<S[K]> : ValueOf<S[K]> | undefined };

export interface ParsedArgs<S extends FlagSpecs> {
  flags: ParsedFlags<S>;
  positionals: string[];
}

export interface Command<S extends FlagSpecs = FlagSpecs> extends CommandSpec<S> {
  run(args: ParsedArgs<S>): unknown;
}

export interface Program {
  name: string;
  summary: string;
  /** What `--version` prints after the name (the package's version). */
  version?: string;
  // `any`: each command's `run` takes its own flag types, which no single element type covers.
  commands: readonly Command<any>[];
}

const HELP = ['--help', '-h'];

/** Checks a command's spec once (mistakes in it are bugs, not usage errors) and keeps its literal types for `run`. */
export function defineCommand<const S extends FlagSpecs>(command: Command<S>): Command<S> {
  const where = `defineCommand '${command.name}'`;
  for (const [name, spec] of Object.entries(command.flags)) {
    if (!/^[a-z][a-z0-9-]*$/.test(name) || name === 'help') throw new Error(`${where}: bad flag name '${name}' (lower-case kebab-case; 'help' is built in)`);
    if (spec.type === 'boolean' && name.startsWith('no-')) throw new Error(`${where}: boolean flag '${name}' clashes with the --no- negation`);
    if (spec.type !== 'boolean' && spec.required && spec.default !== undefined) throw new Error(`${where}: --${name} is required and has a default`);
    if (spec.default !== undefined && spec.type !== 'boolean') checkValue(command.name, name, spec, spec.default, where);
  }
  const positionals = command.positionals ?? [];
  positionals.forEach((p, i) => {
    if (p.variadic && i !== positionals.length - 1) throw new Error(`${where}: only the last positional may be variadic ('${p.name}' is not last)`);
    if (!p.optional && positionals.slice(0, i).some((q) => q.optional)) throw new Error(`${where}: required positional '${p.name}' follows an optional one`);
  });
  return command;
}

/** Parses `argv` (the arguments after the command name) against the command's spec. */
export function parseArgs<S extends FlagSpecs>(command: CommandSpec<S>, argv: readonly string[]): ParsedArgs<S> {
  const usage = (message: string) => new UsageError(message, command.name);
  const flags: Record<string, unknown> = {};
  const positionals: string[] = [];
  let flagsEnded = false;
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i];
    if (flagsEnded || token === '-' || !token.startsWith('-')) {
      positionals.push(token);
      continue;
    }
    if (token === '--') {
      flagsEnded = true;
      continue;
    }
    const eq = token.indexOf('=');
    const written = eq < 0 ? token : token.slice(0, eq);
    const inline = eq < 0 ? undefined : token.slice(eq + 1);
    let name = written.replace(/^--?/, '');
    let negated = false;
    if (!Object.hasOwn(command.flags, name) && name.startsWith('no-') && command.flags[name.slice(3)]?.type === 'boolean') {
      name = name.slice(3);
      negated = true;
    }
    if (!written.startsWith('--') || !Object.hasOwn(command.flags, name)) {
      const base = name.slice(3);
      const hint = name.startsWith('no-') && Object.hasOwn(command.flags, base) ? ` (--${base} takes a value; only boolean flags have a --no- form)` : suggestion(name, flagNames(command.flags), '--');
      throw usage(`unknown flag ${written}${hint}`);
    }
    if (Object.hasOwn(flags, name)) throw usage(`--${name} is given twice`);
    const spec = command.flags[name];
    if (spec.type === 'boolean') {
      if (negated && inline !== undefined) throw usage(`--no-${name} takes no value`);
      flags[name] = negated ? false : inline === undefined ? true : parseBoolean(inline, () => usage(`--${name} expects true or false, got '${inline}'`));
      continue;
    }
    // The next token is the value even when it starts with a single dash (a negative number); `--x` never is.
    const raw = inline ?? argv[i + 1];
    if (raw === undefined || (inline === undefined && raw.startsWith('--'))) throw usage(`--${name} needs a value`);
    if (inline === undefined) i++;
    flags[name] = spec.type === 'number' ? checkValue(command.name, name, spec, parseNumber(raw, name, spec, usage)) : checkValue(command.name, name, spec, raw);
  }

  for (const [name, spec] of Object.entries(command.flags)) {
    if (Object.hasOwn(flags, name)) continue;
    if (spec.type !== 'boolean' && spec.required) throw usage(`missing required flag --${name}`);
    flags[name] = spec.type === 'boolean' ? (spec.default ?? false) : spec.default;
  }

  const specs = command.positionals ?? [];
  const required = specs.filter((p) => !p.optional).length;
  if (positionals.length < required) throw usage(`missing ${placeholder(specs[positionals.length])}`);
  if (!specs.at(-1)?.variadic && positionals.length > specs.length) {
    throw usage(`unexpected argument '${positionals[specs.length]}'${specs.length ? ` (takes ${specs.map(placeholder).join(' ')})` : ' (takes no arguments)'}`);
  }
  return { flags: flags as ParsedFlags<S>, positionals };
}

/**
 * Refuses an empty file or folder name among `paths` (flag name → value). `--weights=$CKPT` with CKPT unset reads
 * as the flag left out where it is optional (a run from scratch, the shipped model), and elsewhere as a path that
 * errors name as nothing ("smpr: : no such checkpoint").
 */
export function refuseEmptyPaths(command: string, paths: Record<string, string | undefined>): void {
  const empty = Object.keys(paths).find((name) => paths[name] === '');
  if (empty !== undefined) throw new UsageError(`${/^[A-Z]/.test(empty) ? empty : `--${empty}`} needs a file or folder name, got ''`, command);
}

function parseBoolean(raw: string, error: () => UsageError): boolean {
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  throw error();
}

function parseNumber(raw: string, name: string, spec: NumberFlag, usage: (m: string) => UsageError): number {
  // Decimal notation only: Number() would also take '0x10', '0b11' and surrounding blanks.
  const value = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(raw) ? Number(raw) : NaN;
  if (!Number.isFinite(value)) throw usage(`--${name} expects ${spec.integer ? 'an integer' : 'a number'}, got '${raw}'`);
  return value;
}

/** Validates a value against integer/min/max/choices; `definedAt` marks a default in a spec (a bug, not a usage error). */
function checkValue<T extends string | number>(command: string, name: string, spec: StringFlag | NumberFlag, value: T, definedAt?: string): T {
  const fail = (why: string): never => {
    if (definedAt) throw new Error(`${definedAt}: the default of --${name} ${why}`);
    throw new UsageError(`--${name} ${why}`, command);
  };
  if (spec.type === 'number') {
    const n = value as number;
    if (spec.integer && !Number.isInteger(n)) fail(`expects an integer, got '${n}'`);
    if (spec.min !== undefined && n < spec.min) fail(`must be ≥ ${spec.min}, got ${n}`);
    if (spec.max !== undefined && n > spec.max) fail(`must be ≤ ${spec.max}, got ${n}`);
  } else if (spec.choices && !spec.choices.includes(value as string)) {
    fail(`must be one of ${spec.choices.join(', ')}; got '${value}'${suggestion(value as string, spec.choices, '')}`);
  }
  return value;
}

const flagNames = (flags: FlagSpecs): string[] =>
  [...Object.keys(flags), ...Object.entries(flags).filter(([, s]) => s.type === 'boolean').map(([n]) => `no-${n}`)];

/** ` (did you mean X?)` for the nearest candidate within a few edits, else ''. */
function suggestion(word: string, candidates: readonly string[], prefix: string): string {
  let best = '';
  let bestDistance = Math.max(1, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best ? ` (did you mean ${prefix}${best}?)` : '';
}

/** Edit distance counting insertions, deletions, substitutions and adjacent transpositions ('trian' → 'train') as one each. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

// ---- help and dispatch --------------------------------------------------------------------------------------------

const placeholder = (p: PositionalSpec): string => {
  const inner = `${p.name}${p.variadic ? '...' : ''}`;
  return p.optional ? `[${inner}]` : `<${inner}>`;
};

function valuePlaceholder(spec: StringFlag | NumberFlag): string {
  if (spec.valueName) return `<${spec.valueName}>`;
  if (spec.type === 'number') return spec.integer ? '<n>' : '<x>';
  return spec.choices ? `<${spec.choices.join('|')}>` : '<value>';
}

function table(rows: [string, string][]): string {
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  return rows.map(([left, right]) => `  ${left.padEnd(width)}${right}`.trimEnd()).join('\n');
}

/** `--help` for one command. */
export function helpText(program: string, command: CommandSpec): string {
  const positionals = command.positionals ?? [];
  const options: [string, string][] = Object.entries(command.flags).map(([name, spec]) => {
    if (spec.type === 'boolean') {
      return [`--${name}, --no-${name}`, `${spec.description}${spec.default ? ' (default: on)' : ''}`];
    }
    const notes = [spec.required ? 'required' : '', spec.default !== undefined ? `default: ${spec.default}` : ''].filter(Boolean);
    return [`--${name} ${valuePlaceholder(spec)}`, `${spec.description}${notes.length ? ` (${notes.join(', ')})` : ''}`];
  });
  options.push(['-h, --help', 'show this help']);
  const lines = [`Usage: ${program} ${command.name} [options]${positionals.map((p) => ` ${placeholder(p)}`).join('')}`, '', command.summary, ''];
  if (positionals.length) lines.push('Arguments:', table(positionals.map((p) => [placeholder(p), p.description])), '');
  lines.push('Options:', table(options));
  return `${lines.join('\n')}\n`;
}

/** `--help` for the program: the list of commands. */
export function programHelp(program: Program): string {
  return [
    `Usage: ${program.name} <command> [options]`,
    '',
    program.summary,
    '',
    'Commands:',
    table(program.commands.map((c) => [c.name, c.summary])),
    '',
    `Run '${program.name} <command> --help' for a command's options${program.version !== undefined ? `, '${program.name} --version' for the version` : ''}.`,
    '',
  ].join('\n');
}

/**
 * Picks the command named by `argv[0]`, parses the rest and runs it; `--help` anywhere before `--` prints help
 * instead. Errors are `UsageError`s, for `runCli` to print.
 */
export async function dispatch(program: Program, argv: readonly string[], print: (text: string) => void = (t) => void process.stdout.write(t)): Promise<void> {
  const [name, ...rest] = argv;
  if (name === undefined) throw new UsageError(`missing command (one of: ${program.commands.map((c) => c.name).join(', ')}); see '${program.name} --help'`);
  if (HELP.includes(name) || name === 'help') return print(programHelp(program));
  if (name === '--version' && program.version !== undefined) return print(`${program.name} ${program.version}\n`);
  const command = program.commands.find((c) => c.name === name);
  if (!command) {
    const names = program.commands.map((c) => c.name);
    throw new UsageError(`unknown command '${name}'${suggestion(name, names, '') || ` (one of: ${names.join(', ')})`}`);
  }
  const beforeEnd = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
  if (beforeEnd.some((a) => HELP.includes(a))) return print(helpText(program.name, command));
  await command.run(parseArgs(command, rest));
}
