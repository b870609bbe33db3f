//! Grouped horizontal bars: a label on the left of each group, one bar per
//! series the group has a value for, each value written at its bar's end, an
//! optional whisker for the spread of the runs, and dashed vertical lines at
//! reference values (a target, a baseline). The value axis is linear and
//! includes zero, so bar lengths compare honestly.

use std::fmt::Write;

use super::{colour, header, line, text, text_width, Axis, Format, Scale, EDGE, MUTED, WIDTH};

/// Height of one bar.
const BAR: f64 = 18.0;
/// Space between the bars of one group.
const BAR_GAP: f64 = 3.0;
/// Space between groups.
const GROUP_GAP: f64 = 12.0;
/// Colour of reference lines and their labels.
const REFERENCE: &str = "#b2182b";

/// A chart of grouped horizontal bars.
#[derive(Clone, Debug)]
pub struct BarChart {
    /// Heading.
    pub title: String,
    /// A line under the heading (how the figures were taken), if any.
    pub note: Option<String>,
    /// What the value axis measures, with its unit.
    pub axis_label: String,
    /// How values are written.
    pub format: Format,
    /// Names of the series, in colour order (a legend when two or more).
    pub series: Vec<String>,
    /// The groups, top to bottom.
    pub groups: Vec<Group>,
    /// Vertical lines at values to compare the bars with.
    pub references: Vec<Reference>,
}

/// One labelled group of bars.
#[derive(Clone, Debug)]
pub struct Group {
    /// Written left of the group.
    pub label: String,
    /// Its bars, top to bottom.
    pub bars: Vec<Bar>,
}

/// One bar.
#[derive(Clone, Debug)]
pub struct Bar {
    /// Index into the chart's series (its colour and legend entry).
    pub series: usize,
    /// Its length; a value that is not finite is written `n/a`, not drawn.
    pub value: f64,
    /// Smallest and largest of the runs, drawn as a whisker.
    pub range: Option<(f64, f64)>,
}

/// A dashed line across the bars at a value.
#[derive(Clone, Debug)]
pub struct Reference {
    /// Written above the line.
    pub label: String,
    /// Where it is drawn.
    pub value: f64,
}

impl BarChart {
    /// Draws the chart from `top`; returns its height.
    pub(super) fn draw(&self, out: &mut String, top: f64) -> f64 {
        let legend: Vec<&str> = self.series.iter().map(String::as_str).collect();
        let mut y = header(out, top, &self.title, self.note.as_deref(), &legend);
        if self.groups.is_empty() {
            text(out, EDGE, y + 16.0, r#"font-size="12""#, "no data");
            return y + 24.0 - top;
        }
        let bars = || self.groups.iter().flat_map(|g| &g.bars);
        let label_width = self
            .groups
            .iter()
            .map(|g| text_width(&g.label))
            .fold(0.0, f64::max);
        let value_width = bars()
            .map(|b| text_width(&self.format.full(b.value)))
            .fold(0.0, f64::max);
        let x0 = EDGE + (label_width + 12.0).clamp(60.0, 320.0);
        let x1 = WIDTH - EDGE - (value_width + 10.0).clamp(40.0, 160.0);
        let values = bars()
            .flat_map(|b| [Some(b.value), b.range.map(|r| r.0), b.range.map(|r| r.1)])
            .flatten()
            .chain(self.references.iter().map(|r| r.value));
        let axis = Axis::fit(Scale::Linear, values, x0, x1);
        if !self.references.is_empty() {
            y += 16.0;
        }
        let rows: f64 = self.groups.iter().map(|g| group_height(g.bars.len())).sum();
        let plot_top = y;
        let plot_bottom = plot_top + rows + GROUP_GAP * (self.groups.len() - 1) as f64 + 8.0;
        axis.vertical_grid(out, plot_top, plot_bottom, &self.axis_label);
        let zero = axis.px(0.0);
        let mut gy = plot_top + 4.0;
        for group in &self.groups {
            let height = group_height(group.bars.len());
            text(
                out,
                x0 - 8.0,
                gy + height / 2.0 + 4.0,
                r#"font-size="12" text-anchor="end""#,
                &group.label,
            );
            for (i, bar) in group.bars.iter().enumerate() {
                self.draw_bar(out, &axis, bar, gy + i as f64 * (BAR + BAR_GAP));
            }
            gy += height + GROUP_GAP;
        }
        line(
            out,
            (zero, plot_top),
            (zero, plot_bottom),
            r##"stroke="#333333""##,
        );
        line(
            out,
            (x0, plot_bottom),
            (x1, plot_bottom),
            &format!(r#"stroke="{MUTED}""#),
        );
        for r in self.references.iter().filter(|r| r.value.is_finite()) {
            let x = axis.px(r.value);
            line(
                out,
                (x, plot_top - 4.0),
                (x, plot_bottom),
                &format!(r#"stroke="{REFERENCE}" stroke-width="1.5" stroke-dasharray="5 3""#),
            );
            text(
                out,
                x,
                plot_top - 7.0,
                &format!(r#"font-size="11" text-anchor="middle" fill="{REFERENCE}""#),
                &format!("{} ({})", r.label, self.format.full(r.value)),
            );
        }
        plot_bottom + 38.0 - top
    }

    /// Draws one bar with its top at `y`: the bar, its whisker, its value.
    fn draw_bar(&self, out: &mut String, axis: &Axis, bar: &Bar, y: f64) {
        let zero = axis.px(0.0);
        let middle = y + BAR / 2.0;
        let mut end = zero;
        if bar.value.is_finite() {
            let x = axis.px(bar.value);
            let name = self.series.get(bar.series).map_or("", String::as_str);
            let _ = writeln!(
                out,
                r#"<rect class="bar" x="{:.1}" y="{y:.1}" width="{:.1}" height="{BAR}" fill="{}"><title>{}</title></rect>"#,
                x.min(zero),
                (x - zero).abs(),
                colour(bar.series),
                super::escape(format!("{name} {}", self.format.full(bar.value)).trim_start()),
            );
            end = end.max(x);
            if let Some((lo, hi)) = bar.range.filter(|r| r.0.is_finite() && r.1.is_finite()) {
                let (a, b) = (axis.px(lo), axis.px(hi));
                let whisker = r##"stroke="#222222" stroke-width="1.2""##;
                line(out, (a, middle), (b, middle), whisker);
                line(out, (a, middle - 4.0), (a, middle + 4.0), whisker);
                line(out, (b, middle - 4.0), (b, middle + 4.0), whisker);
                end = end.max(b);
            }
        }
        text(
            out,
            end + 4.0,
            middle + 4.0,
            r#"font-size="11""#,
            &self.format.full(bar.value),
        );
    }
}

/// The height of a group of `bars` bars (an empty group keeps one row).
fn group_height(bars: usize) -> f64 {
    bars.max(1) as f64 * (BAR + BAR_GAP) - BAR_GAP
}
