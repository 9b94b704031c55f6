// Time series drawn by uPlot: lines, an optional interval band, points for actuals.
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

import { compact } from "../../lib/format";

export interface Line {
  label: string;
  values: (number | null)[];
  color: string;
  width?: number;
  dash?: number[];
  /** Draw points only (actuals over a forecast). */
  points?: boolean;
  /** Draw the line with a dot at each value (a value between two gaps still shows). */
  dots?: boolean;
  /** Part of a band: drawn invisibly, filled between by `band`. */
  hidden?: boolean;
  scale?: string;
}

export interface TimeChartProps {
  /** x values: seconds since the epoch, or plain numbers with `time={false}`. */
  x: number[];
  lines: Line[];
  /** Fill between two lines, given by their index in `lines`. */
  band?: { upper: number; lower: number; color: string };
  height?: number;
  time?: boolean;
  /** A bare line with no axes, for key figures. */
  spark?: boolean;
  yFormat?: (value: number) => string;
  xFormat?: (value: number) => string;
  /** Put y = 0 in view. */
  zero?: boolean;
  /** A fixed y range (shares: [0, 1]), so charts of the same measure compare. */
  yRange?: [number, number];
}

function fade(color: string, alpha: number): string {
  const hex = color.replace("#", "");
  if (hex.length !== 6) return color;
  const r = parseInt(hex.slice(0, 2), 16);
  const g = parseInt(hex.slice(2, 4), 16);
  const b = parseInt(hex.slice(4, 6), 16);
  return `rgba(${r}, ${g}, ${b}, ${alpha})`;
}

export function TimeChart(props: TimeChartProps) {
  const { x, lines, band, height = 220, time = true, spark = false } = props;
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const element = box.current;
    if (!element) return;
    const width = Math.max(element.clientWidth, 120);
    const yFormat = props.yFormat ?? compact;
    const axisStyle = {
      stroke: "#4b5563",
      grid: { stroke: "#edf0f4", width: 1 },
      ticks: { stroke: "#d5dae3", width: 1 },
      font: '11px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
    };
    const options: uPlot.Options = {
      width,
      height,
      legend: { show: false },
      // Platform time runs in UTC; axes say so rather than shifting to the viewer's zone.
      tzDate: (ts: number) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
      cursor: spark ? { show: false } : { drag: { x: false, y: false }, points: { size: 6 } },
      select: { show: false, left: 0, top: 0, width: 0, height: 0 },
      padding: spark ? [4, 2, 4, 2] : [10, 26, 0, 4],
      scales: {
        x: { time },
        y: props.yRange
          ? { range: [props.yRange[0], props.yRange[1]] }
          : props.zero
            ? { range: (_u, min, max) => [Math.min(0, min), Math.max(0, max) * 1.05 || 1] }
            : {},
      },
      axes: spark
        ? [{ show: false }, { show: false }]
        : [
            {
              ...axisStyle,
              ...(props.xFormat
                ? { values: (_u: uPlot, splits: number[]) => splits.map((v) => props.xFormat!(v)) }
                : {}),
            },
            {
              ...axisStyle,
              size: 56,
              values: (_u: uPlot, splits: number[]) => splits.map((v) => yFormat(v)),
            },
          ],
      series: [
        {},
        ...lines.map(
          (line): uPlot.Series => ({
            label: line.label,
            stroke: line.hidden ? "transparent" : line.color,
            width: line.hidden ? 0 : (line.width ?? (spark ? 1.6 : 2)),
            ...(line.dash ? { dash: line.dash } : {}),
            ...(line.points
              ? {
                  paths: () => null,
                  points: { show: true, size: 7, fill: line.color, stroke: "#ffffff", width: 1 },
                }
              : line.dots
                ? { points: { show: true, size: 5, fill: line.color, stroke: line.color, width: 1 } }
                : { points: { show: false } }),
            spanGaps: false,
          }),
        ),
      ],
      ...(band
        ? {
            bands: [
              {
                series: [band.upper + 1, band.lower + 1] as [number, number],
                fill: fade(band.color, 0.18),
              },
            ],
          }
        : {}),
    };
    const data: uPlot.AlignedData = [x, ...lines.map((l) => l.values)];
    plot.current = new uPlot(options, data, element);
    const observer = new ResizeObserver(() => {
      const w = element.clientWidth;
      if (plot.current && w > 0 && Math.abs(w - plot.current.width) > 2) {
        plot.current.setSize({ width: w, height });
      }
    });
    observer.observe(element);
    return () => {
      observer.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
    // A new chart when the shape changes; the data alone is set below.
  }, [lines.length, height, time, spark, band?.upper, band?.lower, props.zero, props.yRange?.[0], props.yRange?.[1]]);

  useEffect(() => {
    plot.current?.setData([x, ...lines.map((l) => l.values)]);
  }, [x, lines]);

  return <div ref={box} class={spark ? "spark" : undefined} style={{ width: "100%" }} />;
}
