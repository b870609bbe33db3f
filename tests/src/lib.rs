//! keel-tests: Keel's on-target test suite, in the style of sel4test.
//!
//! The driver first prints `N tests registered` and the name of each (see
//! [`run`]), then runs each registered test and prints, for each,
//! `Starting test N: NAME` and then `Test NAME passed` or
//! `Test NAME FAILED: reason`, and a closing `Keel test summary: ...` line that
//! the build tool reads.
//!
//! As in sel4test, each test runs in a process of its own (the `test-runner`
//! program, see [`driver`] and [`protocol`]) with its own untyped memory,
//! CSpace and VSpace; the driver tears the process down after it and checks
//! that the memory came back. Tests that need what only the root task has
//! (the real BootInfo, IRQ or ASID control, the boot archive) are marked
//! [`Isolation::InRoot`] and run in the root task. Tests that must end in a
//! fault the kernel reports (and so end the boot) are *isolated*: in a full
//! run the driver only lists them, and the build tool boots each on its own
//! with the manifest naming it.
#![no_std]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

extern crate alloc;

pub(crate) mod cases;
mod child;
mod crowd;
pub mod driver;
mod process;
pub mod protocol;
mod support;
mod system;
mod thread;

pub use child::run_child;

use alloc::format;
use alloc::string::String;
use keel_abi::BootInfo;
use keel_rt::println;

/// What a test returns: `Err` carries the reason it failed.
pub type TestResult = Result<(), String>;

/// Whether a test shares the suite's boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isolation {
    /// Runs in the suite's boot, in a process of its own.
    Shared,
    /// Runs in the suite's boot, in the root task (it needs the root task's
    /// BootInfo or caps).
    InRoot,
    /// Ends its boot (a fault with no handler): runs in a boot of its own.
    OwnBoot,
    /// As [`Isolation::Shared`], in a process that holds no Debug cap: it
    /// cannot print (its report still reaches the driver), halt the system
    /// or turn the kernel's debug knobs.
    NoDebug,
}

/// One registered test.
pub struct Test {
    /// sel4test-style name: a category prefix and four digits.
    pub name: &'static str,
    /// What the test checks.
    pub description: &'static str,
    /// The test body.
    pub run: fn(&Env) -> TestResult,
    /// Whether it needs a boot of its own.
    pub isolation: Isolation,
}

/// What a test gets to work with. Resources a test takes through it (slots of
/// the root CNode's empty range, untyped capabilities) are given back by the
/// driver after the test, which then checks that nothing was left behind.
pub struct Env {
    /// The BootInfo of the program the test runs in: the kernel's, in the
    /// root task; the driver's, in a test process.
    pub boot_info: &'static BootInfo,
    name: &'static str,
    resources: support::Resources,
}

impl Env {
    /// Announces the kernel report an isolated test is about to cause; the
    /// build tool checks that the kernel prints it and then stays up.
    pub fn expect_kernel_report(&self, text: &str) {
        println!("Test {} expects kernel report: {}", self.name, text);
    }
}

/// Registers tests in one static table:
/// `NAME: "description" => function [, InRoot | OwnBoot | NoDebug];`.
#[macro_export]
macro_rules! test_cases {
    ($($name:ident : $desc:literal => $run:path $(, $isolation:ident)?;)*) => {
        /// Every on-target test, in run order.
        pub static TESTS: &[$crate::Test] = &[
            $($crate::Test {
                name: stringify!($name),
                description: $desc,
                run: $run,
                isolation: $crate::test_cases!(@isolation $($isolation)?),
            },)*
        ];
    };
    (@isolation) => { $crate::Isolation::Shared };
    (@isolation $isolation:ident) => { $crate::Isolation::$isolation };
}

/// Fails the test with a formatted reason unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($reason:tt)*) => {
        if !$cond {
            return Err(alloc::format!($($reason)*));
        }
    };
}
pub(crate) use ensure;

/// Runs the suite (or only the named tests), starting after `resume_after`
/// when given, and returns the exit status: 0 when every test that ran passed.
pub fn run(boot_info: &'static BootInfo, only: &[String], resume_after: Option<&str>) -> u32 {
    let tests = cases::TESTS;
    let first = resume_after
        .and_then(|name| tests.iter().position(|t| t.name == name))
        .map_or(0, |at| at + 1);
    register(tests, first, only);
    let driver = driver::Driver::new(boot_info);
    let (mut passed, mut failed, mut number) = (0u32, 0u32, 0u32);
    for name in only.iter().map(String::as_str).chain(resume_after) {
        if !tests.iter().any(|t| t.name == name) {
            println!("Test {name} FAILED: no test of that name is registered");
            failed += 1;
        }
    }
    for (index, test) in tests.iter().enumerate().skip(first) {
        if !selected(test, only) {
            continue;
        }
        if own_boot(test, only) {
            println!("Isolated test {}: runs in its own boot", test.name);
            continue;
        }
        number += 1;
        println!("Starting test {number}: {}", test.name);
        let result = match (&driver, test.isolation) {
            (Ok(d), Isolation::Shared) => d.run(index, true),
            (Ok(d), Isolation::NoDebug) => d.run(index, false),
            (Err(e), Isolation::Shared | Isolation::NoDebug) => {
                Err(format!("no test process: {e}"))
            }
            _ => run_here(boot_info, test),
        };
        match result {
            Ok(()) => {
                println!("Test {} passed", test.name);
                passed += 1;
            }
            Err(reason) => {
                println!("Test {} FAILED: {reason}", test.name);
                failed += 1;
            }
        }
    }
    println!("Keel test summary: {passed} passed, {failed} failed, 0 skipped");
    u32::from(failed != 0)
}

/// Whether `test` is among the tests `only` names (all, when it is empty).
fn selected(test: &Test, only: &[String]) -> bool {
    only.is_empty() || only.iter().any(|n| n.as_str() == test.name)
}

/// Whether `test` runs in a boot of its own in this run (a full run).
fn own_boot(test: &Test, only: &[String]) -> bool {
    only.is_empty() && test.isolation == Isolation::OwnBoot
}

/// Prints, before the first test, how many tests this boot registers and
/// their names: `Registered test NAME` for each it will run (the selected
/// ones from index `first` on), and in a full run `Registered own-boot test
/// NAME` for each of the table's own-boot tests. The build tool checks each
/// gets exactly one result.
fn register(tests: &[Test], first: usize, only: &[String]) {
    let here = || {
        tests
            .iter()
            .skip(first)
            .filter(|t| selected(t, only) && !own_boot(t, only))
    };
    let own = || tests.iter().filter(|t| own_boot(t, only));
    println!(
        "Keel on-target test suite: {} tests registered",
        here().count() + own().count()
    );
    for test in here() {
        println!("Registered test {}", test.name);
    }
    for test in own() {
        println!("Registered own-boot test {}", test.name);
    }
}

/// Runs `test` in this process (the root task, or a test process) with the
/// resources `boot_info` describes, then takes back what it used.
pub(crate) fn run_here(boot_info: &'static BootInfo, test: &Test) -> TestResult {
    let env = Env {
        boot_info,
        name: test.name,
        resources: support::Resources::new(boot_info),
    };
    // Resources come back whether the test passed or not, so one failure
    // does not cascade; a failed clean-up fails the test. A process without
    // the Debug cap cannot identify caps to check its empty slots; it takes
    // none, and the driver checks its memory came back.
    let result = (test.run)(&env);
    match test.isolation {
        Isolation::NoDebug => result,
        _ => result.and(env.resources.give_back()),
    }
}
