//! Tests of the sel4test map: the repository's own tags and COVERAGE.md, and
//! the parser's and checker's answers on small tables.

use super::*;

fn names(applies: &[&str], does_not_apply: &[&str]) -> Names {
    Names {
        applies: applies.iter().map(|s| s.to_string()).collect(),
        does_not_apply: does_not_apply.iter().map(|s| s.to_string()).collect(),
    }
}

fn small() -> Names {
    names(
        &["BIND0001", "BIND005", "SCHED_CONTEXT_0003", "IPC0001"],
        &["IPCRIGHTS0004"],
    )
}

fn table(lines: &[&str]) -> String {
    format!("//! t\n\ncrate::test_cases! {{\n{}\n}}\n", lines.join("\n"))
}

/// The check `cargo test` runs on the repository: every test tagged with
/// listed names, and COVERAGE.md what the tags give.
#[test]
fn repository_map_is_whole_and_coverage_md_current() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("invariant: build-system has a parent");
    let errors = check(root);
    assert!(
        errors.is_empty(),
        "the map from Keel's tests to sel4test's is not whole:\n{}",
        errors.join("\n")
    );
}

#[test]
fn tags_plain_partial_several_and_none() {
    let text = table(&[
        "    A0001: \"one (sel4test: BIND0001)\" => m::a;",
        "    A0002: \"two (x) (sel4test: partial BIND005, SCHED_CONTEXT_0003)\" => m::b, InRoot;",
        "",
        "    A0003: \"three (sel4test: none)\" => m::c, OwnBoot;",
        "    A0004: \"four (sel4test: IPCRIGHTS0004)\" => m::d;",
    ]);
    let tests = parse_table(&text, &small()).unwrap();
    let want = |n: &str, c: &[(&str, Verdict)]| KeelTest {
        name: n.to_string(),
        checks: c.iter().map(|&(s, v)| (s.to_string(), v)).collect(),
    };
    assert_eq!(
        tests,
        [
            want("A0001", &[("BIND0001", Verdict::Full)]),
            want(
                "A0002",
                &[
                    ("BIND005", Verdict::Partial),
                    ("SCHED_CONTEXT_0003", Verdict::Full)
                ]
            ),
            want("A0003", &[]),
            want("A0004", &[("IPCRIGHTS0004", Verdict::Full)]),
        ]
    );
}

#[test]
fn errors_name_the_line_and_the_fix() {
    let text = table(&[
        "    A0001: \"no tag\" => m::a;",
        "    A0002: \"keel spelling (sel4test: SCHED_CONTEXT0003)\" => m::b;",
        "    A0003: \"twice (sel4test: BIND0001, partial BIND0001)\" => m::c;",
        "    A0003: \"again (sel4test: none)\" => m::d;",
        "    A0004: \"unknown (sel4test: IPC0999)\" => m::e;",
        "    A0005: \"split over",
    ]);
    let errors = parse_table(&text, &small()).unwrap_err();
    assert_eq!(errors.len(), 6, "{errors:#?}");
    assert!(errors[0]
        .starts_with("tests/src/cases/mod.rs:4: A0001's description does not end with a tag"));
    assert!(errors[1].contains(":5: A0002's description names `SCHED_CONTEXT0003`"));
    assert!(errors[1].contains("(did you mean SCHED_CONTEXT_0003?)"));
    assert!(errors[2].contains("names BIND0001 twice"));
    assert!(errors[3].contains(":7: A0003 is registered twice"));
    assert!(errors[4].contains("`IPC0999`") && !errors[4].contains("did you mean"));
    assert!(errors[5].contains(":9: not a `NAME: \"description\" => function;` line"));
}

#[test]
fn verdict_is_full_if_any_names_it_plainly() {
    let tests = [
        KeelTest {
            name: "A0001".into(),
            checks: vec![("BIND0001".into(), Verdict::Partial)],
        },
        KeelTest {
            name: "A0002".into(),
            checks: vec![
                ("BIND0001".into(), Verdict::Full),
                ("BIND005".into(), Verdict::Partial),
            ],
        },
    ];
    let rows = rows(&small().applies, &tests, &HashMap::new());
    let got: Vec<(Verdict, Vec<String>)> =
        rows.iter().map(|r| (r.verdict, r.keel.clone())).collect();
    assert_eq!(
        got,
        [
            (Verdict::Full, vec!["A0001".into(), "A0002".into()]),
            (Verdict::Partial, vec!["A0002".into()]),
            (Verdict::None, vec![]),
            (Verdict::None, vec![]),
        ]
    );
    assert_eq!(totals(&rows), [4, 1, 1, 2]);
    let groups: Vec<String> = counts(&rows).into_iter().map(|(g, _)| g).collect();
    assert_eq!(groups, ["BIND", "SCHED_CONTEXT", "IPC"]);
    let errors = missing_notes(&small(), &tests, &HashMap::new());
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(errors[0].starts_with("tests/COVERAGE.md: BIND005 is partial but its Note is empty"));
}

#[test]
fn render_keeps_notes_and_stale_names_the_rows() {
    let names = small();
    let tag = |t: &str| {
        parse_table(
            &table(&[&format!("    A0001: \"a (sel4test: {t})\" => m::a;")]),
            &names,
        )
        .unwrap()
    };
    let mut notes = HashMap::new();
    notes.insert("BIND0001".to_string(), "no mixed senders".to_string());
    let before = render(&names, &tag("partial BIND0001"), &notes);
    assert!(before.contains("| BIND0001 | partial | A0001 | no mixed senders |\n"));
    assert!(before.contains("**Of the 4 sel4test tests that apply: 0 full, 1 partial, 3 none.**"));
    assert!(before.contains("| BIND | 2 | 0 | 1 | 1 |\n"));
    assert_eq!(notes_of(&before), {
        let mut all: HashMap<String, String> = ["BIND005", "SCHED_CONTEXT_0003", "IPC0001"]
            .iter()
            .map(|n| (n.to_string(), String::new()))
            .collect();
        all.extend(notes.clone());
        all
    });
    assert!(stale(&before, &before).is_empty());
    let after = render(&names, &tag("BIND0001, IPCRIGHTS0004"), &notes_of(&before));
    let errors = stale(&before, &after);
    assert_eq!(errors.len(), 4, "{errors:#?}");
    assert_eq!(
        errors[0],
        "tests/COVERAGE.md: BIND0001 reads partial (A0001); the tags in tests/src/cases/mod.rs make it full (A0001)"
    );
    assert_eq!(
        errors[1],
        "tests/COVERAGE.md: no row for IPCRIGHTS0004; the tags make it full (A0001)"
    );
    assert!(errors[2].contains("the counts read") && errors[2].contains("1 full, 0 partial"));
    assert!(errors[3].starts_with("fix: run `cargo xtask coverage`"));
    let reworded = before.replace("Written by", "Made by");
    assert!(stale(&reworded, &before)[0].contains("line 3 is not what"));
}

#[test]
fn names_file_sections_and_counts() {
    let errors =
        parse_names("X0001\n[applies]\nA0001\nA0001\nbad name\n[does not apply]\n").unwrap_err();
    assert_eq!(errors.len(), 5, "{errors:#?}");
    assert!(errors[0].contains(":1: X0001 comes before"));
    assert!(errors[1].contains(":4: A0001 is listed twice"));
    assert!(errors[2].contains("`bad name` is not a test name"));
    assert!(errors[3].contains("`[applies]` lists 1 names; sel4test has 140"));
    assert!(errors[4].contains("`[does not apply]` lists 0 names; sel4test has 90"));
}
