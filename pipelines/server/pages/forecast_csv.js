// Reading an uploaded CSV into the rows the forecasting export's `forecast_rows` signature
// takes: the run's feature columns in `feature_names` order (numeric columns, one-hot
// `<column>=<category>` columns, `day_*`/`year_*` calendar features), newest row last.
// Missing values follow the run's `data.missing` policy as training applied it on a regular
// grid (interpolate: linear inside, nearest value at the edges; ffill: the previous value,
// leading incomplete rows dropped; drop: incomplete rows dropped), with `data.max_fill_gap`.
// What the page cannot do the way training did, it refuses in one line naming the line and
// column: times it cannot read, gaps in the time index (training fills them on the grid).
"use strict";

const ForecastCsv = {
  MISSING: new Set(["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "#N/A", "-NaN"]),
  SECONDS_PER_DAY: 86400,
  DAYS_PER_YEAR: 365.2425,

  // One CSV line → cells (double quotes may wrap a cell; "" inside is a quote).
  cells(line) {
    const out = [];
    let cell = "", quoted = false;
    for (let i = 0; i < line.length; i++) {
      const c = line[i];
      if (quoted) {
        if (c === '"' && line[i + 1] === '"') { cell += '"'; i++; }
        else if (c === '"') quoted = false;
        else cell += c;
      } else if (c === '"') quoted = true;
      else if (c === ",") { out.push(cell); cell = ""; }
      else cell += c;
    }
    out.push(cell);
    return out.map((v) => v.trim());
  },

  // An ISO 8601 time without a zone is read as UTC (as pandas reads it: naive times).
  parseIso(text) {
    const zoned = /(Z|[+-]\d\d:?\d\d)$/.test(text);
    return Date.parse(zoned ? text : text.replace(" ", "T") + "Z");
  },

  calendar(ms, kind) {
    const date = new Date(ms);
    if (kind === "day") {
      const midnight = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate());
      return (ms - midnight) / 1000 / this.SECONDS_PER_DAY;
    }
    const newYear = Date.UTC(date.getUTCFullYear(), 0, 1);
    return (ms - newYear) / 1000 / this.SECONDS_PER_DAY / this.DAYS_PER_YEAR;
  },

  // text → {times: ISO strings, rows: [n][features]} of the newest `rowsNeeded` rows.
  read(text, name, { featureNames, timeColumns, rowsNeeded, stepMs, timeFormat, missing, maxGap }) {
    const lines = text.split(/\r?\n/);
    const header = this.cells(lines[0] || "");
    const column = (col) => {
      const at = header.indexOf(col);
      if (at < 0) throw new Error(`${name}: column '${col}' not found (header: ${header.join(", ")})`);
      return at;
    };
    const timeAt = timeColumns.map(column);
    const records = [];
    for (let i = 1; i < lines.length; i++) {
      if (!lines[i].trim()) continue;
      const cells = this.cells(lines[i]);
      let ms;
      if (timeAt.length === 1) {
        ms = this.parseIso(cells[timeAt[0]] || "");
        if (Number.isNaN(ms)) {
          const hint = timeFormat ? ` (the page reads ISO 8601 times, not ${timeFormat}; use predict forecasting)` : "";
          throw new Error(`${name}:${i + 1}: cannot read the time '${cells[timeAt[0]]}'${hint}`);
        }
      } else {
        const parts = timeAt.map((at) => Number(cells[at]));
        if (parts.some((p) => !Number.isInteger(p))) {
          throw new Error(`${name}:${i + 1}: time columns ${timeColumns.join(", ")} must be integers`);
        }
        const [y, mo, d, h = 0, mi = 0, s = 0] = parts;
        ms = Date.UTC(y, mo - 1, d, h, mi, s);
      }
      records.push({ line: i + 1, ms, cells });
    }
    records.sort((a, b) => a.ms - b.ms);
    for (let i = 1; i < records.length && missing !== "drop"; i++) {
      const step = records[i].ms - records[i - 1].ms;
      if (step !== stepMs) {
        const what = step === 0 ? "a duplicate time" : `a step of ${step / 1000} s, not ${stepMs / 1000} s`;
        throw new Error(`${name}:${records[i].line}: ${what} (the page needs consecutive rows; predict forecasting fills gaps)`);
      }
    }
    const columns = featureNames.map((feature) => {
      const calendar = /^(day|year)_(sin|cos)$/.exec(feature);
      if (calendar) {
        const [, kind, fn] = calendar;
        return records.map((r) => Math[fn](2 * Math.PI * this.calendar(r.ms, kind)));
      }
      if (feature.includes("=") && !header.includes(feature)) {
        const [col, category] = [feature.slice(0, feature.indexOf("=")), feature.slice(feature.indexOf("=") + 1)];
        const at = column(col);
        const known = new Set(featureNames.filter((f) => f.startsWith(col + "=")).map((f) => f.slice(col.length + 1)));
        return records.map((r) => {
          if (!known.has(r.cells[at])) {
            throw new Error(`${name}:${r.line}: ${col}=${r.cells[at]} not seen in training data`);
          }
          return r.cells[at] === category ? 1 : 0;
        });
      }
      const at = column(feature);
      const values = records.map((r) => {
        const cell = r.cells[at];
        if (cell === undefined || this.MISSING.has(cell)) return null;
        const value = Number(cell);
        if (!Number.isFinite(value)) throw new Error(`${name}:${r.line}: column '${feature}': '${cell}' is not a number`);
        return value;
      });
      return missing === "drop" ? values : this.filled(values, missing, maxGap, feature, name, records);
    });
    // Rows still incomplete: under drop every one with a missing value, under ffill the
    // leading ones (nothing before them to carry forward).
    const kept = records.map((_, i) => i).filter((i) => columns.every((c) => c[i] !== null));
    if (kept.length < rowsNeeded) {
      throw new Error(`${name}: need at least ${rowsNeeded} complete rows, got ${kept.length}`);
    }
    const newest = kept.slice(kept.length - rowsNeeded);
    const rows = newest.map((i) => columns.map((c) => c[i]));
    const times = newest.map((i) => new Date(records[i].ms).toISOString().replace(".000Z", ""));
    return { rows, times };
  },

  // One column's missing values filled by `policy` ("interpolate" or "ffill"); a run of more
  // than `maxGap` missing values is refused (null: no limit). Under ffill leading missing
  // values stay null (their rows are dropped).
  filled(values, policy, maxGap, feature, name, records) {
    let run = 0;
    values.forEach((v, i) => {
      run = v === null ? run + 1 : 0;
      if (maxGap !== null && maxGap !== undefined && run > maxGap) {
        throw new Error(`${name}:${records[i - run + 1].line}: column '${feature}' has more than ${maxGap} missing values in a row (data.max_fill_gap)`);
      }
    });
    const known = values.map((v, i) => (v === null ? -1 : i)).filter((i) => i >= 0);
    if (!known.length) throw new Error(`${name}: column '${feature}' has no values`);
    let previous = -1;
    for (let i = 0; i < values.length; i++) {
      if (values[i] !== null) { previous = i; continue; }
      if (policy === "ffill") { values[i] = previous < 0 ? null : values[previous]; continue; }
      const next = known.find((k) => k > i);
      if (previous < 0) values[i] = values[next];
      else if (next === undefined) values[i] = values[previous];
      else values[i] = values[previous] + ((values[next] - values[previous]) * (i - previous)) / (next - previous);
    }
    return values;
  },
};
