//! JUnit XML for one architecture's on-target results (quick-junit): one
//! testsuite per architecture, one testcase per test, and the serial log as the
//! suite's system-out. Producing the results is `test.rs`'s job.

use std::path::Path;

use anyhow::{Context, Result};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::arch::Arch;
use crate::serial_log::{Status, TestResult};

/// The JUnit report for `arch`: its results and its serial log.
pub fn report(arch: Arch, results: &[TestResult], log: &str) -> Report {
    let mut suite = TestSuite::new(format!("keel-{arch}"));
    for r in results {
        let status = match &r.status {
            Status::Passed => TestCaseStatus::success(),
            Status::Failed(reason) => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(reason.as_str());
                s
            }
            Status::Skipped(reason) => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(reason.as_str());
                s
            }
        };
        let mut case = TestCase::new(r.name.as_str(), status);
        case.set_classname(format!("keel.{arch}"));
        suite.add_test_case(case);
    }
    suite.set_system_out_lossy(log);
    let mut report = Report::new("keel");
    report.add_test_suite(suite);
    report
}

/// Writes the report for `arch` to `path`.
///
/// # Errors
/// If serialising or writing fails.
pub fn write(path: &Path, arch: Arch, results: &[TestResult], log: &str) -> Result<()> {
    let xml = report(arch, results, log)
        .to_string()
        .context("could not serialise the JUnit report")?;
    std::fs::write(path, xml).with_context(|| format!("could not write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_has_one_case_per_test() {
        let results = [
            TestResult {
                name: "A0001".into(),
                status: Status::Passed,
            },
            TestResult {
                name: "B0001".into(),
                status: Status::Failed("x != y".into()),
            },
            TestResult {
                name: "C0001".into(),
                status: Status::Skipped("no SMP".into()),
            },
        ];
        let xml = report(Arch::Aarch64, &results, "Starting test 1: A0001")
            .to_string()
            .unwrap();
        assert!(
            xml.contains(
                r#"<testsuite name="keel-aarch64" tests="3" skipped="1" errors="0" failures="1""#
            ),
            "{xml}"
        );
        assert!(xml.contains(r#"<failure message="x != y""#), "{xml}");
        assert!(
            xml.contains("<system-out>Starting test 1: A0001</system-out>"),
            "{xml}"
        );
    }
}
