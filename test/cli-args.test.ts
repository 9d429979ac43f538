// The command-line layer: parsing rules, help text, dispatch, and how runCli reports each kind of failure.
import { describe, expect, expectTypeOf, it } from 'vitest';
import { defineCommand, dispatch, helpText, parseArgs, programHelp, type ParsedArgs, type Program } from '../src/cli/args.js';
import { UsageError, runCli } from '../src/cli/errors.js';
import { UserError } from '../src/errors.js';

const train = defineCommand({
  name: 'train',
  summary: 'Train SMPR on COCO keypoints.',
  flags: {
    data: { type: 'string', required: true, valueName: 'dir', description: 'COCO dataset directory' },
    epochs: { type: 'number', integer: true, min: 1, default: 100, description: 'number of epochs' },
    lr: { type: 'number', default: 0.02, description: 'base learning rate' },
    shift: { type: 'number', description: 'an optional offset' },
    backbone: { type: 'string', choices: ['r50', 'hrnet-w32'], default: 'r50', description: 'backbone network' },
    flip: { type: 'boolean', default: true, description: 'random horizontal flips' },
    verbose: { type: 'boolean', description: 'log every iteration' },
    out: { type: 'string', description: 'checkpoint path' },
  },
  positionals: [{ name: 'images', description: 'extra images', optional: true, variadic: true }],
  run: () => {},
});

const infer = defineCommand({
  name: 'infer',
  summary: 'Detect poses in images.',
  flags: {},
  positionals: [
    { name: 'weights', description: 'a .safetensors checkpoint' },
    { name: 'image', description: 'an image', variadic: true },
  ],
  run: () => {},
});

const parse = (argv: string[]) => parseArgs(train, argv);

/** The UsageError message for argv, checking that it is one and belongs to `train`. */
function usageError(argv: string[], command: typeof train | typeof infer = train): string {
  try {
    parseArgs(command, argv);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).command).toBe(command.name);
    return (error as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(argv)} to be rejected`);
}

describe('parseArgs', () => {
  it('min and max are inclusive: the bounds themselves are accepted, one step past is refused', () => {
    const bounded = defineCommand({
      name: 'bounded',
      summary: 'A command with a bounded flag.',
      flags: { workers: { type: 'number', integer: true, min: 0, max: 8, description: 'loader workers' } },
      run: () => {},
    });
    expect(parseArgs(bounded, ['--workers', '0']).flags.workers).toBe(0);
    expect(parseArgs(bounded, ['--workers', '8']).flags.workers).toBe(8);
    expect(() => parseArgs(bounded, ['--workers', '9'])).toThrow('--workers must be ≤ 8, got 9');
    expect(() => parseArgs(bounded, ['--workers', '-1'])).toThrow('--workers must be ≥ 0, got -1');
  });

  it('fills defaults and types the result from the spec', () => {
    const args = parse(['--data', 'coco']);
    expect(args).toEqual({
      flags: { data: 'coco', epochs: 100, lr: 0.02, shift: undefined, backbone: 'r50', flip: true, verbose: false, out: undefined },
      positionals: [],
    });
    expectTypeOf(args.flags.data).toEqualTypeOf<string>();
    expectTypeOf(args.flags.epochs).toEqualTypeOf<number>();
    expectTypeOf(args.flags.shift).toEqualTypeOf<number | undefined>();
    expectTypeOf(args.flags.backbone).toEqualTypeOf<'r50' | 'hrnet-w32'>();
    expectTypeOf(args.flags.verbose).toEqualTypeOf<boolean>();
    expectTypeOf(args.flags.out).toEqualTypeOf<string | undefined>();
    expectTypeOf(args).toEqualTypeOf<ParsedArgs<typeof train.flags>>();
  });

  it('takes values as `--flag value` and `--flag=value`, in any order among positionals', () => {
    const args = parse(['a.png', '--epochs', '12', 'b.png', '--lr=0.5', '--backbone=hrnet-w32', '--out=x=y.safetensors', '--data', 'coco', 'c.png']);
    expect(args.flags).toMatchObject({ epochs: 12, lr: 0.5, backbone: 'hrnet-w32', out: 'x=y.safetensors', data: 'coco' });
    expect(args.positionals).toEqual(['a.png', 'b.png', 'c.png']);
  });

  it('sets booleans with --flag, --no-flag and --flag=true|false', () => {
    expect(parse(['--data=d', '--verbose', '--no-flip']).flags).toMatchObject({ verbose: true, flip: false });
    expect(parse(['--data=d', '--verbose=false', '--flip=true']).flags).toMatchObject({ verbose: false, flip: true });
    // A boolean never swallows the next token.
    expect(parse(['--data=d', '--verbose', 'x.png']).positionals).toEqual(['x.png']);
    expect(usageError(['--data=d', '--flip=maybe'])).toBe("--flip expects true or false, got 'maybe'");
    expect(usageError(['--data=d', '--no-flip=true'])).toBe('--no-flip takes no value');
  });

  it('reads negative numbers as values, and treats `--` and `-` as the end of flags and a positional', () => {
    expect(parse(['--data=d', '--shift', '-0.5']).flags.shift).toBe(-0.5);
    expect(parse(['--data=d', '-', '--', '--epochs', '-x']).positionals).toEqual(['-', '--epochs', '-x']);
  });

  it('validates numbers', () => {
    expect(usageError(['--data=d', '--epochs', '1.5'])).toBe("--epochs expects an integer, got '1.5'");
    expect(usageError(['--data=d', '--epochs=0'])).toBe('--epochs must be ≥ 1, got 0');
    expect(parse(['--data=d', '--epochs=1']).flags.epochs).toBe(1); // min itself is allowed: the bound is ≥
    expect(usageError(['--data=d', '--lr', 'fast'])).toBe("--lr expects a number, got 'fast'");
    expect(usageError(['--data=d', '--lr='])).toBe("--lr expects a number, got ''");
    expect(usageError(['--data=d', '--lr', 'Infinity'])).toBe("--lr expects a number, got 'Infinity'");
    for (const notDecimal of ['0x10', '0b11', ' 2', '1e', '1.2.3']) expect(usageError(['--data=d', '--lr', notDecimal])).toBe(`--lr expects a number, got '${notDecimal}'`);
    expect(parse(['--data=d', '--lr', '-2.5e-3']).flags.lr).toBe(-0.0025);
    expect(parse(['--data=d', '--lr', '1e-3']).flags.lr).toBe(0.001);
  });

  it('checks choices and suggests the nearest', () => {
    expect(usageError(['--data=d', '--backbone', 'r5O'])).toBe("--backbone must be one of r50, hrnet-w32; got 'r5O' (did you mean r50?)");
    expect(usageError(['--data=d', '--backbone', 'vgg16'])).toBe("--backbone must be one of r50, hrnet-w32; got 'vgg16'");
  });

  it('rejects unknown flags, suggesting a near miss', () => {
    expect(usageError(['--data=d', '--epoch', '3'])).toBe('unknown flag --epoch (did you mean --epochs?)');
    expect(usageError(['--data=d', '--no-verbos'])).toBe('unknown flag --no-verbos (did you mean --no-verbose?)');
    expect(usageError(['--data=d', '-epochs', '3'])).toBe('unknown flag -epochs (did you mean --epochs?)');
    expect(usageError(['--data=d', '--no-lr'])).toBe('unknown flag --no-lr (--lr takes a value; only boolean flags have a --no- form)');
    expect(usageError(['--data=d', '--zzzzzz'])).toBe('unknown flag --zzzzzz');
    expect(usageError(['--data=d', '--constructor'])).toBe('unknown flag --constructor');
  });

  it('rejects a flag given twice, a missing value and a missing required flag', () => {
    expect(usageError(['--data=d', '--epochs=2', '--epochs', '3'])).toBe('--epochs is given twice');
    expect(usageError(['--data=d', '--verbose', '--no-verbose'])).toBe('--verbose is given twice');
    expect(usageError(['--data'])).toBe('--data needs a value');
    expect(usageError(['--data', '--verbose'])).toBe('--data needs a value');
    expect(usageError(['--epochs', '3'])).toBe('missing required flag --data');
  });

  it('counts positionals: required ones, a variadic tail, and no extras', () => {
    expect(parseArgs(infer, ['w.safetensors', 'a.png', 'b.png']).positionals).toEqual(['w.safetensors', 'a.png', 'b.png']);
    expect(usageError([], infer)).toBe('missing <weights>');
    expect(usageError(['w.safetensors'], infer)).toBe('missing <image...>');
    const noArgs = defineCommand({ name: 'demo', summary: 'A demo.', flags: {}, run: () => {} });
    expect(() => parseArgs(noArgs, ['x'])).toThrow("unexpected argument 'x' (takes no arguments)");
    const one = defineCommand({ name: 'eval', summary: 'Evaluate.', flags: {}, positionals: [{ name: 'weights', description: 'w' }], run: () => {} });
    expect(() => parseArgs(one, ['w', 'extra'])).toThrow("unexpected argument 'extra' (takes <weights>)");
  });
});

describe('defineCommand', () => {
  const bad = (flags: object, positionals?: object[]) => () => defineCommand({ name: 'x', summary: 's', flags: flags as never, positionals: positionals as never, run: () => {} });
  it('rejects inconsistent specs as bugs (plain Errors)', () => {
    expect(bad({ mode: { type: 'string', choices: ['a', 'b'], default: 'c', description: '' } })).toThrow("defineCommand 'x': the default of --mode must be one of a, b; got 'c'");
    expect(bad({ n: { type: 'number', integer: true, default: 0.5, description: '' } })).toThrow('the default of --n expects an integer');
    expect(bad({ n: { type: 'number', required: true, default: 1, description: '' } })).toThrow('--n is required and has a default');
    expect(bad({ Epochs: { type: 'number', description: '' } })).toThrow("bad flag name 'Epochs'");
    expect(bad({ help: { type: 'boolean', description: '' } })).toThrow("bad flag name 'help'");
    expect(bad({ 'no-cache': { type: 'boolean', description: '' } })).toThrow("boolean flag 'no-cache' clashes with the --no- negation");
    expect(bad({}, [{ name: 'a', description: '', variadic: true }, { name: 'b', description: '' }])).toThrow("only the last positional may be variadic ('a' is not last)");
    expect(bad({}, [{ name: 'a', description: '', optional: true }, { name: 'b', description: '' }])).toThrow("required positional 'b' follows an optional one");
  });
});

describe('help', () => {
  it('describes every flag and argument of a command', () => {
    expect(helpText('smpr', train)).toBe(
      [
        'Usage: smpr train [options] [images...]',
        '',
        'Train SMPR on COCO keypoints.',
        '',
        'Arguments:',
        '  [images...]  extra images',
        '',
        'Options:',
        '  --data <dir>                COCO dataset directory (required)',
        '  --epochs <n>                number of epochs (default: 100)',
        '  --lr <x>                    base learning rate (default: 0.02)',
        '  --shift <x>                 an optional offset',
        '  --backbone <r50|hrnet-w32>  backbone network (default: r50)',
        '  --flip, --no-flip           random horizontal flips (default: on)',
        '  --verbose, --no-verbose     log every iteration',
        '  --out <value>               checkpoint path',
        '  -h, --help                  show this help',
        '',
      ].join('\n'),
    );
  });

  it('lists the commands of the program', () => {
    expect(programHelp({ name: 'smpr', summary: 'Pose estimation.', commands: [train, infer] })).toBe(
      [
        'Usage: smpr <command> [options]',
        '',
        'Pose estimation.',
        '',
        'Commands:',
        '  train  Train SMPR on COCO keypoints.',
        '  infer  Detect poses in images.',
        '',
        "Run 'smpr <command> --help' for a command's options.",
        '',
      ].join('\n'),
    );
  });
});

describe('dispatch', () => {
  function program(ran: unknown[]): Program {
    return { name: 'smpr', summary: 'Pose estimation.', commands: [{ ...train, run: (args) => void ran.push(args) }, infer] };
  }

  it('runs the named command with its parsed arguments', async () => {
    const ran: unknown[] = [];
    await dispatch(program(ran), ['train', '--data', 'coco', '--epochs', '3']);
    expect(ran).toEqual([parse(['--data', 'coco', '--epochs', '3'])]);
  });

  it('prints help for --help, -h and `help`, even when other arguments are wrong, but not after --', async () => {
    const printed: string[] = [];
    const ran: unknown[] = [];
    for (const argv of [['--help'], ['help'], ['-h']]) await dispatch(program(ran), argv, (t) => printed.push(t));
    await dispatch(program(ran), ['train', '--epoch', '-h'], (t) => printed.push(t));
    expect(printed).toEqual([...Array(3).fill(programHelp(program([]))), helpText('smpr', train)]);
    await dispatch(program(ran), ['train', '--data=d', '--', '--help'], (t) => printed.push(t));
    expect(printed).toHaveLength(4);
    expect(ran).toEqual([parse(['--data=d', '--', '--help'])]);
  });

  it('prints the version for --version where the program has one, and refuses it as a command where not', async () => {
    const printed: string[] = [];
    await dispatch({ ...program([]), version: '1.2.3' }, ['--version'], (t) => printed.push(t));
    expect(printed).toEqual(['smpr 1.2.3\n']);
    await expect(dispatch(program([]), ['--version'])).rejects.toThrow("unknown command '--version'");
  });

  it('rejects a missing or unknown command', async () => {
    await expect(dispatch(program([]), [])).rejects.toThrow("missing command (one of: train, infer); see 'smpr --help'");
    await expect(dispatch(program([]), ['trian'])).rejects.toThrow("unknown command 'trian' (did you mean train?)");
    await expect(dispatch(program([]), ['serve'])).rejects.toThrow("unknown command 'serve' (one of: train, infer)");
  });
});

describe('runCli', () => {
  async function run(main: () => unknown): Promise<{ stderr: string; code: number | undefined }> {
    let stderr = '';
    let code: number | undefined;
    await runCli('smpr', main, { stderr: (t) => void (stderr += t), exit: (c) => void (code = c) });
    return { stderr, code };
  }

  it('prints a usage error as one line naming the command, and exits 2', async () => {
    const program: Program = { name: 'smpr', summary: '', commands: [train] };
    expect(await run(() => dispatch(program, ['train', '--data=d', '--epoch', '3']))).toEqual({
      stderr: 'smpr train: unknown flag --epoch (did you mean --epochs?)\n',
      code: 2,
    });
    expect(await run(() => dispatch(program, ['trian']))).toEqual({ stderr: "smpr: unknown command 'trian' (did you mean train?)\n", code: 2 });
  });

  it('prints a user error as one line and exits 2', async () => {
    expect(await run(() => Promise.reject(new UserError('cannot read coco/annotations.json: ENOENT')))).toEqual({
      stderr: 'smpr: cannot read coco/annotations.json: ENOENT\n',
      code: 2,
    });
  });

  it("prints the file system's refusal on a path as one line and exits 2", async () => {
    const { mkdtempSync, writeFileSync, mkdirSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const file = join(mkdtempSync(join(tmpdir(), 'smpr-fs-')), 'plain');
    writeFileSync(file, '');
    expect(await run(() => mkdirSync(join(file, 'sub')))).toEqual({
      stderr: `smpr: ${join(file, 'sub')}: a part of the path is not a folder (ENOTDIR, mkdir)\n`,
      code: 2,
    });
  });

  it('a file system error without a path (a write to a full disk) is one line too', async () => {
    const full = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', syscall: 'write', errno: -28 });
    expect(await run(() => Promise.reject(full))).toEqual({ stderr: 'smpr: no space left on the device (ENOSPC, write)\n', code: 2 });
  });

  it('prints anything else as a bug with its stack, and exits 1', async () => {
    const { stderr, code } = await run(() => {
      throw new TypeError('x is undefined');
    });
    expect(code).toBe(1);
    expect(stderr).toMatch(/^smpr: internal error \(a bug; please report it\):\nTypeError: x is undefined\n {4}at /);
    expect(await run(() => Promise.reject('a string'))).toEqual({ stderr: 'smpr: internal error (a bug; please report it):\na string\n', code: 1 });
  });

  it('exits 0 when main succeeds', async () => {
    expect(await run(async () => {})).toEqual({ stderr: '', code: 0 });
  });
});
