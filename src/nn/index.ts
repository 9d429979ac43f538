/** The layer library: the Module base, layers, initialisers, ResNet and the FPN/PAFPN neck. */
export { Buffer, Module, Parameter } from './module.js';
export type { Layer, LayerModule, LoadOptions, LoadResult, NamedParameter, ParamGroup, ParameterCount } from './module.js';
export { ModuleList, Sequential } from './container.js';
export { Conv2d, defaultConvInit } from './conv.js';
export type { Conv2dOptions, Pair } from './conv.js';
export { ConvModule } from './conv-module.js';
export type { ConvModuleOptions } from './conv-module.js';
export { DeformConv2d } from './deform-conv.js';
export type { DeformConv2dOptions } from './deform-conv.js';
export { FrozenBatchNorm2d, GroupNorm } from './norm.js';
export type { NormOptions } from './norm.js';
export { Scale } from './scale.js';
export * from './init.js';
export { ResNet } from './resnet.js';
export type { ResNetDepth, ResNetOptions, ResNetStyle } from './resnet.js';
export { Fpn } from './fpn.js';
export type { FpnOptions } from './fpn.js';
