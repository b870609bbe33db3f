//! Line charts: each series a run of points joined by a line, over a linear
//! or logarithmic axis each way, with grid lines at the ticks and (when there
//! are few enough points to read) each point's value written beside it:
//! above for the first, third, ... series, below for the others, so that
//! two series meeting at a point keep their labels apart.
//! Points a log axis cannot show (zero, negative) and values that are not
//! finite are left out.

use std::fmt::Write;

use super::{colour, header, line, text, Axis, Format, Scale, EDGE, GRID, MUTED, WIDTH};

/// Height of the plotting area.
const PLOT_HEIGHT: f64 = 260.0;
/// Most points whose values are written beside them.
const LABELLED_POINTS: usize = 16;

/// A chart of series of (x, y) points.
#[derive(Clone, Debug)]
pub struct LineChart {
    /// Heading.
    pub title: String,
    /// A line under the heading (what to look for), if any.
    pub note: Option<String>,
    /// What the horizontal axis measures.
    pub x_label: String,
    /// What the vertical axis measures, with its unit.
    pub y_label: String,
    /// Scale of the horizontal axis.
    pub x_scale: Scale,
    /// Scale of the vertical axis.
    pub y_scale: Scale,
    /// How y values are written.
    pub format: Format,
    /// The series, in colour order.
    pub series: Vec<Series>,
}

/// One named run of points.
#[derive(Clone, Debug)]
pub struct Series {
    /// Its legend entry.
    pub name: String,
    /// Its points, in the order they are joined.
    pub points: Vec<(f64, f64)>,
}

impl LineChart {
    /// Draws the chart from `top`; returns its height.
    pub(super) fn draw(&self, out: &mut String, top: f64) -> f64 {
        let legend: Vec<&str> = self.series.iter().map(|s| s.name.as_str()).collect();
        let y = header(out, top, &self.title, self.note.as_deref(), &legend);
        let shown: Vec<Vec<(f64, f64)>> = self
            .series
            .iter()
            .map(|s| {
                s.points
                    .iter()
                    .copied()
                    .filter(|&(x, y)| self.x_scale.admits(x) && self.y_scale.admits(y))
                    .collect()
            })
            .collect();
        let all = || shown.iter().flatten();
        let (x0, x1) = (EDGE + 72.0, WIDTH - EDGE - 40.0);
        let (plot_top, plot_bottom) = (y + 12.0, y + 12.0 + PLOT_HEIGHT);
        let xs = Axis::fit(self.x_scale, all().map(|p| p.0), x0, x1);
        let ys = Axis::fit(self.y_scale, all().map(|p| p.1), plot_bottom, plot_top);
        let tick_attrs = format!(r#"font-size="11" fill="{MUTED}""#);
        xs.vertical_grid(out, plot_top, plot_bottom, &self.x_label);
        for &t in &ys.ticks {
            let y = ys.px(t);
            line(out, (x0, y), (x1, y), &format!(r#"stroke="{GRID}""#));
            text(
                out,
                x0 - 6.0,
                y + 4.0,
                &format!(r#"{tick_attrs} text-anchor="end""#),
                &ys.tick_label(t),
            );
        }
        let _ = writeln!(
            out,
            r#"<rect x="{x0:.1}" y="{plot_top:.1}" width="{:.1}" height="{PLOT_HEIGHT}" fill="none" stroke="{MUTED}"/>"#,
            x1 - x0
        );
        if all().next().is_none() {
            text(
                out,
                (x0 + x1) / 2.0,
                (plot_top + plot_bottom) / 2.0,
                r#"font-size="12" text-anchor="middle""#,
                "no data",
            );
        }
        let labelled = all().count() <= LABELLED_POINTS;
        for (i, points) in shown.iter().enumerate() {
            self.draw_series(out, &xs, &ys, i, points, labelled);
        }
        let (lx, ly) = (EDGE + 12.0, (plot_top + plot_bottom) / 2.0);
        text(
            out,
            lx,
            ly,
            &format!(
                r#"font-size="12" text-anchor="middle" transform="rotate(-90 {lx:.1} {ly:.1})""#
            ),
            &self.y_label,
        );
        plot_bottom + 38.0 - top
    }

    /// Draws series `i`'s `points`: the line, the points, their values if `labelled`.
    fn draw_series(
        &self,
        out: &mut String,
        xs: &Axis,
        ys: &Axis,
        i: usize,
        points: &[(f64, f64)],
        labelled: bool,
    ) {
        let pixels: Vec<(f64, f64)> = points.iter().map(|&(x, y)| (xs.px(x), ys.px(y))).collect();
        if pixels.len() > 1 {
            let path: Vec<String> = pixels
                .iter()
                .map(|(x, y)| format!("{x:.1},{y:.1}"))
                .collect();
            let _ = writeln!(
                out,
                r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>"#,
                path.join(" "),
                colour(i)
            );
        }
        for (&(x, y), &(_, value)) in pixels.iter().zip(points) {
            let _ = writeln!(
                out,
                r#"<circle class="point" cx="{x:.1}" cy="{y:.1}" r="4" fill="{}"/>"#,
                colour(i)
            );
            if labelled {
                text(
                    out,
                    x,
                    if i.is_multiple_of(2) {
                        y - 9.0
                    } else {
                        y + 18.0
                    },
                    r#"font-size="11" text-anchor="middle""#,
                    &self.format.full(value),
                );
            }
        }
    }
}
