// Every chart is an image with a label that says what it shows, and a button that shows
// the same numbers as a table.
import type { ComponentChildren } from "preact";
import { useId, useState } from "preact/hooks";

export interface ChartTable {
  columns: string[];
  rows: (string | number)[][];
}

export interface LegendItem {
  label: string;
  color: string;
  kind?: "line" | "band" | "dashed" | "point";
}

export function ChartFrame({
  title,
  summary,
  table,
  legend,
  children,
  headingLevel = 3,
}: {
  title: string;
  /** What the chart shows, in words: its accessible name. */
  summary: string;
  table: ChartTable;
  legend?: LegendItem[];
  children: ComponentChildren;
  headingLevel?: 2 | 3;
}) {
  const [asTable, setAsTable] = useState(false);
  const id = useId();
  const Heading = headingLevel === 2 ? "h2" : "h3";
  return (
    <figure class="chart" style={{ margin: 0 }}>
      <div class="chart-head">
        <Heading id={`${id}-title`}>{title}</Heading>
        <button
          type="button"
          class="small subtle"
          aria-pressed={asTable}
          aria-describedby={`${id}-title`}
          onClick={() => setAsTable(!asTable)}
        >
          {asTable ? "Show as chart" : "Show as table"}
        </button>
      </div>
      {asTable ? (
        // It scrolls when long or wide: focusable, so a keyboard alone can scroll it.
        <div class="chart-table table-wrap" tabIndex={0} role="region" aria-label={`${title}, as a table`}>
          <table>
            <caption class="visually-hidden">{title}</caption>
            <thead>
              <tr>
                {table.columns.map((c) => (
                  <th key={c} scope="col">
                    {c}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {table.rows.map((row, i) => (
                <tr key={i}>
                  {row.map((cell, j) =>
                    j === 0 ? (
                      <th key={j} scope="row" style={{ fontWeight: 500 }}>
                        {cell}
                      </th>
                    ) : (
                      <td key={j} class="num">
                        {cell}
                      </td>
                    ),
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : (
        <>
          <div class="chart-body" role="img" aria-label={summary}>
            {children}
          </div>
          {legend && legend.length > 0 ? (
            <div class="chart-legend" aria-hidden="true">
              {legend.map((item) => (
                <span key={item.label}>
                  <span
                    class={`swatch ${item.kind === "band" ? "band" : ""} ${item.kind === "dashed" ? "dashed" : ""} ${item.kind === "point" ? "point" : ""}`}
                    style={{ background: item.color, color: item.color }}
                  />
                  {item.label}
                </span>
              ))}
            </div>
          ) : null}
        </>
      )}
    </figure>
  );
}
