//! What the Linux baseline's samples mean: the memory rows (`mem-<mode>
//! <pages>`) and, per object kind, the teardown cost as a line through the
//! medians over N (`kill-<kind> <N>`, least squares), with the fixed cost of
//! killing a process that made nothing (`kill-empty 0`). These are the
//! figures `bench mm` and `bench teardown` divide Keel's by.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::bench::Measurement;

/// How the memory was mapped (the C program's `mem-<mode>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemoryMode {
    /// `mmap`, a write to every page (each faults it in), `munmap`: Keel's
    /// immediate mode's counterpart in the figures.
    Immediate,
    /// The same with `MAP_POPULATE`: mapped before `mmap` returns.
    Populate,
    /// Reserved `PROT_NONE`, made read-write with `mprotect`, then faulted
    /// in by the writes: Keel's delayed mode's counterpart.
    Delayed,
}

impl MemoryMode {
    /// Every mode, in the order the tables list them.
    pub const ALL: [MemoryMode; 3] = [
        MemoryMode::Immediate,
        MemoryMode::Populate,
        MemoryMode::Delayed,
    ];

    fn sample_name(self) -> &'static str {
        match self {
            MemoryMode::Immediate => "mem-immediate",
            MemoryMode::Populate => "mem-populate",
            MemoryMode::Delayed => "mem-delayed",
        }
    }
}

/// The page counts of the memory rows.
pub const PAGE_COUNTS: [u64; 3] = [1, 16, 256];

/// What the killed process held N of (the C program's `kill-<kind>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectKind {
    /// eventfds (the counterpart of notifications).
    Eventfd,
    /// pipes, two descriptors each (endpoints).
    Pipe,
    /// AF_UNIX stream socket pairs (endpoints, both ends).
    Socketpair,
    /// one-page mappings never touched (reserved areas).
    Vma,
    /// one-page mappings each touched (mapped frames).
    Mapping,
    /// touched pages of one mapping.
    Page,
    /// threads asleep in `pause()`.
    Thread,
}

impl ObjectKind {
    /// Every kind, in the order the tables list them.
    pub const ALL: [ObjectKind; 7] = [
        ObjectKind::Eventfd,
        ObjectKind::Pipe,
        ObjectKind::Socketpair,
        ObjectKind::Vma,
        ObjectKind::Mapping,
        ObjectKind::Page,
        ObjectKind::Thread,
    ];

    fn sample_name(self) -> &'static str {
        match self {
            ObjectKind::Eventfd => "kill-eventfd",
            ObjectKind::Pipe => "kill-pipe",
            ObjectKind::Socketpair => "kill-socketpair",
            ObjectKind::Vma => "kill-vma",
            ObjectKind::Mapping => "kill-mapping",
            ObjectKind::Page => "kill-page",
            ObjectKind::Thread => "kill-thread",
        }
    }
}

/// The sample name of the process that made nothing.
const EMPTY: &str = "kill-empty";

/// One memory row: the median cost of one map, touch and unmap.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemoryRow {
    /// How the pages were mapped.
    pub mode: MemoryMode,
    /// Pages per operation.
    pub pages: u64,
    /// Median guest instructions per operation.
    pub instructions: f64,
}

/// Linux's memory figures on one architecture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemoryBaseline {
    /// The kernel measured (`6.1.0-57-amd64 (6.1.192-3)`).
    pub kernel: String,
    /// Every mode at every page count.
    pub rows: Vec<MemoryRow>,
}

impl MemoryBaseline {
    /// Median instructions for one operation of `pages` pages in `mode`.
    pub fn instructions(&self, mode: MemoryMode, pages: u64) -> Option<f64> {
        self.rows
            .iter()
            .find(|r| r.mode == mode && r.pages == pages)
            .map(|r| r.instructions)
    }
}

/// One object kind's teardown cost against N.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KindFit {
    /// What the process held.
    pub kind: ObjectKind,
    /// Instructions per further object: the slope of the least-squares line.
    pub per_object: f64,
    /// The line's value at N = 0 (compare with the measured fixed cost).
    pub intercept: f64,
    /// The medians the line was fitted to, as (N, instructions).
    pub points: Vec<(u64, f64)>,
}

/// Linux's teardown figures on one architecture: SIGKILL to `waitpid`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TeardownBaseline {
    /// The kernel measured (`6.1.0-57-amd64 (6.1.192-3)`).
    pub kernel: String,
    /// Median instructions to kill and reap a process that made nothing.
    pub fixed: f64,
    /// Every object kind's slope.
    pub kinds: Vec<KindFit>,
}

impl TeardownBaseline {
    /// The fit of `kind`.
    pub fn kind(&self, kind: ObjectKind) -> Option<&KindFit> {
        self.kinds.iter().find(|k| k.kind == kind)
    }

    /// Instructions per further object of `kind`.
    pub fn per_object(&self, kind: ObjectKind) -> Option<f64> {
        self.kind(kind).map(|k| k.per_object)
    }
}

/// The least-squares line through `points`: (intercept, slope).
///
/// # Errors
/// Fewer than two distinct x values.
pub fn fit_line(points: &[(f64, f64)]) -> Result<(f64, f64)> {
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    if points.len() < 2 || sxx == 0.0 {
        bail!("a line needs points at two different N at least");
    }
    let slope = sxy / sxx;
    Ok((mean_y - slope * mean_x, slope))
}

/// The memory and teardown figures in `results` (medians of the C
/// program's samples), for the kernel named `kernel`.
///
/// # Errors
/// A row the program should have printed is missing: the run is incomplete.
pub fn interpret(
    results: &[Measurement],
    kernel: &str,
) -> Result<(MemoryBaseline, TeardownBaseline)> {
    let median = |name: &str, n: u64| {
        results
            .iter()
            .find(|m| m.name == name && m.n == Some(n))
            .map(|m| m.median)
            .with_context(|| format!("the Linux baseline printed no {name} {n}"))
    };
    let mut rows = Vec::new();
    for mode in MemoryMode::ALL {
        for pages in PAGE_COUNTS {
            rows.push(MemoryRow {
                mode,
                pages,
                instructions: median(mode.sample_name(), pages)?,
            });
        }
    }
    let mut kinds = Vec::new();
    for kind in ObjectKind::ALL {
        let points: Vec<(u64, f64)> = results
            .iter()
            .filter(|m| m.name == kind.sample_name())
            .filter_map(|m| Some((m.n?, m.median)))
            .collect();
        let xy: Vec<(f64, f64)> = points.iter().map(|&(n, y)| (n as f64, y)).collect();
        let (intercept, per_object) = fit_line(&xy).context(kind.sample_name())?;
        kinds.push(KindFit {
            kind,
            per_object,
            intercept,
            points,
        });
    }
    let memory = MemoryBaseline {
        kernel: kernel.to_string(),
        rows,
    };
    let teardown = TeardownBaseline {
        kernel: kernel.to_string(),
        fixed: median(EMPTY, 0)?,
        kinds,
    };
    Ok((memory, teardown))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, n: u64, median: f64) -> Measurement {
        let mut m = Measurement::from_samples(name, "instructions", &[median]);
        m.n = Some(n);
        m
    }

    #[test]
    fn fits_a_line() {
        let (a, b) = fit_line(&[(1.0, 12.0), (10.0, 30.0), (100.0, 210.0)]).unwrap();
        assert!((a - 10.0).abs() < 1e-9 && (b - 2.0).abs() < 1e-9, "{a} {b}");
        // Noise around y = 1000 + 3x: the slope stays near 3.
        let noisy = [
            (1.0, 1010.0),
            (10.0, 1020.0),
            (100.0, 1290.0),
            (1000.0, 4010.0),
        ];
        let (a, b) = fit_line(&noisy).unwrap();
        assert!(
            (b - 3.0).abs() < 0.02 && (a - 1000.0).abs() < 20.0,
            "{a} {b}"
        );
        assert!(fit_line(&[(5.0, 1.0), (5.0, 2.0)]).is_err());
        assert!(fit_line(&[(5.0, 1.0)]).is_err());
    }

    #[test]
    fn interprets_a_complete_run_and_refuses_an_incomplete_one() {
        let mut results = Vec::new();
        for mode in MemoryMode::ALL {
            for pages in PAGE_COUNTS {
                results.push(m(mode.sample_name(), pages, 1000.0 * pages as f64));
            }
        }
        results.push(m(EMPTY, 0, 73_000.0));
        for (i, kind) in ObjectKind::ALL.iter().enumerate() {
            for n in [1, 10, 100, 1000] {
                let per = 1000.0 * (i + 1) as f64;
                results.push(m(kind.sample_name(), n, 73_000.0 + per * n as f64));
            }
        }
        let (memory, teardown) = interpret(&results, "6.1.0-57-amd64 (6.1.192-3)").unwrap();
        assert_eq!(
            memory.instructions(MemoryMode::Populate, 16),
            Some(16_000.0)
        );
        assert_eq!(memory.rows.len(), 9);
        assert_eq!(teardown.fixed, 73_000.0);
        let page = teardown.kind(ObjectKind::Page).unwrap();
        assert!((page.per_object - 6000.0).abs() < 1e-6);
        assert!((page.intercept - 73_000.0).abs() < 1e-6);
        assert_eq!(page.points.len(), 4);
        assert_eq!(
            teardown.per_object(ObjectKind::Eventfd).map(f64::round),
            Some(1000.0)
        );

        let missing: Vec<Measurement> = results
            .iter()
            .filter(|r| r.name != EMPTY)
            .cloned()
            .collect();
        let e = interpret(&missing, "k").unwrap_err().to_string();
        assert!(e.contains("kill-empty 0"), "{e}");
        let one_n: Vec<Measurement> = results
            .iter()
            .filter(|r| r.name != "kill-thread" || r.n == Some(1))
            .cloned()
            .collect();
        assert!(interpret(&one_n, "k").is_err());
    }
}
