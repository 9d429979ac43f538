/**
 * The window of a 2-D convolution, plain or deformable: batch and channel counts, input and output sizes, the
 * kernel, and stride, padding and dilation per axis. The ops work it out and check it (`conv2dGeometry`, the
 * deformable conv's `geometry`); the kernels only read it.
 */
export interface ConvGeometry {
  batch: number;
  inChannels: number;
  height: number;
  width: number;
  outChannels: number;
  kernelH: number;
  kernelW: number;
  outH: number;
  outW: number;
  strideH: number;
  strideW: number;
  padH: number;
  padW: number;
  dilationH: number;
  dilationW: number;
  /** Grouped convolution as in torch: weight is [Cout, Cin / groups, KH, KW]. */
  groups: number;
}
