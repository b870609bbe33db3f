//! Reading the on-target test suite's serial output (sel4test's format) and
//! judging it: which tests passed, failed or were skipped, which must run in a
//! boot of their own, whether an isolated test's expected kernel fault report
//! appeared, and whether every registered test reported exactly once. Pure
//! functions over lines; booting QEMU is `test.rs`'s job.
//!
//! Markers, each at the start of a line (leading spaces ignored):
//! `Keel on-target test suite: N tests registered`, `Registered test NAME`,
//! `Registered own-boot test NAME`, `Starting test N: NAME`, `Test NAME passed`, `Test NAME FAILED: reason`,
//! `Test NAME skipped: reason`, `Isolated test NAME: runs in its own boot`,
//! `Test NAME expects kernel report: TEXT`, `Test NAME types: TEXT` (the
//! build tool types TEXT and a newline into the serial input, see
//! [`typed_input`]), `Test NAME expects burst: N` (the next N lines starting
//! `burst ` must be keel-protocols' `burst_line(0..N)`, see
//! [`SuiteLog::host_verdicts`]), `Test NAME expects echo: TEXT` (a later
//! line before the test's result must be TEXT: what the serial server
//! echoed of typed input; in TEXT, as in typed TEXT, `\b` stands for a
//! backspace byte and `\\` for a backslash, see [`unescape`]) and
//! `Keel test summary: P passed, F failed, S skipped`. The kernel's own lines
//! `KEEL: fault ...` and `KEEL: idle` may appear anywhere in a line.

use std::collections::{BTreeMap, HashMap};

use keel_protocols::serial::burst_line;

/// How many log lines a "no result" failure quotes.
const QUOTED_LINES: usize = 5;
/// What the kernel prints when no thread is left to run.
pub const KERNEL_IDLE: &str = "KEEL: idle";

/// The outcome of one test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// It passed.
    Passed,
    /// It failed, with the reason.
    Failed(String),
    /// It was skipped, with the reason.
    Skipped(String),
}

/// One test and its outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestResult {
    /// The test's name, e.g. `CNODEOP0001`.
    pub name: String,
    /// Its outcome.
    pub status: Status,
}

/// The driver's closing counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Tests passed.
    pub passed: u32,
    /// Tests failed.
    pub failed: u32,
    /// Tests skipped.
    pub skipped: u32,
}

/// What one suite boot's serial log says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SuiteLog {
    /// Whether the suite started at all (a `Starting test` or summary line appeared).
    pub reached: bool,
    /// Every test that started or reported, in order of first appearance.
    pub results: Vec<TestResult>,
    /// Tests that must run in a boot of their own.
    pub isolated: Vec<String>,
    /// The driver's summary line, if it got that far.
    pub summary: Option<Summary>,
    /// The count of the driver's `N tests registered` line, if printed.
    pub registered_count: Option<u32>,
    /// The tests the driver said this boot runs, in order.
    pub registered: Vec<String>,
    /// The table's own-boot tests, as the driver listed them.
    pub own_boot: Vec<String>,
    /// Tests that reported a second (or later) result in this boot, once per
    /// extra result.
    pub repeated: Vec<String>,
    /// Tests that passed on the target but whose burst of output or echo
    /// came out wrong on the serial line, with what was wrong: the host's
    /// verdict, which overrides the driver's.
    pub host_verdicts: Vec<TestResult>,
}

/// What the host checks on the serial line after a marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Check<'a> {
    Burst(u32),
    Echo(&'a str),
}

/// A recognised marker line.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Marker<'a> {
    Count(u32),
    Registered(&'a str),
    OwnBoot(&'a str),
    Starting(&'a str),
    Result(&'a str, Status),
    Expects(&'a str, &'a str),
    Types(&'a str),
    HostCheck(&'a str, Check<'a>),
    Isolated(&'a str),
    Summary(Summary),
}

fn marker(line: &str) -> Option<Marker<'_>> {
    let line = line.trim();
    if let Some(rest) = line.strip_prefix("Keel on-target test suite:") {
        let count = rest.trim().strip_suffix("tests registered")?;
        return count.trim().parse().ok().map(Marker::Count);
    }
    if let Some(name) = line.strip_prefix("Registered own-boot test ") {
        return Some(Marker::OwnBoot(name.trim()));
    }
    if let Some(name) = line.strip_prefix("Registered test ") {
        return Some(Marker::Registered(name.trim()));
    }
    if let Some(rest) = line.strip_prefix("Starting test ") {
        let (number, name) = rest.split_once(':')?;
        number.trim().parse::<u32>().ok()?;
        let name = name.trim();
        return (!name.is_empty()).then_some(Marker::Starting(name));
    }
    if let Some(rest) = line.strip_prefix("Isolated test ") {
        let (name, _) = rest.split_once(':')?;
        return Some(Marker::Isolated(name.trim()));
    }
    if let Some(rest) = line.strip_prefix("Keel test summary:") {
        return parse_summary(rest).map(Marker::Summary);
    }
    let (name, rest) = line.strip_prefix("Test ")?.split_once(' ')?;
    if rest == "passed" {
        return Some(Marker::Result(name, Status::Passed));
    }
    if let Some(reason) = after_word(rest, "FAILED") {
        return Some(Marker::Result(name, Status::Failed(reason.to_string())));
    }
    if let Some(reason) = after_word(rest, "skipped") {
        return Some(Marker::Result(name, Status::Skipped(reason.to_string())));
    }
    if let Some(text) = rest.strip_prefix("types:") {
        return Some(Marker::Types(text.trim()));
    }
    if let Some(text) = rest.strip_prefix("expects echo:") {
        return Some(Marker::HostCheck(name, Check::Echo(text.trim())));
    }
    if let Some(count) = rest.strip_prefix("expects burst:") {
        return count
            .trim()
            .parse()
            .ok()
            .map(|n| Marker::HostCheck(name, Check::Burst(n)));
    }
    let text = rest.strip_prefix("expects kernel report:")?.trim();
    Some(Marker::Expects(name, text))
}

/// The text a test asks the build tool to type into the serial input, from
/// its `Test NAME types: TEXT` line, unescaped.
pub fn typed_input(line: &str) -> Option<String> {
    match marker(line) {
        Some(Marker::Types(text)) => Some(unescape(text)),
        _ => None,
    }
}

/// A marker's TEXT as bytes on the serial line: `\b` is a backspace
/// (`\x08`), `\\` a backslash; any other character stands for itself.
pub fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (c, chars.clone().next()) {
            ('\\', Some('b')) => out.push('\x08'),
            ('\\', Some('\\')) => out.push('\\'),
            _ => {
                out.push(c);
                continue;
            }
        }
        chars.next();
    }
    out
}

/// What is wrong with the echo of typed `text` in `after` (the lines after
/// the test's `expects echo` line, up to its result), if anything: a line
/// must be exactly the text (what the test writes back may hold it too).
fn check_echo(text: &str, after: &[String]) -> Option<String> {
    let want = unescape(text);
    match after.contains(&want) {
        true => None,
        false => Some(format!("the echo {want:?} of typed input never came out")),
    }
}

/// What is wrong with the burst of `count` lines that follows a test's
/// `expects burst` line in `after`, if anything: the lines starting
/// `burst ` must be `burst_line(0..count)`, in order, none missing, torn
/// or repeated.
fn check_burst(count: u32, after: &[String]) -> Option<String> {
    let mut got = after
        .iter()
        .filter(|l| l.trim_start().starts_with("burst "));
    for i in 0..count {
        let want = burst_line(i);
        let want = String::from_utf8_lossy(&want[..want.len() - 1]);
        match got.next() {
            Some(line) if line.trim() == want => {}
            Some(line) => {
                return Some(format!(
                    "burst line {i} of {count} came out as {line:?}, not {want:?}"
                ))
            }
            None => return Some(format!("the burst ended after {i} of {count} lines")),
        }
    }
    got.next()
        .map(|extra| format!("the burst had more than {count} lines: {extra:?}"))
}

/// `word` alone, or `word: reason`; returns the (possibly empty) reason.
fn after_word<'a>(rest: &'a str, word: &str) -> Option<&'a str> {
    let after = rest.strip_prefix(word)?;
    if after.is_empty() {
        return Some("");
    }
    after.strip_prefix(':').map(str::trim)
}

/// Parses ` P passed, F failed, S skipped`.
fn parse_summary(rest: &str) -> Option<Summary> {
    let mut counts = [None; 3];
    for part in rest.split(',') {
        let (n, word) = part.trim().split_once(' ')?;
        let slot = ["passed", "failed", "skipped"]
            .iter()
            .position(|w| *w == word)?;
        counts[slot] = Some(n.parse().ok()?);
    }
    Some(Summary {
        passed: counts[0]?,
        failed: counts[1]?,
        skipped: counts[2].unwrap_or(0),
    })
}

/// Reads a suite boot's serial log. A test that started but printed no result is
/// failed with "no result" and the last lines it printed; a second result is
/// listed in [`SuiteLog::repeated`] (the first counts).
pub fn parse_suite(lines: &[String]) -> SuiteLog {
    let mut log = SuiteLog {
        reached: false,
        results: Vec::new(),
        isolated: Vec::new(),
        summary: None,
        registered_count: None,
        registered: Vec::new(),
        own_boot: Vec::new(),
        repeated: Vec::new(),
        host_verdicts: Vec::new(),
    };
    let mut order: Vec<&str> = Vec::new();
    let mut status: HashMap<&str, Status> = HashMap::new();
    let mut started_at: HashMap<&str, usize> = HashMap::new();
    let mut starts: Vec<usize> = Vec::new();
    let mut checks: Vec<(&str, usize, Check)> = Vec::new();
    let mut result_at: HashMap<&str, usize> = HashMap::new();
    for (i, line) in lines.iter().enumerate() {
        match marker(line) {
            Some(Marker::Count(n)) => log.registered_count = Some(n),
            Some(Marker::Registered(name)) => log.registered.push(name.to_string()),
            Some(Marker::OwnBoot(name)) => log.own_boot.push(name.to_string()),
            Some(Marker::Starting(name)) => {
                starts.push(i);
                started_at.entry(name).or_insert(i);
                if !order.contains(&name) {
                    order.push(name);
                }
            }
            Some(Marker::Result(name, s)) => {
                if !order.contains(&name) {
                    order.push(name);
                }
                if status.contains_key(name) {
                    log.repeated.push(name.to_string());
                } else {
                    status.insert(name, s);
                    result_at.insert(name, i);
                }
            }
            Some(Marker::Isolated(name)) if !log.isolated.iter().any(|n| n == name) => {
                log.isolated.push(name.to_string());
            }
            Some(Marker::Summary(s)) => log.summary = Some(s),
            Some(Marker::HostCheck(name, check)) => checks.push((name, i, check)),
            _ => {}
        }
    }
    for (name, at, check) in checks {
        let (Some(Status::Passed), Some(&end)) = (status.get(name), result_at.get(name)) else {
            continue;
        };
        let after = lines.get(at + 1..end).unwrap_or_default();
        let wrong = match check {
            Check::Burst(count) => check_burst(count, after),
            Check::Echo(text) => check_echo(text, after),
        };
        if let Some(wrong) = wrong {
            log.host_verdicts.push(TestResult {
                name: name.to_string(),
                status: Status::Failed(wrong),
            });
        }
    }
    log.results = order
        .into_iter()
        .map(|name| {
            let status = status.remove(name).unwrap_or_else(|| {
                let from = started_at[name];
                let to = starts
                    .iter()
                    .copied()
                    .find(|&s| s > from)
                    .unwrap_or(lines.len());
                no_result(&lines[from + 1..to])
            });
            TestResult {
                name: name.to_string(),
                status,
            }
        })
        .collect();
    log.reached = !starts.is_empty() || log.summary.is_some();
    log
}

/// What is wrong with a run taken as a whole, across its suite boots (one,
/// or more when the tool resumed the suite after a hung test) and the
/// own-boot tests the tool booted (`own_boot_ran`): a boot that printed no
/// `N tests registered` or listed another number of tests, a registered test
/// with no result, a test that reported more than once, a passing result
/// for a test no boot registered, a driver summary whose counts disagree
/// with the results its boot printed, and own-boot tests run that differ
/// from the table's. One message per problem, naming the tests.
pub fn judge_run(boots: &[SuiteLog], own_boot_ran: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut registered: Vec<&str> = Vec::new();
    let mut own_boot: Vec<&str> = Vec::new();
    let mut reports: BTreeMap<&str, usize> = BTreeMap::new();
    for (n, boot) in boots.iter().enumerate() {
        let which = format!("suite boot {}", n + 1);
        let listed = boot.registered.len() + boot.own_boot.len();
        match boot.registered_count {
            None if boot.reached => problems.push(format!(
                "{which}: the driver never printed `N tests registered`"
            )),
            Some(count) if count as usize != listed => problems.push(format!(
                "{which}: the driver said {count} tests registered but listed {listed}"
            )),
            _ => {}
        }
        registered.extend(boot.registered.iter().map(String::as_str));
        own_boot.extend(boot.own_boot.iter().map(String::as_str));
        let names = boot.results.iter().map(|r| r.name.as_str());
        for name in names.chain(boot.repeated.iter().map(String::as_str)) {
            *reports.entry(name).or_default() += 1;
        }
        if let Some(s) = boot.summary {
            let count =
                |f: fn(&Status) -> bool| boot.results.iter().filter(|r| f(&r.status)).count();
            let seen = (
                count(|s| *s == Status::Passed),
                count(|s| matches!(s, Status::Failed(_))),
                count(|s| matches!(s, Status::Skipped(_))),
            );
            if seen != (s.passed as usize, s.failed as usize, s.skipped as usize) {
                problems.push(format!(
                    "{which}: the driver's summary says {} passed, {} failed, {} skipped, \
                     but the log shows {} passed, {} failed, {} skipped",
                    s.passed, s.failed, s.skipped, seen.0, seen.1, seen.2
                ));
            }
        }
    }
    let missing: Vec<&str> = unique(&registered)
        .into_iter()
        .filter(|n| !reports.contains_key(n))
        .collect();
    if !missing.is_empty() {
        problems.push(format!("registered but no result: {}", missing.join(", ")));
    }
    let twice: Vec<String> = reports
        .iter()
        .filter(|(_, &n)| n > 1)
        .map(|(name, n)| format!("{name} ({n} results)"))
        .collect();
    if !twice.is_empty() {
        problems.push(format!("reported more than once: {}", twice.join(", ")));
    }
    let unregistered: Vec<&str> = boots
        .iter()
        .flat_map(|b| &b.results)
        .filter(|r| {
            !matches!(r.status, Status::Failed(_)) && !registered.contains(&r.name.as_str())
        })
        .map(|r| r.name.as_str())
        .collect();
    if !unregistered.is_empty() {
        problems.push(format!(
            "results for tests no boot registered: {}",
            unique(&unregistered).join(", ")
        ));
    }
    let ran: Vec<&str> = own_boot_ran.iter().map(String::as_str).collect();
    let table = unique(&own_boot);
    let not_run: Vec<&str> = table.iter().copied().filter(|n| !ran.contains(n)).collect();
    let extra: Vec<&str> = unique(&ran)
        .into_iter()
        .filter(|n| !table.contains(n))
        .collect();
    if !not_run.is_empty() || !extra.is_empty() {
        problems.push(format!(
            "the own-boot tests run differ from the table's: not run: [{}]; not own-boot tests: [{}]",
            not_run.join(", "),
            extra.join(", ")
        ));
    }
    problems
}

/// `names` without repeats, in order of first appearance.
fn unique<'a>(names: &[&'a str]) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for &n in names {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

/// The test that started last in `lines` and printed no result: the one that
/// was running when the output stopped.
pub fn unfinished(lines: &[String]) -> Option<&str> {
    let mut running = None;
    for line in lines {
        match marker(line) {
            Some(Marker::Starting(name)) => running = Some(name),
            Some(Marker::Result(name, _)) if running == Some(name) => running = None,
            _ => {}
        }
    }
    running
}

fn no_result(after_start: &[String]) -> Status {
    if after_start.is_empty() {
        return Status::Failed("no result; nothing was printed after it started".into());
    }
    let from = after_start.len().saturating_sub(QUOTED_LINES);
    Status::Failed(format!(
        "no result; last lines: {}",
        after_start[from..].join(" | ")
    ))
}

/// Watches an isolated test's boot, line by line, for its verdict.
///
/// The test passes when, after `Test NAME expects kernel report: TEXT`, a line
/// holding both `KEEL: fault` and TEXT appears and then a line holding
/// `KEEL: idle`. A `Test NAME passed/FAILED/skipped` line from the driver decides
/// the test as it says.
#[derive(Clone, Debug)]
pub struct IsolatedWatch {
    name: String,
    started: bool,
    expected: Option<String>,
    fault_seen: bool,
    other_fault: Option<String>,
    verdict: Option<Status>,
}

impl IsolatedWatch {
    /// A watch for the test `name`.
    pub fn new(name: &str) -> Self {
        IsolatedWatch {
            name: name.to_string(),
            started: false,
            expected: None,
            fault_seen: false,
            other_fault: None,
            verdict: None,
        }
    }

    /// Takes the next serial line; returns true once the verdict is known.
    pub fn feed(&mut self, line: &str) -> bool {
        if self.verdict.is_some() {
            return true;
        }
        match marker(line) {
            Some(Marker::Starting(name)) if name == self.name => self.started = true,
            Some(Marker::Result(name, status)) if name == self.name => {
                self.verdict = Some(status);
            }
            Some(Marker::Expects(name, text)) if name == self.name => {
                self.expected = Some(text.to_string());
            }
            _ => self.watch_kernel(line),
        }
        self.verdict.is_some()
    }

    fn watch_kernel(&mut self, line: &str) {
        let Some(text) = &self.expected else {
            return;
        };
        if !self.fault_seen && line.contains("KEEL: fault") {
            if line.contains(text.as_str()) {
                self.fault_seen = true;
            } else {
                self.other_fault
                    .get_or_insert_with(|| line.trim().to_string());
            }
        } else if line.contains(KERNEL_IDLE) {
            self.verdict = Some(if self.fault_seen {
                Status::Passed
            } else {
                Status::Failed(self.missing_fault(text))
            });
        }
    }

    fn missing_fault(&self, text: &str) -> String {
        match &self.other_fault {
            Some(line) => {
                format!("the kernel's fault report does not contain \"{text}\"; it was: {line}")
            }
            None => format!("no `KEEL: fault` line containing \"{text}\""),
        }
    }

    /// The verdict: the one reached, or a failure naming what never appeared.
    pub fn finish(&self) -> Status {
        if let Some(v) = &self.verdict {
            return v.clone();
        }
        let name = &self.name;
        let missing = match &self.expected {
            _ if !self.started => format!("the boot never reached `Starting test 1: {name}`"),
            None => format!("the driver never printed `Test {name} expects kernel report: ...`"),
            Some(text) if !self.fault_seen => self.missing_fault(text),
            Some(_) => "no `KEEL: idle` line after the kernel's fault report".to_string(),
        };
        Status::Failed(missing)
    }
}

#[cfg(test)]
#[path = "serial_log_tests.rs"]
mod tests;
