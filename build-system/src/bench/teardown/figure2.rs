//! The paper's Figure 2 on Keel: for each kind of object (and a mix of
//! kinds), N objects in their dearest state torn down one by one from the
//! parent (a cap delete each: `fig2-<kind>-each`), as a system without
//! reclamation groups must, against one revoke of the group holding them
//! (`fig2-<kind>-group`). Each row holds both medians and their ratio; the
//! plot shows both against N, log-log, one chart per kind, in
//! `target/bench/teardown-figure2-<arch>.svg`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use serde::Serialize;

use super::median;
use crate::bench::app::Sample;
use crate::bench::plot::{Chart, Figure, Format, LineChart, Scale, Series};

/// The prefix of the Figure 2 rows.
pub const PREFIX: &str = "fig2-";

/// One kind at one N, both ways.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Figure2Row {
    /// The kind (the bench's row name) or `mix`.
    pub kind: String,
    /// Objects torn down.
    pub n: u64,
    /// Deleting each object's cap in turn, instructions (median).
    pub each: f64,
    /// One revoke of the group, instructions (median).
    pub group: f64,
    /// `each` over `group`.
    pub ratio: f64,
}

/// Samples by (the kind's place in the run, whether one by one, N).
type Ticks = BTreeMap<(usize, bool, u64), Vec<u64>>;

/// The rows of the `fig2-` samples, kinds in the order the run made them,
/// N rising; a kind and N measured only one way is left out.
pub fn rows(samples: &[Sample]) -> Vec<Figure2Row> {
    let mut kinds: Vec<&str> = Vec::new();
    let mut ticks = Ticks::new();
    for s in samples {
        let Some(rest) = s.name.strip_prefix(PREFIX) else {
            continue;
        };
        let (kind, each) = match (rest.strip_suffix("-each"), rest.strip_suffix("-group")) {
            (Some(kind), _) => (kind, true),
            (None, Some(kind)) => (kind, false),
            (None, None) => continue,
        };
        let place = kinds.iter().position(|&k| k == kind).unwrap_or_else(|| {
            kinds.push(kind);
            kinds.len() - 1
        });
        ticks.entry((place, each, s.n)).or_default().push(s.ticks);
    }
    ticks
        .iter()
        .filter(|((_, each, _), _)| *each)
        .filter_map(|(&(place, _, n), one_by_one)| {
            let group = median(ticks.get(&(place, false, n))?);
            let each = median(one_by_one);
            Some(Figure2Row {
                kind: kinds[place].to_string(),
                n,
                each,
                group,
                ratio: each / group.max(1.0),
            })
        })
        .collect()
}

/// Each kind's row at its largest N.
pub fn largest(rows: &[Figure2Row]) -> Vec<&Figure2Row> {
    let mut out: Vec<&Figure2Row> = Vec::new();
    for r in rows {
        match out.iter_mut().find(|o| o.kind == r.kind) {
            Some(o) if o.n < r.n => *o = r,
            Some(_) => {}
            None => out.push(r),
        }
    }
    out
}

/// Prints the rows, and the ratio at each kind's largest N.
pub fn print(arch: &str, rows: &[Figure2Row]) {
    if rows.is_empty() {
        return;
    }
    println!(
        "\nFigure 2 on {arch}: object by object against one group revoke (instructions, median):"
    );
    println!(
        "{:<16} {:>6} {:>14} {:>12} {:>8}",
        "kind", "N", "one by one", "group", "ratio"
    );
    for r in rows {
        println!(
            "{:<16} {:>6} {:>14.0} {:>12.0} {:>8.2}",
            r.kind, r.n, r.each, r.group, r.ratio
        );
    }
    let at_largest: Vec<String> = largest(rows)
        .iter()
        .map(|r| format!("{} {:.2} (N = {})", r.kind, r.ratio, r.n))
        .collect();
    println!("ratio at the largest N: {}", at_largest.join(", "));
}

/// The plot: per kind, both ways against N, log-log.
pub fn figure(arch: &str, rows: &[Figure2Row]) -> Figure {
    let charts = largest(rows)
        .iter()
        .map(|top| {
            let of_kind = || rows.iter().filter(|r| r.kind == top.kind);
            let series = |name: &str, value: fn(&Figure2Row) -> f64| Series {
                name: name.into(),
                points: of_kind().map(|r| (r.n as f64, value(r))).collect(),
            };
            Chart::Lines(LineChart {
                title: format!("{}: teardown of N objects", top.kind),
                note: Some(format!(
                    "one by one over one revoke at N = {}: {:.2}",
                    top.n, top.ratio
                )),
                x_label: "N, objects (log scale)".into(),
                y_label: "instructions, median (log scale)".into(),
                x_scale: Scale::Log,
                y_scale: Scale::Log,
                format: Format::COUNT,
                series: vec![
                    series("a cap delete per object", |r| r.each),
                    series("one revoke of the group", |r| r.group),
                ],
            })
        })
        .collect();
    Figure {
        title: format!("The paper's Figure 2 on Keel ({arch}): teardown without and with groups"),
        charts,
    }
}

/// Writes the plot to `target/bench/teardown-figure2-<arch>.svg` under
/// `root`, and prints its path.
///
/// # Errors
/// If the file cannot be written.
pub fn write_plot(root: &Path, arch: &str, rows: &[Figure2Row]) -> Result<()> {
    crate::bench::write_file(
        root,
        &format!("teardown-figure2-{arch}.svg"),
        &figure(arch, rows).to_svg(),
    )
}
