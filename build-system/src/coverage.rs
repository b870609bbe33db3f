//! The map from Keel's on-target suite to sel4test's (`cargo xtask coverage`
//! and its `cargo test` check). Keel's tests reuse sel4test's prefixes with
//! their own numbers, so a name says nothing about the sel4test test; instead
//! every description in `tests/src/cases/mod.rs` ends with a tag:
//!
//! - `(sel4test: NAME)`: the test checks NAME's behaviour, all of it or, where
//!   NAME's assertions are split over several Keel tests that each name it
//!   this way, its share of it;
//! - `(sel4test: partial NAME)`: it checks part of NAME's behaviour (when no
//!   test names NAME plainly, COVERAGE.md's Note says what no test checks);
//! - `(sel4test: none)`: sel4test has no counterpart.
//!
//! A tag may list several, `(sel4test: NAME, partial OTHER)`. NAMEs are those of
//! `tests/sel4test-names.txt`. A sel4test test is then *full* when some test
//! names it plainly, *partial* when only `partial` tags name it and *none*
//! otherwise; `tests/COVERAGE.md` is written from that, keeping the one column
//! people write (each row's Note), and `cargo test` fails when it is stale.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use anyhow::{bail, Context, Result};

use render::{notes_of, render, stale};

mod render;

/// The test table, relative to the repository root.
pub const TABLE: &str = "tests/src/cases/mod.rs";
/// sel4test's test names, relative to the repository root.
pub const NAMES: &str = "tests/sel4test-names.txt";
/// The coverage table this module writes, relative to the repository root.
pub const COVERAGE: &str = "tests/COVERAGE.md";
/// How many sel4test tests apply to Keel (the conformance reading's count).
pub const APPLIES: usize = 140;
/// How many do not (non-MCS, SMP, hardware debug, virtualisation, ...).
pub const DOES_NOT_APPLY: usize = 90;

const APPLIES_HEADER: &str = "[applies]";
const DOES_NOT_APPLY_HEADER: &str = "[does not apply]";
const TAG_OPEN: &str = "(sel4test: ";
const TAG_FORMS: &str = "`(sel4test: NAME)`, `(sel4test: partial NAME)` or `(sel4test: none)` \
     (several: `(sel4test: NAME, partial OTHER)`)";

/// How much of a sel4test test Keel checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// Some Keel test checks all of it, or several do between them.
    Full,
    /// Keel tests check part of it.
    Partial,
    /// No Keel test checks it.
    None,
}

impl Verdict {
    fn word(self) -> &'static str {
        match self {
            Verdict::Full => "full",
            Verdict::Partial => "partial",
            Verdict::None => "none",
        }
    }
}

/// sel4test's test names from `tests/sel4test-names.txt`, in file order.
#[derive(Debug)]
pub struct Names {
    /// The tests that apply, scored in COVERAGE.md.
    pub applies: Vec<String>,
    /// The tests that do not apply; a tag may still name one.
    pub does_not_apply: Vec<String>,
}

/// Reads `tests/sel4test-names.txt`: `#` comments, then the `[applies]` and
/// `[does not apply]` sections, one name a line.
pub fn parse_names(text: &str) -> Result<Names, Vec<String>> {
    let mut names = Names {
        applies: Vec::new(),
        does_not_apply: Vec::new(),
    };
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    let mut section: Option<&mut Vec<String>> = None;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line == APPLIES_HEADER {
            section = Some(&mut names.applies);
        } else if line == DOES_NOT_APPLY_HEADER {
            section = Some(&mut names.does_not_apply);
        } else if !is_name(line) {
            errors.push(format!(
                "{NAMES}:{}: `{line}` is not a test name (capitals, digits and `_` only)",
                n + 1
            ));
        } else if !seen.insert(line.to_string()) {
            errors.push(format!("{NAMES}:{}: {line} is listed twice", n + 1));
        } else if let Some(list) = section.as_deref_mut() {
            list.push(line.to_string());
        } else {
            errors.push(format!(
                "{NAMES}:{}: {line} comes before the `{APPLIES_HEADER}` line",
                n + 1
            ));
        }
    }
    for (list, header, want) in [
        (&names.applies, APPLIES_HEADER, APPLIES),
        (&names.does_not_apply, DOES_NOT_APPLY_HEADER, DOES_NOT_APPLY),
    ] {
        if list.len() != want {
            errors.push(format!(
                "{NAMES}: `{header}` lists {} names; sel4test has {want} there",
                list.len()
            ));
        }
    }
    if errors.is_empty() {
        Ok(names)
    } else {
        Err(errors)
    }
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// One Keel test and what its tag says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeelTest {
    /// Its name, e.g. `IPC0001`.
    pub name: String,
    /// The sel4test tests it names, with `Full` for a plain name and
    /// `Partial` for `partial NAME`; empty for `none`.
    pub checks: Vec<(String, Verdict)>,
}

/// Reads the tag of every test in the test table (`tests/src/cases/mod.rs`).
/// The errors say, with the line, what to change.
pub fn parse_table(text: &str, names: &Names) -> Result<Vec<KeelTest>, Vec<String>> {
    let known: HashSet<&str> = names
        .applies
        .iter()
        .chain(&names.does_not_apply)
        .map(String::as_str)
        .collect();
    let mut tests: Vec<KeelTest> = Vec::new();
    let mut registered = HashSet::new();
    let mut errors = Vec::new();
    let mut lines = text.lines().enumerate();
    if !lines.any(|(_, l)| l.trim_start().starts_with("crate::test_cases!")) {
        return Err(vec![format!("{TABLE}: no `crate::test_cases!` table")]);
    }
    for (n, line) in lines {
        let line = line.trim();
        if line == "}" {
            break;
        }
        if line.is_empty() || line.starts_with("//") {
            continue;
        }
        let at = format!("{TABLE}:{}", n + 1);
        let Some((name, description)) = entry(line) else {
            errors.push(format!(
                "{at}: not a `NAME: \"description\" => function;` line, each test on one line: {line}"
            ));
            continue;
        };
        if !registered.insert(name) {
            errors.push(format!(
                "{at}: {name} is registered twice; give one of them a number not yet used"
            ));
        }
        match parse_tag(description, &known) {
            Ok(checks) => tests.push(KeelTest {
                name: name.to_string(),
                checks,
            }),
            Err(e) => errors.push(format!("{at}: {name}'s description {e}")),
        }
    }
    if errors.is_empty() {
        Ok(tests)
    } else {
        Err(errors)
    }
}

/// Splits a table line `NAME: "description" => path[, isolation];`.
fn entry(line: &str) -> Option<(&str, &str)> {
    let (name, rest) = line.split_once(": \"")?;
    let (description, _) = rest.rsplit_once("\" =>")?;
    is_name(name).then_some((name, description))
}

/// Reads the tag ending `description`.
fn parse_tag(description: &str, known: &HashSet<&str>) -> Result<Vec<(String, Verdict)>, String> {
    let inner = description
        .rfind(TAG_OPEN)
        .map(|at| &description[at + TAG_OPEN.len()..])
        .and_then(|tail| tail.strip_suffix(')'))
        .ok_or_else(|| format!("does not end with a tag: end it with {TAG_FORMS}"))?;
    if inner == "none" {
        return Ok(Vec::new());
    }
    let mut checks: Vec<(String, Verdict)> = Vec::new();
    for item in inner.split(", ") {
        let (name, verdict) = match item.strip_prefix("partial ") {
            Some(name) => (name, Verdict::Partial),
            None => (item, Verdict::Full),
        };
        if !known.contains(name) {
            return Err(format!(
                "names `{name}` in its tag, which {NAMES} does not list{}; write a name \
                 as sel4test writes it, in one of the forms {TAG_FORMS}",
                suggestion(name, known)
            ));
        }
        if checks.iter().any(|(n, _)| n == name) {
            return Err(format!("names {name} twice in its tag; keep one"));
        }
        checks.push((name.to_string(), verdict));
    }
    Ok(checks)
}

/// ` (did you mean X?)` when `name` is a listed name but for `_` and leading
/// zeros (Keel writes SCHED_CONTEXT0003 where sel4test writes SCHED_CONTEXT_0003).
fn suggestion(name: &str, known: &HashSet<&str>) -> String {
    let squash = |s: &str| {
        let prefix: String = s.chars().filter(|c| c.is_ascii_uppercase()).collect();
        let number = s.trim_start_matches(|c: char| !c.is_ascii_digit());
        format!("{prefix}{}", number.trim_start_matches('0'))
    };
    let want = squash(name);
    let mut near: Vec<&str> = known
        .iter()
        .copied()
        .filter(|k| squash(k) == want)
        .collect();
    near.sort_unstable();
    match near.first() {
        Some(k) => format!(" (did you mean {k}?)"),
        None => String::new(),
    }
}

/// One row of COVERAGE.md: a sel4test test, its verdict, the Keel tests that
/// name it and the row's Note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// The sel4test test.
    pub sel4test: String,
    /// How much of it Keel checks.
    pub verdict: Verdict,
    /// The Keel tests whose tags name it, in table order.
    pub keel: Vec<String>,
    /// What people wrote about it (what is not checked, or why).
    pub note: String,
}

/// The rows for `sel4test` names, from the tags of `tests`, with `notes`.
pub fn rows(sel4test: &[String], tests: &[KeelTest], notes: &HashMap<String, String>) -> Vec<Row> {
    sel4test
        .iter()
        .map(|name| {
            let naming: Vec<(&str, Verdict)> = tests
                .iter()
                .filter_map(|t| {
                    let (_, v) = t.checks.iter().find(|(n, _)| n == name)?;
                    Some((t.name.as_str(), *v))
                })
                .collect();
            let verdict = naming
                .iter()
                .map(|&(_, v)| v)
                .min()
                .unwrap_or(Verdict::None);
            Row {
                sel4test: name.clone(),
                verdict,
                keel: naming.iter().map(|&(t, _)| t.to_string()).collect(),
                note: notes.get(name).cloned().unwrap_or_default(),
            }
        })
        .collect()
}

/// A sel4test name's group: the name without its number (`SCHED_CONTEXT_0003`
/// is in SCHED_CONTEXT).
fn group(name: &str) -> &str {
    name.trim_end_matches(|c: char| c.is_ascii_digit())
        .trim_end_matches('_')
}

/// Counts per group, in first-appearance order: (group, applies, full,
/// partial, none).
fn counts(rows: &[Row]) -> Vec<(String, [usize; 4])> {
    let mut out: Vec<(String, [usize; 4])> = Vec::new();
    for row in rows {
        let g = group(&row.sel4test);
        if out.last().is_none_or(|(last, _)| last != g) {
            out.push((g.to_string(), [0; 4]));
        }
        let (_, c) = out.last_mut().expect("invariant: pushed above");
        c[0] += 1;
        c[1 + row.verdict as usize] += 1;
    }
    out
}

/// The totals over `rows`: [applies, full, partial, none].
pub fn totals(rows: &[Row]) -> [usize; 4] {
    counts(rows).iter().fold([0; 4], |mut t, (_, c)| {
        for (a, b) in t.iter_mut().zip(c) {
            *a += b;
        }
        t
    })
}

/// What `cargo xtask coverage` is asked to do.
#[derive(clap::Args, Debug)]
pub struct CoverageArgs {
    /// Only check that tests/COVERAGE.md is what the tags give (as `cargo
    /// test` does); change nothing.
    #[arg(long)]
    pub check: bool,
}

/// `cargo xtask coverage`: rewrites `tests/COVERAGE.md` from the tags,
/// keeping each row's Note, and prints the totals; with `--check`, only
/// reports what is out of date.
pub fn run(root: &Path, args: &CoverageArgs) -> Result<()> {
    let errors = if args.check {
        check(root)
    } else {
        let (names, tests, actual) = read_inputs(root)?;
        let notes = notes_of(&actual);
        let text = render(&names, &tests, &notes);
        std::fs::write(root.join(COVERAGE), &text)
            .with_context(|| format!("writing {COVERAGE}"))?;
        let [n, full, partial, none] = totals(&rows(&names.applies, &tests, &notes));
        println!("{COVERAGE}: of {n} sel4test tests, {full} full, {partial} partial, {none} none");
        missing_notes(&names, &tests, &notes)
    };
    if !errors.is_empty() {
        bail!("{}", errors.join("\n"));
    }
    Ok(())
}

/// Reads the names, the tags and the current COVERAGE.md (empty when absent).
fn read_inputs(root: &Path) -> Result<(Names, Vec<KeelTest>, String)> {
    let read = |rel: &str| {
        std::fs::read_to_string(root.join(rel)).with_context(|| format!("reading {rel}"))
    };
    let names = parse_names(&read(NAMES)?).map_err(|e| anyhow::anyhow!(e.join("\n")))?;
    let tests = parse_table(&read(TABLE)?, &names).map_err(|e| anyhow::anyhow!(e.join("\n")))?;
    let actual = read(COVERAGE).unwrap_or_default();
    Ok((names, tests, actual))
}

/// Everything wrong with the repository's map: bad names, bad tags, a stale
/// COVERAGE.md, partial rows without a note. Empty when all is well.
pub fn check(root: &Path) -> Vec<String> {
    let (names, tests, actual) = match read_inputs(root) {
        Ok(inputs) => inputs,
        Err(e) => return format!("{e:#}").lines().map(String::from).collect(),
    };
    let notes = notes_of(&actual);
    let expected = render(&names, &tests, &notes);
    let mut errors = stale(&actual, &expected);
    errors.extend(missing_notes(&names, &tests, &notes));
    errors
}

/// The partial rows, of either table, without a Note, each as what to write.
fn missing_notes(
    names: &Names,
    tests: &[KeelTest],
    notes: &HashMap<String, String>,
) -> Vec<String> {
    rows(&names.applies, tests, notes)
        .into_iter()
        .chain(rows(&names.does_not_apply, tests, notes))
        .filter(|r| r.verdict == Verdict::Partial && r.note.is_empty())
        .map(|r| {
            format!(
                "{COVERAGE}: {} is partial but its Note is empty: write there what of {}'s \
                 behaviour no Keel test checks, then run `cargo xtask coverage`",
                r.sel4test, r.sel4test
            )
        })
        .collect()
}

#[cfg(test)]
mod tests;
