//! Plots of benchmark results as self-contained SVG text, drawn by the build
//! tool itself: a chart needs only rectangles, lines, circles and text, which
//! a few `write!`s produce, so no plotting library is pulled in and the output
//! stays text a reviewer can diff. A [`Figure`] is a title over a stack of
//! charts, [`WIDTH`] pixels wide: [`BarChart`]s (grouped horizontal bars with
//! each value written at its bar's end) and [`LineChart`]s (series of points
//! over linear or logarithmic axes). This module only draws; what each
//! benchmark plots is chosen in `bench::charts`.

mod bars;
mod lines;
#[cfg(test)]
pub(super) mod tests;

use std::fmt::Write;

pub use bars::{Bar, BarChart, Group, Reference};
pub use lines::{LineChart, Series};

/// Width of every figure, in pixels.
pub const WIDTH: f64 = 800.0;
/// Margin at the left and right edges.
const EDGE: f64 = 16.0;
/// Space between stacked charts.
const CHART_GAP: f64 = 28.0;
/// Average advance of one character of 12px sans-serif, for layout.
const CHAR_WIDTH: f64 = 7.0;
/// Series colours (Okabe-Ito: told apart with the common colour-vision deficiencies).
const COLOURS: [&str; 4] = ["#0072b2", "#e69f00", "#009e73", "#cc79a7"];
/// Colour of grid lines.
const GRID: &str = "#e3e3e3";
/// Colour of axes, notes and tick labels.
const MUTED: &str = "#555555";

/// A title over charts stacked top to bottom.
#[derive(Clone, Debug)]
pub struct Figure {
    /// The figure's heading (which benchmark, which architecture).
    pub title: String,
    /// The charts, top to bottom.
    pub charts: Vec<Chart>,
}

/// One chart of a figure.
#[derive(Clone, Debug)]
pub enum Chart {
    /// Grouped horizontal bars.
    Bars(BarChart),
    /// Points joined by lines.
    Lines(LineChart),
}

impl Figure {
    /// The figure as a complete SVG document.
    pub fn to_svg(&self) -> String {
        let mut body = String::new();
        let mut y = 40.0;
        if self.charts.is_empty() {
            text(
                &mut body,
                EDGE,
                y + 16.0,
                r#"font-size="13""#,
                "no results to plot",
            );
            y += 24.0 + CHART_GAP;
        }
        for chart in &self.charts {
            let height = match chart {
                Chart::Bars(c) => c.draw(&mut body, y),
                Chart::Lines(c) => c.draw(&mut body, y),
            };
            y += height + CHART_GAP;
        }
        let height = (y - CHART_GAP + EDGE).ceil();
        let mut svg = String::new();
        let _ = write!(
            svg,
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" fill="#222222">"##
        );
        svg.push('\n');
        svg.push_str(r#"<rect width="100%" height="100%" fill="white"/>"#);
        svg.push('\n');
        text(
            &mut svg,
            EDGE,
            26.0,
            r#"font-size="18" font-weight="bold""#,
            &self.title,
        );
        svg.push_str(&body);
        svg.push_str("</svg>\n");
        svg
    }
}

/// How a chart writes its values: digits after the point and a unit suffix.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Format {
    /// Digits after the decimal point.
    pub decimals: usize,
    /// Written after the number (`"%"`, `" ms"`), or empty.
    pub suffix: &'static str,
}

impl Format {
    /// Whole numbers (instruction counts).
    pub const COUNT: Format = Format {
        decimals: 0,
        suffix: "",
    };

    /// A value as written beside its bar or point: in full, thousands grouped.
    pub fn full(self, v: f64) -> String {
        if !v.is_finite() {
            return "n/a".to_string();
        }
        format!(
            "{}{}",
            grouped(&format!("{v:.*}", self.decimals)),
            self.suffix
        )
    }

    /// A value at an axis tick `step` from the next: large values shortened
    /// (`50k`, `1.5M`), small steps with the digits they need, no suffix
    /// (the axis label gives the unit).
    fn tick(v: f64, step: f64) -> String {
        let short = |scaled: f64, unit: &str| {
            let s = format!("{scaled:.2}");
            let s = s.trim_end_matches('0').trim_end_matches('.');
            format!("{s}{unit}")
        };
        match v.abs() {
            a if a >= 1e6 => short(v / 1e6, "M"),
            a if a >= 1e4 => short(v / 1e3, "k"),
            _ => {
                let decimals = if step < 1.0 {
                    ((-step.log10()).ceil() as usize).min(6)
                } else {
                    0
                };
                grouped(&format!("{v:.decimals$}"))
            }
        }
    }
}

/// `digits` (as `format!` writes a number) with commas between thousands.
fn grouped(digits: &str) -> String {
    let (sign, unsigned) = match digits.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", digits),
    };
    let (whole, fraction) = match unsigned.find('.') {
        Some(dot) => unsigned.split_at(dot),
        None => (unsigned, ""),
    };
    let mut out = String::from(sign);
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out + fraction
}

/// How an axis maps values to positions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scale {
    /// Equal distances for equal differences; the axis includes zero.
    Linear,
    /// Equal distances for equal ratios, ticks at powers of ten; only
    /// positive values can be drawn.
    Log,
}

impl Scale {
    /// Whether `v` can be placed on this scale.
    fn admits(self, v: f64) -> bool {
        v.is_finite() && (self == Scale::Linear || v > 0.0)
    }
}

/// One axis: its scale, the values at its ends, and the pixels they sit at.
struct Axis {
    scale: Scale,
    lo: f64,
    hi: f64,
    from: f64,
    to: f64,
    ticks: Vec<f64>,
    step: Option<f64>,
}

impl Axis {
    /// An axis from pixel `from` to `to` covering `values` (those the
    /// scale admits), ending at round values; empty or single-valued data
    /// gives a unit range or one decade each side.
    fn fit(scale: Scale, values: impl Iterator<Item = f64>, from: f64, to: f64) -> Axis {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values.filter(|v| scale.admits(*v)) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        match scale {
            Scale::Linear => {
                let lo = if lo.is_finite() { lo.min(0.0) } else { 0.0 };
                let hi = if hi.is_finite() { hi.max(0.0) } else { 0.0 };
                let hi = if hi > lo { hi } else { lo + 1.0 };
                let raw = (hi - lo) / 5.0;
                let magnitude = 10f64.powf(raw.log10().floor());
                let step = [1.0, 2.0, 5.0, 10.0]
                    .into_iter()
                    .map(|m| m * magnitude)
                    .find(|s| *s >= raw)
                    .unwrap_or(10.0 * magnitude);
                let (first, last) = ((lo / step).floor() as i64, (hi / step).ceil() as i64);
                Axis {
                    scale,
                    lo: first as f64 * step,
                    hi: last as f64 * step,
                    from,
                    to,
                    ticks: (first..=last).map(|i| i as f64 * step).collect(),
                    step: Some(step),
                }
            }
            Scale::Log => {
                let (mut first, mut last) = if lo.is_finite() {
                    (lo.log10().floor() as i32, hi.log10().ceil() as i32)
                } else {
                    (0, 1)
                };
                if first == last {
                    first -= 1;
                    last += 1;
                }
                Axis {
                    scale,
                    lo: 10f64.powi(first),
                    hi: 10f64.powi(last),
                    from,
                    to,
                    ticks: (first..=last).map(|e| 10f64.powi(e)).collect(),
                    step: None,
                }
            }
        }
    }

    /// The pixel position of `v`.
    fn px(&self, v: f64) -> f64 {
        let t = match self.scale {
            Scale::Linear => (v - self.lo) / (self.hi - self.lo),
            Scale::Log => (v.log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10()),
        };
        self.from + t * (self.to - self.from)
    }

    /// The label of tick `v`.
    fn tick_label(&self, v: f64) -> String {
        Format::tick(v, self.step.unwrap_or(v))
    }

    /// Draws a vertical grid line at each tick from `top` to `bottom`,
    /// with the tick's label under `bottom`, and the axis's `title` under
    /// the labels.
    fn vertical_grid(&self, out: &mut String, top: f64, bottom: f64, title: &str) {
        for &t in &self.ticks {
            let x = self.px(t);
            line(out, (x, top), (x, bottom), &format!(r#"stroke="{GRID}""#));
            text(
                out,
                x,
                bottom + 15.0,
                &format!(r#"font-size="11" text-anchor="middle" fill="{MUTED}""#),
                &self.tick_label(t),
            );
        }
        text(
            out,
            (self.from + self.to) / 2.0,
            bottom + 33.0,
            r#"font-size="12" text-anchor="middle""#,
            title,
        );
    }
}

/// Writes a chart's title, its note and (for two or more series) a legend
/// from `top`; returns where the chart's body starts.
fn header(out: &mut String, top: f64, title: &str, note: Option<&str>, legend: &[&str]) -> f64 {
    let mut y = top + 16.0;
    text(out, EDGE, y, r#"font-size="15" font-weight="bold""#, title);
    if let Some(note) = note {
        y += 18.0;
        text(
            out,
            EDGE,
            y,
            &format!(r#"font-size="12" fill="{MUTED}""#),
            note,
        );
    }
    if legend.len() > 1 {
        y += 20.0;
        let mut x = EDGE;
        for (i, name) in legend.iter().enumerate() {
            let _ = writeln!(
                out,
                r#"<rect x="{x:.1}" y="{:.1}" width="12" height="12" fill="{}"/>"#,
                y - 10.0,
                colour(i)
            );
            text(out, x + 17.0, y, r#"font-size="12""#, name);
            x += 17.0 + name.chars().count() as f64 * CHAR_WIDTH + 18.0;
        }
    }
    y + 12.0
}

/// The colour of series `i`.
fn colour(i: usize) -> &'static str {
    COLOURS[i % COLOURS.len()]
}

/// Writes a `<text>` element at (`x`, `y`) with extra attributes `attrs`.
fn text(out: &mut String, x: f64, y: f64, attrs: &str, s: &str) {
    let _ = writeln!(
        out,
        r#"<text x="{x:.1}" y="{y:.1}" {attrs}>{}</text>"#,
        escape(s)
    );
}

/// Writes a `<line>` from (`x1`, `y1`) to (`x2`, `y2`) with extra attributes `attrs`.
fn line(out: &mut String, (x1, y1): (f64, f64), (x2, y2): (f64, f64), attrs: &str) {
    let _ = writeln!(
        out,
        r#"<line x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}" {attrs}/>"#
    );
}

/// `s` with the characters XML gives a meaning escaped.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The width `s` takes at 12px, estimated.
fn text_width(s: &str) -> f64 {
    s.chars().count() as f64 * CHAR_WIDTH
}
