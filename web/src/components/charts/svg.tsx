// Plain SVG charts for bars, intervals, calibration and response curves.
import { useEffect, useRef, useState } from "preact/hooks";

import { compact, pct } from "../../lib/format";

/** Round tick values covering [min, max]. */
export function ticks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [];
  if (min === max) return [min];
  const span = max - min;
  const step0 = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => span / s <= count) ?? step0;
  const first = Math.ceil(min / step) * step;
  const out: number[] = [];
  for (let v = first; v <= max + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

function scale(domain: [number, number], range: [number, number]) {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  const k = d1 === d0 ? 0 : (r1 - r0) / (d1 - d0);
  return (v: number) => r0 + (v - d0) * k;
}

/** The width of the element, following resizes. */
function useWidth(initial = 640): [preact.RefObject<HTMLDivElement>, number] {
  const ref = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(initial);
  useEffect(() => {
    const element = ref.current;
    if (!element) return;
    setWidth(element.clientWidth || initial);
    const observer = new ResizeObserver(() => setWidth(element.clientWidth || initial));
    observer.observe(element);
    return () => observer.disconnect();
  }, [initial]);
  return [ref, width];
}

// ---- grouped horizontal bars -----------------------------------------------------------

export interface BarSeries {
  label: string;
  color: string;
  values: (number | null)[];
}

export function BarChart({
  categories,
  series,
  format = compact,
}: {
  categories: string[];
  series: BarSeries[];
  format?: (v: number) => string;
}) {
  const [ref, width] = useWidth();
  const labelWidth = Math.min(190, Math.max(110, width * 0.24));
  const barHeight = 12;
  const gap = 3;
  const groupHeight = series.length * (barHeight + gap) + 12;
  const height = categories.length * groupHeight + 26;
  const all = series.flatMap((s) => s.values).filter((v): v is number => v !== null);
  const max = Math.max(1, ...all);
  const x = scale([0, max * 1.1], [labelWidth, width - 70]);
  return (
    <div ref={ref}>
      <svg width={width} height={height} aria-hidden="true">
        {ticks(0, max * 1.1, 5).map((t) => (
          <g key={t}>
            <line x1={x(t)} x2={x(t)} y1={0} y2={height - 20} stroke="#edf0f4" />
            <text x={x(t)} y={height - 6} text-anchor="middle">
              {format(t)}
            </text>
          </g>
        ))}
        {categories.map((category, i) => {
          const top = i * groupHeight + 4;
          return (
            <g key={category}>
              <text x={labelWidth - 8} y={top + groupHeight / 2} text-anchor="end" dominant-baseline="middle">
                {category.length > 26 ? `${category.slice(0, 25)}…` : category}
              </text>
              {series.map((s, j) => {
                const v = s.values[i];
                if (v === null || v === undefined) return null;
                const y = top + j * (barHeight + gap);
                return (
                  <g key={s.label}>
                    <rect x={x(0)} y={y} width={Math.max(1, x(v) - x(0))} height={barHeight} fill={s.color} rx={2} />
                    <text x={x(v) + 5} y={y + barHeight / 2} dominant-baseline="middle">
                      {format(v)}
                    </text>
                  </g>
                );
              })}
            </g>
          );
        })}
        <line x1={x(0)} x2={x(0)} y1={0} y2={height - 20} stroke="#8d97a6" />
      </svg>
    </div>
  );
}

// ---- intervals on a shared zero axis ----------------------------------------------------

export interface IntervalRow {
  label: string;
  estimate: number | null;
  low: number | null;
  high: number | null;
  note?: string;
  tone?: "good" | "bad" | "neutral";
}

const TONE_COLOR = { good: "#11693a", bad: "#a1161c", neutral: "#1f4fd1" };

export function IntervalChart({
  rows,
  format = (v: number) => pct(v, 0),
}: {
  rows: IntervalRow[];
  format?: (v: number) => string;
}) {
  const [ref, width] = useWidth();
  const labelWidth = Math.min(170, Math.max(100, width * 0.22));
  const rowHeight = 34;
  const height = rows.length * rowHeight + 34;
  const values = rows.flatMap((r) => [r.low, r.high, r.estimate]).filter((v): v is number => v !== null);
  const extent = Math.max(0.01, ...values.map(Math.abs)) * 1.15;
  const x = scale([-extent, extent], [labelWidth, width - 16]);
  return (
    <div ref={ref}>
      <svg width={width} height={height} aria-hidden="true">
        {ticks(-extent, extent, 6).map((t) => (
          <g key={t}>
            <line x1={x(t)} x2={x(t)} y1={4} y2={height - 22} stroke="#edf0f4" />
            <text x={x(t)} y={height - 6} text-anchor="middle">
              {format(t)}
            </text>
          </g>
        ))}
        <line x1={x(0)} x2={x(0)} y1={0} y2={height - 22} stroke="#556070" stroke-width={1.5} />
        <text x={x(0) + 4} y={12} style={{ fontWeight: 600 }}>
          no difference
        </text>
        {rows.map((row, i) => {
          const y = 22 + i * rowHeight + rowHeight / 2;
          const color = TONE_COLOR[row.tone ?? "neutral"];
          return (
            <g key={row.label}>
              <text x={labelWidth - 10} y={y} text-anchor="end" dominant-baseline="middle">
                {row.label.length > 22 ? `${row.label.slice(0, 21)}…` : row.label}
              </text>
              {row.low !== null && row.high !== null ? (
                <>
                  <line x1={x(row.low)} x2={x(row.high)} y1={y} y2={y} stroke={color} stroke-width={6} stroke-linecap="round" opacity={0.35} />
                  <line x1={x(row.low)} x2={x(row.low)} y1={y - 7} y2={y + 7} stroke={color} stroke-width={2} />
                  <line x1={x(row.high)} x2={x(row.high)} y1={y - 7} y2={y + 7} stroke={color} stroke-width={2} />
                </>
              ) : null}
              {row.estimate !== null ? (
                <circle cx={x(row.estimate)} cy={y} r={5.5} fill={color} stroke="#fff" stroke-width={1.5} />
              ) : (
                <text x={x(0) + 8} y={y} dominant-baseline="middle">
                  {row.note ?? "baseline"}
                </text>
              )}
            </g>
          );
        })}
      </svg>
    </div>
  );
}

// ---- calibration (reliability) ------------------------------------------------------------

export interface ReliabilityBin {
  low: number;
  high: number;
  count: number;
  accuracy: number | null;
  meanConfidence: number | null;
}

export function ReliabilityChart({ bins }: { bins: ReliabilityBin[] }) {
  const [ref, width0] = useWidth(380);
  const size = Math.min(width0, 380);
  const pad = { left: 46, right: 24, top: 12, bottom: 40 };
  const inner = size - pad.left - pad.right;
  const height = inner + pad.top + pad.bottom;
  const x = scale([0, 1], [pad.left, pad.left + inner]);
  const y = scale([0, 1], [pad.top + inner, pad.top]);
  const maxCount = Math.max(1, ...bins.map((b) => b.count));
  return (
    <div ref={ref}>
      <svg width={size} height={height} aria-hidden="true">
        {[0, 0.2, 0.4, 0.6, 0.8, 1].map((t) => (
          <g key={t}>
            <line x1={x(0)} x2={x(1)} y1={y(t)} y2={y(t)} stroke="#edf0f4" />
            <text x={pad.left - 6} y={y(t)} text-anchor="end" dominant-baseline="middle">
              {pct(t, 0)}
            </text>
            <text x={x(t)} y={pad.top + inner + 16} text-anchor="middle">
              {pct(t, 0)}
            </text>
          </g>
        ))}
        {bins.map((bin) =>
          bin.accuracy === null || bin.count === 0 ? null : (
            <rect
              key={bin.low}
              x={x(bin.low) + 2}
              width={Math.max(1, x(bin.high) - x(bin.low) - 4)}
              y={y(bin.accuracy)}
              height={y(0) - y(bin.accuracy)}
              fill="#1f4fd1"
              opacity={0.25 + 0.55 * (bin.count / maxCount)}
            />
          ),
        )}
        <line x1={x(0)} y1={y(0)} x2={x(1)} y2={y(1)} stroke="#556070" stroke-dasharray="5 4" />
        {bins.map((bin) =>
          bin.accuracy === null || bin.meanConfidence === null || bin.count === 0 ? null : (
            <circle
              key={`p${bin.low}`}
              cx={x(bin.meanConfidence)}
              cy={y(bin.accuracy)}
              r={4 + 5 * Math.sqrt(bin.count / maxCount)}
              fill="#163c9e"
              stroke="#fff"
            />
          ),
        )}
        <text x={pad.left + inner / 2} y={height - 4} text-anchor="middle">
          Confidence stated
        </text>
        <text transform={`translate(11 ${pad.top + inner / 2}) rotate(-90)`} text-anchor="middle">
          Share right
        </text>
      </svg>
    </div>
  );
}

// ---- response curve --------------------------------------------------------------------

export interface CurvePoint {
  spend: number;
  predicted: number;
  low: number;
  high: number;
}

export interface Marker {
  spend: number;
  label: string;
  color: string;
}

export function CurveChart({
  line,
  observed,
  markers,
}: {
  line: CurvePoint[];
  observed: { spend: number; value: number }[];
  markers: Marker[];
}) {
  const [ref, width] = useWidth();
  const height = 280;
  const pad = { left: 60, right: 20, top: 26, bottom: 36 };
  const maxX = Math.max(1, ...line.map((p) => p.spend), ...observed.map((p) => p.spend), ...markers.map((m) => m.spend));
  const maxY = Math.max(1, ...line.map((p) => p.high), ...observed.map((p) => p.value));
  const x = scale([0, maxX * 1.02], [pad.left, width - pad.right]);
  const y = scale([0, maxY * 1.08], [height - pad.bottom, pad.top]);
  const path = line.map((p, i) => `${i === 0 ? "M" : "L"}${x(p.spend)},${y(p.predicted)}`).join(" ");
  const band =
    line.map((p, i) => `${i === 0 ? "M" : "L"}${x(p.spend)},${y(p.high)}`).join(" ") +
    " " +
    [...line].reverse().map((p) => `L${x(p.spend)},${y(p.low)}`).join(" ") +
    " Z";
  return (
    <div ref={ref}>
      <svg width={width} height={height} aria-hidden="true">
        {ticks(0, maxY * 1.08, 5).map((t) => (
          <g key={`y${t}`}>
            <line x1={pad.left} x2={width - pad.right} y1={y(t)} y2={y(t)} stroke="#edf0f4" />
            <text x={pad.left - 6} y={y(t)} text-anchor="end" dominant-baseline="middle">
              {compact(t)}
            </text>
          </g>
        ))}
        {ticks(0, maxX * 1.02, 6).map((t) => (
          <text key={`x${t}`} x={x(t)} y={height - pad.bottom + 16} text-anchor="middle">
            {compact(t)}
          </text>
        ))}
        <path d={band} fill="rgba(31, 79, 209, 0.14)" />
        <path d={path} fill="none" stroke="#1f4fd1" stroke-width={2.2} />
        {observed.map((p, i) => (
          <circle key={i} cx={x(p.spend)} cy={y(p.value)} r={3.5} fill="#374151" opacity={0.75} />
        ))}
        {markers.map((m, i) => (
          <g key={m.label}>
            <line x1={x(m.spend)} x2={x(m.spend)} y1={pad.top - 4} y2={height - pad.bottom} stroke={m.color} stroke-width={2} stroke-dasharray={i === 0 ? undefined : "6 4"} />
            <text
              x={x(m.spend) + (x(m.spend) > width * 0.75 ? -5 : 5)}
              y={pad.top - 10 + i * 13}
              text-anchor={x(m.spend) > width * 0.75 ? "end" : "start"}
              style={{ fontWeight: 600, fill: m.color }}
            >
              {m.label}
            </text>
          </g>
        ))}
        <text x={(pad.left + width - pad.right) / 2} y={height - 4} text-anchor="middle">
          Daily spend
        </text>
      </svg>
    </div>
  );
}
