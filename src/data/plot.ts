/**
 * Minimal charts as PNG files, drawn with draw.ts: line charts (loss curves) and bar charts (benchmark ratios).
 * No dependency beyond pngjs, so the CLI can report progress on any machine.
 */
import { drawLine, drawText, fillRect, hsv, textHeight, textWidth, type Point } from './draw.js';
import { createImage, type Image, type Rgb } from './image.js';
import { encodePng } from './png.js';

export interface Series {
  name: string;
  points: readonly (readonly [number, number])[];
}

export interface PlotOptions {
  width?: number;
  height?: number;
  title?: string;
  /** Logarithmic y axis; points with y ≤ 0 are left out. */
  logY?: boolean;
}

const WHITE: Rgb = [255, 255, 255];
const BLACK: Rgb = [0, 0, 0];
const GRID: Rgb = [225, 225, 225];

/** Colour of series i: evenly spaced hues, darkened to read on white. */
const seriesColor = (i: number, count: number): Rgb => hsv(i / Math.max(count, 1), 0.85, 0.8);

/** "Nice" tick positions covering [low, high]: steps of 1, 2 or 5 × 10^k, about `count` of them. */
export function niceTicks(low: number, high: number, count = 5): number[] {
  if (!(high > low)) return [low];
  const rough = (high - low) / count;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= rough)!;
  const ticks: number[] = [];
  for (let t = Math.ceil(low / step) * step; t <= high + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

/** A short tick label that the 3×5 font can draw: plain decimals, or 1E-4 style for very small or large values. */
export function formatTick(value: number): string {
  if (value === 0) return '0';
  const magnitude = Math.abs(value);
  if (magnitude >= 1e5 || magnitude < 1e-3) return value.toExponential(0).replace('e+', 'E').replace('e', 'E');
  return String(Number(value.toPrecision(4)));
}

/** The canvas of a chart and the rectangle inside it where data is drawn. */
interface Frame {
  image: Image;
  fontScale: number;
  left: number;
  top: number;
  right: number;
  bottom: number;
}

/** A white canvas with a title, and the frame left for the plot: margins fit the tick labels. */
function makeFrame(width: number, height: number, title: string | undefined, yLabelWidth: number): Frame {
  const image = createImage(width, height, WHITE);
  const fontScale = Math.min(width, height) >= 400 ? 2 : 1;
  const line = textHeight(fontScale) + 4 * fontScale;
  if (title) drawText(image, title, Math.round((width - textWidth(title, fontScale)) / 2), 2 * fontScale, BLACK, fontScale);
  return {
    image,
    fontScale,
    left: yLabelWidth * fontScale + 8 * fontScale,
    top: title ? line + 4 * fontScale : 4 * fontScale,
    right: width - 8 * fontScale,
    bottom: height - line - 4 * fontScale,
  };
}

/** Horizontal grid lines and labels at the given y ticks (positions in pixels), then the axes. */
function drawYAxis(frame: Frame, ticks: readonly { y: number; label: string }[]): void {
  const { image, fontScale: s } = frame;
  for (const { y, label } of ticks) {
    fillRect(image, frame.left, y, frame.right - frame.left, 1, GRID);
    fillRect(image, frame.left - 3 * s, y, 3 * s, 1, BLACK);
    drawText(image, label, frame.left - 5 * s - textWidth(label, s), y - Math.floor(textHeight(s) / 2), BLACK, s);
  }
  fillRect(image, frame.left, frame.top, 1, frame.bottom - frame.top + 1, BLACK);
  fillRect(image, frame.left, frame.bottom, frame.right - frame.left + 1, 1, BLACK);
}

/** A line chart of the series with axes, ticks and a legend in the top-right corner; returns PNG bytes. */
export function plotLines(series: readonly Series[], options: PlotOptions = {}): Buffer {
  const logY = options.logY ?? false;
  const toY = (y: number) => (logY ? Math.log10(y) : y);
  const usable = series.map((s) => s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!logY || y > 0)));
  const all = usable.flat();
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => toY(y));
  let [xLow, xHigh] = all.length ? [Math.min(...xs), Math.max(...xs)] : [0, 1];
  let [yLow, yHigh] = all.length ? [Math.min(...ys), Math.max(...ys)] : [0, 1];
  if (xHigh === xLow) [xLow, xHigh] = [xLow - 1, xHigh + 1];
  if (yHigh === yLow) [yLow, yHigh] = [yLow - 1, yHigh + 1];
  if (logY) [yLow, yHigh] = [Math.floor(yLow), Math.ceil(yHigh)]; // whole decades
  else [yLow, yHigh] = [yLow - (yHigh - yLow) * 0.05, yHigh + (yHigh - yLow) * 0.05];

  const yTicks = logY
    ? Array.from({ length: yHigh - yLow + 1 }, (_, i) => ({ value: yLow + i, label: formatTick(10 ** (yLow + i)) }))
    : niceTicks(yLow, yHigh).map((value) => ({ value, label: formatTick(value) }));
  const frame = makeFrame(options.width ?? 640, options.height ?? 400, options.title, Math.max(...yTicks.map((t) => t.label.length)) * 4);
  const { image, fontScale: s } = frame;
  const px = (x: number) => frame.left + ((x - xLow) / (xHigh - xLow)) * (frame.right - frame.left);
  const py = (y: number) => frame.bottom - ((y - yLow) / (yHigh - yLow)) * (frame.bottom - frame.top);

  drawYAxis(frame, yTicks.map((t) => ({ y: Math.round(py(t.value)), label: t.label })));
  for (const x of niceTicks(xLow, xHigh)) {
    const label = formatTick(x);
    fillRect(image, Math.round(px(x)), frame.bottom, 1, 3 * s, BLACK);
    drawText(image, label, Math.round(px(x) - textWidth(label, s) / 2), frame.bottom + 5 * s, BLACK, s);
  }
  usable.forEach((points, i) => {
    const color = seriesColor(i, series.length);
    const pixels = points.map(([x, y]): Point => [px(x), py(toY(y))]);
    pixels.slice(1).forEach((point, j) => drawLine(image, pixels[j]!, point, color, 1.5 * s));
  });
  drawLegend(frame, series.map((entry, i) => ({ name: entry.name, color: seriesColor(i, series.length) })));
  return encodePng(image);
}

function drawLegend(frame: Frame, entries: readonly { name: string; color: Rgb }[]): void {
  if (entries.length === 0) return;
  const { image, fontScale: s } = frame;
  const line = textHeight(s) + 3 * s;
  const swatch = 8 * s;
  const width = swatch + 4 * s + Math.max(...entries.map((e) => textWidth(e.name, s))) + 6 * s;
  const left = frame.right - width - 4 * s;
  const top = frame.top + 4 * s;
  fillRect(image, left, top, width, entries.length * line + 4 * s, BLACK);
  fillRect(image, left + 1, top + 1, width - 2, entries.length * line + 4 * s - 2, WHITE);
  entries.forEach(({ name, color }, i) => {
    const y = top + 3 * s + i * line;
    fillRect(image, left + 3 * s, y + Math.floor(textHeight(s) / 2) - s, swatch, 2 * s, color);
    drawText(image, name, left + 3 * s + swatch + 4 * s, y, BLACK, s);
  });
}

export interface BarOptions {
  width?: number;
  height?: number;
  title?: string;
  /** A dashed horizontal line at this value, e.g. 1 for ratios. */
  reference?: number;
}

/** A bar chart, one labelled bar per value with the value printed on top; returns PNG bytes. */
export function plotBars(labels: readonly string[], values: readonly number[], options: BarOptions = {}): Buffer {
  if (labels.length !== values.length) throw new Error(`plotBars: ${labels.length} labels for ${values.length} values`);
  const finite = values.filter(Number.isFinite);
  const high = Math.max(0, ...finite, options.reference ?? 0) * 1.15 || 1;
  const low = Math.min(0, ...finite);
  const yTicks = niceTicks(low, high);
  const frame = makeFrame(options.width ?? 640, options.height ?? 400, options.title, Math.max(...yTicks.map((t) => formatTick(t).length)) * 4);
  const { image, fontScale: s } = frame;
  const py = (y: number) => frame.bottom - ((y - low) / (high - low)) * (frame.bottom - frame.top);
  drawYAxis(frame, yTicks.map((t) => ({ y: Math.round(py(t)), label: formatTick(t) })));

  const slot = (frame.right - frame.left) / Math.max(values.length, 1);
  const barWidth = Math.max(1, Math.round(slot * 0.7));
  values.forEach((value, i) => {
    const centre = frame.left + slot * (i + 0.5);
    const top = Math.min(py(value), py(0));
    if (Number.isFinite(value)) fillRect(image, centre - barWidth / 2, top, barWidth, Math.abs(py(value) - py(0)), seriesColor(0, 1));
    const valueLabel = Number.isFinite(value) ? formatTick(Number(value.toPrecision(3))) : String(value);
    drawText(image, valueLabel, Math.round(centre - textWidth(valueLabel, s) / 2), Math.round(top - textHeight(s) - 2 * s), BLACK, s);
    // Labels are cut to the slot width: the 3×5 font cannot rotate.
    const maxChars = Math.max(1, Math.floor(slot / (4 * s)));
    const label = labels[i]!.slice(0, maxChars);
    drawText(image, label, Math.round(centre - textWidth(label, s) / 2), frame.bottom + 5 * s, BLACK, s);
  });
  if (options.reference !== undefined) {
    const y = Math.round(py(options.reference));
    for (let x = frame.left; x < frame.right; x += 6 * s) fillRect(image, x, y, 3 * s, s, [200, 0, 0]);
  }
  return encodePng(image);
}
