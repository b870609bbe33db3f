//! How the Linux baseline is shown: its plot (memory cost against pages per
//! mode, teardown cost against N per object kind, log-log) and its figures
//! beside the reference ones measured the same way on Debian's 6.1 kernel
//! (`/work/shared/linux-on-the-same-emulator.md`), where a figure far off
//! means the setup differs.

use super::{Baseline, MemoryBaseline, MemoryMode, ObjectKind, TeardownBaseline};
use crate::arch::Arch;
use crate::bench::plot::{Chart, Figure, Format, LineChart, Scale, Series};

/// A reference figure: what, and its value on (x86_64, aarch64).
struct Reference {
    what: &'static str,
    figure: fn(&MemoryBaseline, &TeardownBaseline) -> Option<f64>,
    x86_64: f64,
    aarch64: f64,
}

/// The figures measured on Debian's 6.1 kernel this way, in instructions.
const REFERENCES: [Reference; 7] = [
    Reference {
        what: "1 page mmap+touch+munmap",
        figure: |m, _| m.instructions(MemoryMode::Immediate, 1),
        x86_64: 29_000.0,
        aarch64: 22_000.0,
    },
    Reference {
        what: "16 pages mmap+touch+munmap",
        figure: |m, _| m.instructions(MemoryMode::Immediate, 16),
        x86_64: 92_000.0,
        aarch64: 86_000.0,
    },
    Reference {
        what: "256 pages mmap+touch+munmap",
        figure: |m, _| m.instructions(MemoryMode::Immediate, 256),
        x86_64: 1_100_000.0,
        aarch64: 1_100_000.0,
    },
    Reference {
        what: "SIGKILL of an empty process",
        figure: |_, t| Some(t.fixed),
        x86_64: 73_000.0,
        aarch64: 73_000.0,
    },
    Reference {
        what: "per eventfd",
        figure: |_, t| t.per_object(ObjectKind::Eventfd),
        x86_64: 1_950.0,
        aarch64: 2_650.0,
    },
    Reference {
        what: "per one-page mapping (touched)",
        figure: |_, t| t.per_object(ObjectKind::Mapping),
        x86_64: 3_360.0,
        aarch64: 3_690.0,
    },
    Reference {
        what: "per touched page",
        figure: |_, t| t.per_object(ObjectKind::Page),
        x86_64: 1_310.0,
        aarch64: 1_380.0,
    },
];

/// Prints the fitted slopes, then each reference figure beside the measured one.
pub fn print_against_reference(arch: Arch, memory: &MemoryBaseline, teardown: &TeardownBaseline) {
    println!(
        "\nteardown on Linux {} (SIGKILL to waitpid, least squares over N):",
        teardown.kernel
    );
    println!("{:<14} {:>14} {:>14}", "kind", "per object", "intercept");
    for k in &teardown.kinds {
        println!(
            "{:<14} {:>14.0} {:>14.0}",
            format!("{:?}", k.kind).to_lowercase(),
            k.per_object,
            k.intercept
        );
    }
    println!(
        "{:<14} {:>14} {:>14.0}",
        "empty process", "", teardown.fixed
    );
    println!("\nagainst the reference (Debian 6.1, same emulator and flags):");
    println!(
        "{:<32} {:>12} {:>12} {:>7}",
        "figure", "measured", "reference", "ratio"
    );
    for r in &REFERENCES {
        let reference = match arch {
            Arch::X86_64 => r.x86_64,
            Arch::Aarch64 => r.aarch64,
        };
        let measured = (r.figure)(memory, teardown).unwrap_or(f64::NAN);
        println!(
            "{:<32} {:>12.0} {:>12.0} {:>7.2}",
            r.what,
            measured,
            reference,
            measured / reference
        );
    }
}

/// The plot: memory against pages, teardown against N (two charts of kinds).
pub fn figure(arch: Arch, b: &Baseline) -> Figure {
    let log_log = |title: &str, x_label: &str, series: Vec<Series>| {
        Chart::Lines(LineChart {
            title: title.to_string(),
            note: Some(format!(
                "Linux {} under -icount (guest instructions)",
                b.memory.kernel
            )),
            x_label: x_label.to_string(),
            y_label: "instructions".to_string(),
            x_scale: Scale::Log,
            y_scale: Scale::Log,
            format: Format::COUNT,
            series,
        })
    };
    let memory: Vec<Series> = MemoryMode::ALL
        .iter()
        .map(|&mode| Series {
            name: format!("{mode:?}").to_lowercase(),
            points: b
                .memory
                .rows
                .iter()
                .filter(|r| r.mode == mode)
                .map(|r| (r.pages as f64, r.instructions))
                .collect(),
        })
        .collect();
    let kinds = |kinds: &[ObjectKind]| -> Vec<Series> {
        b.teardown
            .kinds
            .iter()
            .filter(|k| kinds.contains(&k.kind))
            .map(|k| Series {
                name: format!("{:?}: {:.0}/object", k.kind, k.per_object).to_lowercase(),
                points: k.points.iter().map(|&(n, y)| (n as f64, y)).collect(),
            })
            .collect()
    };
    let handles = [
        ObjectKind::Eventfd,
        ObjectKind::Pipe,
        ObjectKind::Socketpair,
        ObjectKind::Thread,
    ];
    let memory_kinds = [ObjectKind::Vma, ObjectKind::Mapping, ObjectKind::Page];
    Figure {
        title: format!("cargo xtask bench linux on {arch}"),
        charts: vec![
            log_log("mmap + touch every page + munmap", "pages", memory),
            log_log(
                "SIGKILL to waitpid of a process holding N descriptors or threads",
                "N",
                kinds(&handles),
            ),
            log_log(
                "SIGKILL to waitpid of a process holding N mappings or pages",
                "N",
                kinds(&memory_kinds),
            ),
        ],
    }
}
