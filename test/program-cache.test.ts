// The program cache (src/backend/program-cache.ts): a builder runs once per key and device, and the cache is
// bounded, least recently used out first.
import { expect, test } from 'vitest';
import * as T from '../src/index.js';
import { cachedProgram, MAX_PROGRAMS, SPECIALISE_AFTER, specialisedProgram } from '../src/backend/program-cache.js';
import type { DeviceInfo, Program } from '../src/kernels/program.js';
import { dispatchedKernels } from './util.js';

const device = (): DeviceInfo => ({ cpu: true, subgroups: false, lanes: 0, limits: { maxStorageBufferBindingSize: 1, maxStorageBuffersPerShaderStage: 1, maxComputeWorkgroupStorageSize: 1, maxComputeInvocationsPerWorkgroup: 1 } });
const program = (label: string): Program => ({ label, code: `// ${label}`, workgroups: [1] });

test('a key is built once per device; the least recently used key goes first when the cache is full', () => {
  const d = device();
  const built: string[] = [];
  const get = (key: string, on = d) => cachedProgram(on, key, () => (built.push(key), program(key)));
  const first = get('a');
  expect(get('a')).toBe(first);
  expect(built).toEqual(['a']);
  get('a', device()); // another device has a cache of its own
  expect(built).toEqual(['a', 'a']);

  for (let i = 0; i < MAX_PROGRAMS - 1; i++) get(`k${i}`);
  get('a'); // 'a' is now the most recently used; k0 the least
  get('one more');
  built.length = 0;
  get('a');
  get('k1');
  expect(built).toEqual([]);
  get('k0');
  expect(built).toEqual(['k0']);
});

test('a key gets its general program for its first SPECIALISE_AFTER − 1 uses and its specialised one from then on, each built once', () => {
  const d = device();
  const built: string[] = [];
  const get = (key: string) => specialisedProgram(d, key, () => (built.push(`${key} general`), program(`${key} general`)), () => (built.push(`${key} specialised`), program(`${key} specialised`))).label;
  const labels = Array.from({ length: SPECIALISE_AFTER + 2 }, () => get('pool'));
  expect(labels).toEqual([...Array(SPECIALISE_AFTER - 1).fill('pool general'), ...Array(3).fill('pool specialised')]);
  expect(get('another')).toBe('another general'); // counted per key
  expect(built).toEqual(['pool general', 'pool specialised', 'another general']);
});

test('ops hand the runtime the same program for the same arguments, and the same results', async () => {
  const x = T.randn([2, 3, 8, 8], { device: 'webgpu' });
  const w = T.randn([4, 3, 3, 3], { device: 'webgpu' });
  const { kernels, result: [a, b] } = dispatchedKernels(() => [0, 1].map(() => T.conv2d(x, w, null, { padding: 1 })));
  expect(kernels).toHaveLength(2);
  expect(kernels[1]!.code).toBe(kernels[0]!.code);
  expect(Array.from(await b!.toArray())).toEqual(Array.from(await a!.toArray()));
  T.dispose([x, w, a!, b!]);
});
