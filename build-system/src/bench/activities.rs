//! `cargo xtask bench activities`: boots the `bench-activities` app under
//! `-icount` and reports, per architecture, Vortex's Figure 8 rebuilt on the
//! scheduler server: each activity's measured share of every window of one
//! second of virtual time against its entitlement, with one thread per
//! activity and again with activity 1 running four; and the scheduler
//! server's costs (a usage query, its time per timeout fault). JSON in
//! `target/bench/activities-<arch>.json` (its `summary` holds the largest
//! deviations), the per-window shares stacked over time in
//! `target/bench/activities-<arch>.svg`, one chart per experiment.

use std::path::Path;

use anyhow::{bail, Result};
use serde::Serialize;

use super::app::{run_icount, summarise, AppBenchArgs, Sample};
use super::Measurement;

/// One activity's shares in one experiment.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ActivityShares {
    /// Its name (`a1`, ...).
    pub name: String,
    /// Threads it ran.
    pub threads: u32,
    /// Its entitlement, in percent of a core.
    pub entitled_percent: f64,
    /// Its measured share of each window, in percent, in window order.
    pub windows: Vec<f64>,
    /// The largest |measured - entitled| over the windows, in points.
    pub max_deviation_pp: f64,
}

/// One experiment: every activity's shares.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Experiment {
    /// `fig8` (one thread each) or `fig8-threads` (activity 1 on four).
    pub name: String,
    /// Its activities.
    pub activities: Vec<ActivityShares>,
    /// The largest deviation of any activity in any window, in points.
    pub max_deviation_pp: f64,
}

/// The figures the issue asks for.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Summary {
    /// Figure 8, one thread per activity.
    pub fig8_max_deviation_pp: f64,
    /// Figure 8 with activity 1 on four threads.
    pub fig8_threads_max_deviation_pp: f64,
    /// Figure 11, every server passive: the largest deviation of an
    /// activity's share, in its own code or at a server, from its
    /// entitlement's part of the three.
    pub fig11_max_deviation_pp: f64,
    /// Figure 11 with the middle server active.
    pub fig11_active_max_deviation_pp: f64,
    /// The least share of a window's non-idle time attributed to an
    /// activity, over both Figure 11 runs, in percent.
    pub fig11_attributed_percent: f64,
}

/// How much of each window's non-idle time a Figure 11 run attributed.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Attributed {
    /// `fig11` or `fig11-active`.
    pub run: String,
    /// Percent of each window's non-idle time, in window order.
    pub windows: Vec<f64>,
    /// The least of them.
    pub min_percent: f64,
}

/// Everything `bench activities` reports for one architecture.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ActivitiesReport {
    /// How QEMU ran the guest.
    pub accelerator: String,
    /// The largest deviations.
    pub summary: Summary,
    /// Figure 8's two experiments, then Figure 11's, one per run and place.
    pub experiments: Vec<Experiment>,
    /// Figure 11's attributed time per window.
    pub attribution: Vec<Attributed>,
    /// The scheduler server's costs, in guest instructions.
    pub overheads: Vec<Measurement>,
}

/// The experiment whose lines are `<prefix>a<i><suffix>`; `threads`
/// says how many threads activity `a<i>` ran.
fn experiment(
    samples: &[Sample],
    prefix: &str,
    suffix: &str,
    name: &str,
    threads: impl Fn(&str) -> u32,
) -> Result<Experiment> {
    let mut activities: Vec<ActivityShares> = Vec::new();
    for s in samples.iter().filter(|s| {
        s.name.starts_with(prefix)
            && s.name.ends_with(suffix)
            && s.name.len() == prefix.len() + 2 + suffix.len()
    }) {
        let activity = &s.name[prefix.len()..s.name.len() - suffix.len()];
        let entitled = s.n as f64 / 1e4;
        let measured = s.ticks as f64 / 1e4;
        let i = match activities.iter().position(|a| a.name == activity) {
            Some(i) => i,
            None => {
                let threads = threads(activity);
                activities.push(ActivityShares {
                    name: activity.to_string(),
                    threads,
                    entitled_percent: entitled,
                    windows: Vec::new(),
                    max_deviation_pp: 0.0,
                });
                activities.len() - 1
            }
        };
        let a = &mut activities[i];
        a.windows.push(measured);
        a.max_deviation_pp = a.max_deviation_pp.max((measured - entitled).abs());
    }
    if activities.is_empty() {
        bail!("the app reported no shares for `{prefix}*{suffix}`");
    }
    let max_deviation_pp = activities
        .iter()
        .map(|a| a.max_deviation_pp)
        .fold(0.0, f64::max);
    Ok(Experiment {
        name: name.to_string(),
        activities,
        max_deviation_pp,
    })
}

/// Where Figure 11 measures shares: the clients' own code, each server.
const PLACES: [&str; 4] = ["own", "s1", "s2", "s3"];

/// Figure 11's run `run` (`passive` or `active`): an experiment per place
/// and its attributed share of non-idle time per window.
fn fig11(samples: &[Sample], run: &str, name: &str) -> Result<(Vec<Experiment>, Attributed)> {
    let mut places = Vec::new();
    for place in PLACES {
        let e = experiment(
            samples,
            &format!("fig11-{run}-"),
            &format!("-{place}"),
            &format!("{name} {place}"),
            |_| 1,
        )?;
        places.push(e);
    }
    let windows: Vec<f64> = samples
        .iter()
        .filter(|s| s.name == format!("fig11-{run}-attributed") && s.n > 0)
        .map(|s| s.ticks as f64 * 100.0 / s.n as f64)
        .collect();
    if windows.is_empty() {
        bail!("the app reported no attributed time for the {run} run");
    }
    let min_percent = windows.iter().copied().fold(f64::INFINITY, f64::min);
    Ok((
        places,
        Attributed {
            run: name.to_string(),
            windows,
            min_percent,
        },
    ))
}

/// Builds the report from the app's samples.
///
/// # Errors
/// When an experiment or a cost the app must print is missing.
pub fn report_from(samples: &[Sample], accel: &str) -> Result<ActivitiesReport> {
    let one = experiment(samples, "fig8-1-", "", "fig8", |_| 1)?;
    let four = experiment(samples, "fig8-4-", "", "fig8-threads", |a| {
        if a == "a1" {
            4
        } else {
            1
        }
    })?;
    let (passive, passive_attributed) = fig11(samples, "passive", "fig11")?;
    let (active, active_attributed) = fig11(samples, "active", "fig11-active")?;
    let largest = |es: &[Experiment]| es.iter().map(|e| e.max_deviation_pp).fold(0.0, f64::max);
    let costs: Vec<Sample> = samples
        .iter()
        .filter(|s| !s.name.starts_with("fig8-") && !s.name.starts_with("fig11-"))
        .map(|s| Sample {
            name: s.name.clone(),
            n: s.n,
            ticks: s.ticks,
        })
        .collect();
    let overheads: Vec<Measurement> = summarise(&costs, "instructions", accel)
        .into_iter()
        .map(|mut m| {
            m.n = None;
            m
        })
        .collect();
    for needed in ["usage-query", "timeout-fault"] {
        if !overheads.iter().any(|m| m.name == needed) {
            bail!("the app reported no `{needed}`");
        }
    }
    Ok(ActivitiesReport {
        accelerator: accel.to_string(),
        summary: Summary {
            fig8_max_deviation_pp: one.max_deviation_pp,
            fig8_threads_max_deviation_pp: four.max_deviation_pp,
            fig11_max_deviation_pp: largest(&passive),
            fig11_active_max_deviation_pp: largest(&active),
            fig11_attributed_percent: passive_attributed
                .min_percent
                .min(active_attributed.min_percent),
        },
        experiments: [vec![one, four], passive, active].concat(),
        attribution: vec![passive_attributed, active_attributed],
        overheads,
    })
}

/// `cargo xtask bench activities`.
///
/// # Errors
/// A failed build or run, or a missing measurement.
pub fn run(root: &Path, args: &AppBenchArgs) -> Result<()> {
    run_icount(root, "activities", args, |arch, samples, accel| {
        let r = report_from(samples, accel)?;
        println!("\nactivities on {arch}:");
        for e in &r.experiments {
            println!(
                "{} (largest deviation {:.3} pp):",
                e.name, e.max_deviation_pp
            );
            for a in &e.activities {
                let shares: Vec<String> = a.windows.iter().map(|w| format!("{w:.2}")).collect();
                println!(
                    "  {} ({} thread{}, entitled {:.2}%): {}",
                    a.name,
                    a.threads,
                    if a.threads == 1 { "" } else { "s" },
                    a.entitled_percent,
                    shares.join(" ")
                );
            }
        }
        for a in &r.attribution {
            let w: Vec<String> = a.windows.iter().map(|w| format!("{w:.4}")).collect();
            println!("{} attributed (% of non-idle time): {}", a.run, w.join(" "));
        }
        super::print_table(&r.overheads);
        let figure = super::charts::activities(arch.name(), &r);
        Ok((r, figure))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::app::parse_sample;

    #[test]
    fn windows_become_experiments_and_a_summary() {
        let lines = [
            "BENCH counter-overhead 0 20",
            "BENCH usage-query 0 3000",
            "BENCH fig8-1-a1 450000 449000",
            "BENCH fig8-1-a2 297000 297500",
            "BENCH fig8-1-a1 450000 451500",
            "BENCH fig8-1-a2 297000 297000",
            "BENCH timeout-fault 0 2500",
            "BENCH fig8-4-a1 450000 450000",
            "BENCH fig8-4-a2 297000 296000",
            "BENCH fig11-passive-a1-own 500000 501000",
            "BENCH fig11-passive-a2-own 500000 499000",
            "BENCH fig11-passive-a1-s1 500000 497000",
            "BENCH fig11-passive-a1-s2 500000 500000",
            "BENCH fig11-passive-a1-s3 500000 500000",
            "BENCH fig11-passive-attributed 800000 799960",
            "BENCH fig11-active-a1-own 500000 500000",
            "BENCH fig11-active-a1-s1 500000 500000",
            "BENCH fig11-active-a1-s2 500000 504000",
            "BENCH fig11-active-a1-s3 500000 500000",
            "BENCH fig11-active-attributed 700000 699993",
        ];
        let samples: Vec<Sample> = lines.iter().filter_map(|l| parse_sample(l)).collect();
        let r = report_from(&samples, "tcg-icount").unwrap();
        let one = &r.experiments[0];
        assert_eq!(one.activities[0].windows, [44.9, 45.15]);
        assert_eq!(one.activities[0].entitled_percent, 45.0);
        assert!((r.summary.fig8_max_deviation_pp - 0.15).abs() < 1e-9);
        assert!((r.summary.fig8_threads_max_deviation_pp - 0.1).abs() < 1e-9);
        assert_eq!(r.experiments[1].activities[0].threads, 4);
        assert!((r.summary.fig11_max_deviation_pp - 0.3).abs() < 1e-9);
        assert!((r.summary.fig11_active_max_deviation_pp - 0.4).abs() < 1e-9);
        assert!((r.summary.fig11_attributed_percent - 99.995).abs() < 1e-9);
        assert_eq!(r.experiments.len(), 2 + 2 * 4);
        assert_eq!(r.experiments[2].name, "fig11 own");
        assert_eq!(r.experiments[2].activities.len(), 2);
        let json = serde_json::to_value(&r).unwrap();
        assert!(json["summary"]["fig8_max_deviation_pp"].is_number());
        assert!(json["summary"]["fig11_attributed_percent"].is_number());
        assert!(
            report_from(&samples[..6], "x").is_err(),
            "the four-thread run is missing"
        );
    }
}
