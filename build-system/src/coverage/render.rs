//! Writing `tests/COVERAGE.md` from the tags, reading back its Notes, and
//! saying row by row how a file on disk differs from what the tags give.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use super::{counts, rows, totals, KeelTest, Names, Row, Verdict, COVERAGE, NAMES, TABLE};

const TABLE_HEAD: &str = "| sel4test | Verdict | Keel tests | Note |\n|---|---|---|---|\n";

/// The whole of COVERAGE.md for these names and tags, with `notes`.
pub fn render(names: &Names, tests: &[KeelTest], notes: &HashMap<String, String>) -> String {
    let applies = rows(&names.applies, tests, notes);
    let matched: Vec<Row> = rows(&names.does_not_apply, tests, notes)
        .into_iter()
        .filter(|r| r.verdict != Verdict::None)
        .collect();
    let [n, full, partial, none] = totals(&applies);
    let mut out = String::new();
    let _ = write!(
        out,
        "# sel4test coverage\n\n\
         Written by `cargo xtask coverage` from the `(sel4test: ...)` tags that end the \
         descriptions in `{TABLE}` and the names in `{NAMES}`; `cargo test` fails when \
         this file is out of date. Only the Note column is written by hand: edit it here, \
         then run `cargo xtask coverage`.\n\n\
         Keel's test names reuse sel4test's prefixes with their own numbers (Keel IPC0010 \
         is not sel4test IPC0010); this table is the map. A sel4test test is **full** when \
         a Keel test names it plainly, `(sel4test: NAME)`: that test checks NAME's \
         behaviour, alone or with the other tests that name it so. It is **partial** when \
         only `(sel4test: partial NAME)` tags name it, and the Note says what no Keel test \
         checks; **none** when no tag names it. In the Keel tests column and in a Note a \
         name is Keel's test, and \"the X row\" is this table's row X. sel4test names are written as sel4test \
         writes them (SCHED_CONTEXT_0003, BIND005). In sel4test, FRAMEXN0001/0002, PT0001, \
         REGRESSIONS0002 and VSPACE0001 run on aarch64 only and IOPORTS1000 and \
         STACK_ALIGNMENT_001 on x86_64 only; Keel runs each of its tests on both.\n\n\
         ## Counts\n\n\
         **Of the {n} sel4test tests that apply: {full} full, {partial} partial, {none} none.**\n\n\
         | Group | Applies | Full | Partial | None |\n|---|---|---|---|---|\n"
    );
    for (group, [a, f, p, m]) in counts(&applies) {
        let _ = writeln!(out, "| {group} | {a} | {f} | {p} | {m} |");
    }
    let _ = write!(
        out,
        "| **Total** | **{n}** | **{full}** | **{partial}** | **{none}** |\n\n\
         ## The sel4test tests that apply\n\n{TABLE_HEAD}"
    );
    write_rows(&mut out, &applies);
    let _ = write!(
        out,
        "\n## sel4test tests that do not apply here, with a Keel counterpart\n\n\
         Not counted above (non-MCS only, or disabled on QEMU), but the same behaviour.\n\n\
         {TABLE_HEAD}"
    );
    write_rows(&mut out, &matched);
    let own: Vec<&str> = tests
        .iter()
        .filter(|t| t.checks.is_empty())
        .map(|t| t.name.as_str())
        .collect();
    let _ = write!(
        out,
        "\n## Keel tests with no sel4test counterpart\n\n\
         {} of Keel's {} tests, tagged `(sel4test: none)`: {}.\n",
        own.len(),
        tests.len(),
        own.join(", ")
    );
    out
}

fn write_rows(out: &mut String, rows: &[Row]) {
    for r in rows {
        let keel = if r.keel.is_empty() {
            "—".to_string()
        } else {
            r.keel.join(", ")
        };
        let _ = writeln!(
            out,
            "| {} | {} | {keel} | {} |",
            r.sel4test,
            r.verdict.word(),
            r.note
        );
    }
}

/// The rows of every table in `text`: sel4test name to (verdict, Keel tests,
/// note), as written.
fn table_rows(text: &str) -> BTreeMap<String, [String; 3]> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some(inner) = line
            .strip_prefix("| ")
            .and_then(|l| l.strip_suffix(" |").or(l.strip_suffix('|')))
        else {
            continue;
        };
        let cells: Vec<&str> = inner.splitn(4, " | ").collect();
        let [name, verdict, keel, note] = cells[..] else {
            continue;
        };
        if ["full", "partial", "none"].contains(&verdict) {
            out.insert(
                name.trim().to_string(),
                [
                    verdict.to_string(),
                    keel.trim().to_string(),
                    note.trim().to_string(),
                ],
            );
        }
    }
    out
}

/// Each row's Note in `text`, by sel4test name.
pub fn notes_of(text: &str) -> HashMap<String, String> {
    table_rows(text)
        .into_iter()
        .map(|(name, [_, _, note])| (name, note))
        .collect()
}

/// How `actual` differs from `expected`, row by row, with what to do; empty
/// when they are the same.
pub fn stale(actual: &str, expected: &str) -> Vec<String> {
    if actual == expected {
        return Vec::new();
    }
    let (was, want) = (table_rows(actual), table_rows(expected));
    let mut errors = Vec::new();
    for (name, [verdict, keel, _]) in &want {
        match was.get(name) {
            None => errors.push(format!(
                "{COVERAGE}: no row for {name}; the tags make it {verdict} ({keel})"
            )),
            Some([v, k, _]) if v != verdict || k != keel => errors.push(format!(
                "{COVERAGE}: {name} reads {v} ({k}); the tags in {TABLE} make it {verdict} ({keel})"
            )),
            Some(_) => {}
        }
    }
    for name in was.keys().filter(|n| !want.contains_key(*n)) {
        errors.push(format!(
            "{COVERAGE}: a row for {name}, which no tag names and which does not apply"
        ));
    }
    let total = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("**Of the "))
            .map(String::from)
    };
    if total(actual) != total(expected) {
        errors.push(format!(
            "{COVERAGE}: the counts read {:?}; the tags give {:?}",
            total(actual).unwrap_or_default(),
            total(expected).unwrap_or_default()
        ));
    }
    let rows_differ = !errors.is_empty();
    if !rows_differ {
        let line = actual
            .lines()
            .zip(expected.lines())
            .position(|(a, e)| a != e)
            .map_or(actual.lines().count().min(expected.lines().count()), |at| {
                at
            });
        errors.push(format!(
            "{COVERAGE}: line {} is not what `cargo xtask coverage` writes: {:?}",
            line + 1,
            expected.lines().nth(line).unwrap_or("(end of file)")
        ));
    }
    let notes = if rows_differ {
        ", then make the Note of each row named above say what Keel still does not check \
         of it (for a full row, any difference of scale)"
    } else {
        ""
    };
    errors.push(format!(
        "fix: run `cargo xtask coverage` to rewrite {COVERAGE} from the tags (it keeps every \
         row's Note){notes}"
    ));
    errors
}
