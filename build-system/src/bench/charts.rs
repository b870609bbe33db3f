//! What each benchmark plots, from the results it has just reported: the
//! comparisons a reader would rather look at than read off the table (fast
//! against slow path, stubs against raw, configured against measured share,
//! and revoke's longest stretch against the number of objects). The choice of
//! rows, groups and reference lines is made here; `plot` draws them.

use super::activities::ActivitiesReport;
use super::drivers::DriversReport;
use super::plot::{
    Bar, BarChart, Chart, Figure, Format, Group, LineChart, Reference, Scale, Series,
};
use super::sched::SchedReport;
use super::servers::{ServersReport, STUB_TARGET};
use super::Measurement;

/// The calibration row every app benchmark prints; never plotted.
const COUNTER_OVERHEAD: &str = "counter-overhead";

/// `bench boot`: boot time (with the spread of the boots) and image sizes.
pub fn boot(arch: &str, results: &[Measurement]) -> Figure {
    let of_unit = |unit: &str| -> Vec<Group> {
        results
            .iter()
            .filter(|m| m.unit == unit)
            .map(|m| one_bar(&m.name, m.median, (m.runs > 1).then_some((m.min, m.max))))
            .collect()
    };
    let boots = results
        .iter()
        .find(|m| m.unit == "ms")
        .map_or(0, |m| m.runs);
    let time = BarChart {
        title: "Boot time".into(),
        note: Some(format!(
            "median of {boots} boots (wall clock, so it varies with the machine's load); whisker: fastest to slowest"
        )),
        axis_label: "milliseconds from starting QEMU to the root task's banner".into(),
        format: Format { decimals: 0, suffix: " ms" },
        series: Vec::new(),
        groups: of_unit("ms"),
        references: Vec::new(),
    };
    let size = BarChart {
        title: "Kernel image size".into(),
        note: None,
        axis_label: "KiB".into(),
        format: Format {
            decimals: 0,
            suffix: " KiB",
        },
        series: Vec::new(),
        groups: of_unit("KiB"),
        references: Vec::new(),
    };
    figure("boot", arch, vec![Chart::Bars(time), Chart::Bars(size)])
}

/// A bar per measured cost in `overheads` (but the counter's own), medians.
fn costs_chart(title: &str, note: Option<String>, overheads: &[Measurement]) -> BarChart {
    BarChart {
        title: title.into(),
        note,
        axis_label: format!("{}, median", unit_label(overheads.first())),
        format: Format::COUNT,
        series: Vec::new(),
        groups: overheads
            .iter()
            .filter(|m| m.name != COUNTER_OVERHEAD)
            .map(|m| one_bar(&m.name, m.median, None))
            .collect(),
        references: Vec::new(),
    }
}

/// `bench caps`: revoke's total and longest non-preemptible stretch against
/// the number of children (log-log, so the flat one reads as flat), and the
/// single-object operations.
pub fn caps(arch: &str, results: &[Measurement]) -> Figure {
    let curve = |name: &str| Series {
        name: match name {
            "revoke" => "whole revoke".into(),
            _ => "longest stretch between preemption points".into(),
        },
        points: results
            .iter()
            .filter(|m| m.name == name)
            .filter_map(|m| Some((m.n? as f64, m.median)))
            .collect(),
    };
    let unit = unit_label(results.first());
    let waiters = LineChart {
        title: "Delete of an endpoint or notification with N waiters, CancelBadgedSends over N senders".into(),
        note: Some(
            "the kernel handles one waiter per preemption point: the longest stretches must stay flat".into(),
        ),
        x_label: "N, threads waiting (log scale)".into(),
        y_label: format!("{unit}, median (log scale)"),
        x_scale: Scale::Log,
        y_scale: Scale::Log,
        format: Format::COUNT,
        series: [
            "endpoint-delete",
            "endpoint-delete-longest-stretch",
            "notification-delete",
            "notification-delete-longest-stretch",
            "cancel-badged-sends",
            "cancel-badged-sends-longest-stretch",
        ]
        .into_iter()
        .map(|name| Series {
            name: name.replace('-', " "),
            points: results
                .iter()
                .filter(|m| m.name == name)
                .filter_map(|m| Some((m.n? as f64, m.median)))
                .collect(),
        })
        .collect(),
    };
    let revoke = LineChart {
        title: "Revoke of an Untyped with N children".into(),
        note: Some(
            "the whole revoke grows with N; the longest stretch the kernel runs without a preemption point must stay flat"
                .into(),
        ),
        x_label: "N, children revoked (log scale)".into(),
        y_label: format!("{unit}, median (log scale)"),
        x_scale: Scale::Log,
        y_scale: Scale::Log,
        format: Format::COUNT,
        series: vec![curve("revoke"), curve("revoke-longest-stretch")],
    };
    let single = BarChart {
        title: "One operation on one object".into(),
        note: None,
        axis_label: format!("{unit}, median"),
        format: Format::COUNT,
        series: Vec::new(),
        groups: results
            .iter()
            .filter(|m| m.n == Some(1) && !m.name.ends_with("longest-stretch"))
            .filter(|m| !m.name.ends_with("-delete") && m.name != "cancel-badged-sends")
            .map(|m| one_bar(&m.name, m.median, None))
            .collect(),
        references: Vec::new(),
    };
    figure(
        "caps",
        arch,
        vec![
            Chart::Lines(revoke),
            Chart::Lines(waiters),
            Chart::Bars(single),
        ],
    )
}

/// `bench ipc`: per accelerator, every Call + ReplyRecv round trip, fast path
/// against slow, grouped by kind and message length, with the null system
/// call as a reference line.
pub fn ipc(arch: &str, results: &[Measurement]) -> Figure {
    let mut accelerators: Vec<Option<&str>> = Vec::new();
    for m in results {
        if !accelerators.contains(&m.accelerator.as_deref()) {
            accelerators.push(m.accelerator.as_deref());
        }
    }
    let charts = accelerators
        .into_iter()
        .map(|accel| {
            let rows: Vec<&Measurement> = results
                .iter()
                .filter(|m| m.accelerator.as_deref() == accel)
                .collect();
            Chart::Bars(round_trips(accel, &rows))
        })
        .collect();
    figure("ipc", arch, charts)
}

/// The round-trip chart of one accelerator's `rows`.
fn round_trips(accel: Option<&str>, rows: &[&Measurement]) -> BarChart {
    let mut groups: Vec<((String, u64), Group)> = Vec::new();
    for m in rows {
        let Some(kind) = m.name.strip_prefix("call+replyrecv") else {
            continue;
        };
        let (kind, series) = match (kind.strip_suffix("-fast"), kind.strip_suffix("-slow")) {
            (Some(k), _) => (k, 0),
            (_, Some(k)) => (k, 1),
            _ => continue,
        };
        let key = (kind.trim_start_matches('-').to_string(), m.n.unwrap_or(0));
        let bar = Bar {
            series,
            value: m.median,
            range: None,
        };
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, g)) => g.bars.push(bar),
            None => {
                let place = if key.0.is_empty() {
                    "same address space"
                } else {
                    &key.0
                };
                let label = format!("{place}, {} words", key.1);
                groups.push((
                    key,
                    Group {
                        label,
                        bars: vec![bar],
                    },
                ));
            }
        }
    }
    let mut groups: Vec<Group> = groups.into_iter().map(|(_, g)| g).collect();
    for g in &mut groups {
        g.bars.sort_by_key(|b| b.series);
    }
    BarChart {
        title: match accel {
            Some(a) => format!("Call + ReplyRecv round trip ({a})"),
            None => "Call + ReplyRecv round trip".into(),
        },
        note: Some(
            "xas: server in another process; passive: it runs on the caller's scheduling context; cold: a cap written before each Call"
                .into(),
        ),
        axis_label: format!("{}, median", unit_label(rows.first().copied())),
        format: Format::COUNT,
        series: vec!["fast path".into(), "slow path".into()],
        groups,
        references: rows
            .iter()
            .find(|m| m.name == "null-syscall")
            .map(|m| Reference {
                label: "null syscall".into(),
                value: m.median,
            })
            .into_iter()
            .collect(),
    }
}

/// `bench sched`: each thread's configured share against its measured share
/// (with the spread over windows), and the costs.
pub fn sched(arch: &str, r: &SchedReport) -> Figure {
    let windows = r.shares.first().map_or(0, |s| s.windows);
    let shares = BarChart {
        title: "CPU shares: configured budget / period against measured".into(),
        note: Some(format!(
            "measured: median over {windows} windows of one second of virtual time ({}); whisker: smallest to largest window",
            r.accelerator
        )),
        axis_label: "share of the accounted time (%)".into(),
        format: Format { decimals: 2, suffix: "%" },
        series: vec!["configured".into(), "measured".into()],
        groups: r
            .shares
            .iter()
            .map(|s| Group {
                label: s.name.clone(),
                bars: vec![
                    Bar {
                        series: 0,
                        value: s.configured_share * 100.0,
                        range: None,
                    },
                    Bar {
                        series: 1,
                        value: s.measured_share * 100.0,
                        range: Some((s.min * 100.0, s.max * 100.0)),
                    },
                ],
            })
            .collect(),
        references: Vec::new(),
    };
    let costs = costs_chart(
        "Budget enforcement and Calls to a server",
        Some(format!(
            "passive-server Call / active-server Call: {:.3}",
            r.passive_over_active
        )),
        &r.overheads,
    );
    figure("sched", arch, vec![Chart::Bars(shares), Chart::Bars(costs)])
}

/// `bench servers`: raw against stub round trips, empty and with words, and
/// their ratios against the target.
pub fn servers(arch: &str, r: &ServersReport) -> Figure {
    let mut groups: Vec<(u64, Group)> = Vec::new();
    for m in &r.measurements {
        let series = match m.name.as_str() {
            "call-raw" => 0,
            "call-stub" => 1,
            _ => continue,
        };
        let n = m.n.unwrap_or(0);
        let bar = Bar {
            series,
            value: m.median,
            range: None,
        };
        match groups.iter_mut().find(|(k, _)| *k == n) {
            Some((_, g)) => g.bars.push(bar),
            None => groups.push((
                n,
                Group {
                    label: request(n),
                    bars: vec![bar],
                },
            )),
        }
    }
    let trips = BarChart {
        title: "Round trip to a passive server process".into(),
        note: Some(format!(
            "one restart, from the server's fault to the first request its new instance answers: {} {}",
            Format::COUNT.full(r.summary.restart_instructions),
            unit_label(r.measurements.first())
        )),
        axis_label: format!("{}, median", unit_label(r.measurements.first())),
        format: Format::COUNT,
        series: vec!["raw Call / ReplyRecv".into(), "keel-protocols stub".into()],
        groups: groups.into_iter().map(|(_, g)| g).collect(),
        references: Vec::new(),
    };
    let ratios = BarChart {
        title: "Stub round trip over raw round trip".into(),
        note: Some("medians of the same run".into()),
        axis_label: "ratio".into(),
        format: Format {
            decimals: 3,
            suffix: "×",
        },
        series: Vec::new(),
        groups: vec![
            one_bar(&request(0), r.summary.stub_over_raw_empty, None),
            one_bar(&request(8), r.summary.stub_over_raw_8words, None),
        ],
        references: vec![Reference {
            label: "target".into(),
            value: STUB_TARGET,
        }],
    };
    figure(
        "servers",
        arch,
        vec![Chart::Bars(trips), Chart::Bars(ratios)],
    )
}

/// The label of a request carrying `n` words.
fn request(n: u64) -> String {
    match n {
        0 => "empty request".into(),
        n => format!("{n} words"),
    }
}

/// A group of one bar.
fn one_bar(label: &str, value: f64, range: Option<(f64, f64)>) -> Group {
    Group {
        label: label.to_string(),
        bars: vec![Bar {
            series: 0,
            value,
            range,
        }],
    }
}

/// What the unit of a chart's measurements (as of its `first`) is called on an axis.
fn unit_label(first: Option<&Measurement>) -> String {
    match first.map(|m| m.unit.as_str()) {
        Some("instructions") => "guest instructions".into(),
        Some(unit) => unit.into(),
        None => "value".into(),
    }
}

/// A figure titled with the benchmark and architecture.
/// `bench activities`: per experiment, the activities' shares of each
/// window stacked: each line is the share of its activity and those before
/// it, named with what they are entitled to together, to read it against.
pub fn activities(arch: &str, r: &ActivitiesReport) -> Figure {
    let mut charts = Vec::new();
    for e in &r.experiments {
        let mut series = Vec::new();
        let mut below: Vec<f64> = Vec::new();
        let mut entitled_below = 0.0;
        let mut names: Vec<String> = Vec::new();
        for a in &e.activities {
            if below.len() < a.windows.len() {
                below.resize(a.windows.len(), 0.0);
            }
            let mut points = Vec::new();
            for (i, w) in a.windows.iter().enumerate() {
                below[i] += w;
                points.push(((i + 1) as f64, below[i]));
            }
            entitled_below += a.entitled_percent;
            names.push(match a.threads {
                1 => a.name.clone(),
                n => format!("{} ({n} threads)", a.name),
            });
            series.push(Series {
                name: format!("{}: entitled {entitled_below:.1}%", names.join(" + ")),
                points,
            });
        }
        charts.push(Chart::Lines(LineChart {
            title: format!("{}: stacked shares per window of 1 s", e.name),
            note: Some(format!(
                "largest deviation from an entitlement: {:.3} pp ({})",
                e.max_deviation_pp, r.accelerator
            )),
            x_label: "window".into(),
            y_label: "share of the window, stacked (%)".into(),
            x_scale: Scale::Linear,
            y_scale: Scale::Linear,
            format: Format {
                decimals: 2,
                suffix: "%",
            },
            series,
        }));
    }
    charts.push(Chart::Lines(LineChart {
        title: "Figure 11: non-idle time attributed to an activity, per window of 1 s".into(),
        note: Some(format!(
            "least: {:.4}% ({})",
            r.summary.fig11_attributed_percent, r.accelerator
        )),
        x_label: "window".into(),
        y_label: "attributed (%)".into(),
        x_scale: Scale::Linear,
        y_scale: Scale::Linear,
        format: Format {
            decimals: 3,
            suffix: "%",
        },
        series: r
            .attribution
            .iter()
            .map(|a| Series {
                name: a.run.clone(),
                points: (1..)
                    .map(f64::from)
                    .zip(a.windows.iter().copied())
                    .collect(),
            })
            .collect(),
    }));
    charts.push(Chart::Bars(costs_chart(
        "The scheduler server's costs",
        None,
        &r.overheads,
    )));
    figure("activities", arch, charts)
}

/// `bench drivers`: each measured cost, the interrupt's latency and the
/// sleep's round trip named in the note.
pub fn drivers(arch: &str, r: &DriversReport) -> Figure {
    let note = format!(
        "device interrupt to handler thread {} and sleep round trip {} {}, medians ({})",
        Format::COUNT.full(r.summary.irq_latency_instructions),
        Format::COUNT.full(r.summary.sleep_round_trip_instructions),
        unit_label(r.measurements.first()),
        r.accelerator
    );
    let costs = costs_chart("User-level drivers", Some(note), &r.measurements);
    figure("drivers", arch, vec![Chart::Bars(costs)])
}

fn figure(what: &str, arch: &str, charts: Vec<Chart>) -> Figure {
    Figure {
        title: format!("cargo xtask bench {what} on {arch}"),
        charts,
    }
}

#[cfg(test)]
#[path = "charts_tests.rs"]
mod tests;
