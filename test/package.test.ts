// The package as a consumer gets it: `npm pack`, installed into an empty project, imported by name.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';

test('npm pack → npm install → import { conv2d, groupNorm, … } from "smpr-webgpu" works in a fresh project', () => {
  const work = mkdtempSync(join(tmpdir(), 'smpr-pack-'));
  const npm = (args: string[], cwd: string) => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  npm(['pack', '--pack-destination', work, '--silent'], process.cwd());
  const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
  expect(tarball, 'npm pack wrote no tarball').toBeDefined();
  const consumer = join(work, 'consumer');
  execFileSync('mkdir', [consumer]);
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', type: 'module', private: true }));
  npm(['install', '--prefer-offline', '--no-audit', '--no-fund', '--silent', join(work, tarball!)], consumer);
  const script = `
    import { conv2d, deformConv2d, groupNorm, sigmoidFocalLoss, maxPool2d, cocoKeypointEval, SmprModel, smprConfig, tensor, nn } from 'smpr-webgpu';
    const y = conv2d(tensor([1, 2, 3, 4], [1, 1, 2, 2]), tensor([1], [1, 1, 1, 1]));
    const model = new SmprModel(smprConfig('tiny'), { device: 'cpu' });
    console.log(JSON.stringify({
      fns: [conv2d, deformConv2d, groupNorm, sigmoidFocalLoss, maxPool2d, cocoKeypointEval].map((f) => typeof f),
      y: Array.from(y.toArraySync()), params: model.trainableParameters().length, conv: typeof nn.Conv2d,
    }));`;
  const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: consumer, encoding: 'utf8' }));
  expect(out.fns).toEqual(Array(6).fill('function'));
  expect(out.y).toEqual([1, 2, 3, 4]);
  expect(out.params).toBe(93);
  expect(out.conv).toBe('function');
}, 300_000);

test('scripts/setup-vulkan.sh prints its usage for --help and refuses an unknown argument with code 2, checking nothing', () => {
  const run = (arg: string) => spawnSync('bash', ['scripts/setup-vulkan.sh', arg], { encoding: 'utf8' });
  const help = run('--help');
  expect([help.status, help.stdout]).toEqual([0, expect.stringMatching(/^usage: bash scripts\/setup-vulkan\.sh \[--auto\]/)]);
  const bad = run('--atuo');
  expect([bad.status, bad.stdout, bad.stderr.trim().split('\n')]).toEqual([2, '', [expect.stringMatching(/^setup-vulkan: unknown argument '--atuo'; usage: /)]]);
});
