//! Unit tests for `serial_log.rs`: the suite log parser, the run judgement and
//! the isolated-test watch.

use super::*;

fn lines(text: &str) -> Vec<String> {
    text.lines().map(String::from).collect()
}

fn status_of<'a>(log: &'a SuiteLog, name: &str) -> &'a Status {
    &log.results.iter().find(|r| r.name == name).unwrap().status
}

#[test]
fn passed_failed_and_skipped() {
    let log = parse_suite(&lines(
        "KEEL: booting\n\
         Starting test 1: CNODEOP0001\n\
         Test CNODEOP0001 passed\n\
         Starting test 2: RETYPE0001\n\
         some output\n\
         Test RETYPE0001 FAILED: expected 3, got 4\n\
         Starting test 3: SCHED0001\n\
         Test SCHED0001 skipped: needs two cores\n\
         Test IPC0001 skipped: not built\n\
         Keel test summary: 1 passed, 1 failed, 2 skipped\n",
    ));
    assert!(log.reached);
    let names: Vec<_> = log.results.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["CNODEOP0001", "RETYPE0001", "SCHED0001", "IPC0001"]);
    assert_eq!(status_of(&log, "CNODEOP0001"), &Status::Passed);
    assert_eq!(
        status_of(&log, "RETYPE0001"),
        &Status::Failed("expected 3, got 4".into())
    );
    assert_eq!(
        status_of(&log, "SCHED0001"),
        &Status::Skipped("needs two cores".into())
    );
    assert_eq!(
        log.summary,
        Some(Summary {
            passed: 1,
            failed: 1,
            skipped: 2
        })
    );
}

#[test]
fn carriage_returns_and_leading_spaces_are_ignored() {
    let log = parse_suite(&lines(
        "  Starting test 1: A0001\r\nTest A0001 passed\r\nTest B0001 FAILED\r\n",
    ));
    assert_eq!(status_of(&log, "A0001"), &Status::Passed);
    assert_eq!(status_of(&log, "B0001"), &Status::Failed(String::new()));
}

#[test]
fn started_test_without_result_fails_with_last_lines() {
    let log = parse_suite(&lines(
        "Starting test 1: A0001\n\
         Test A0001 passed\n\
         Starting test 2: B0001\n\
         step 1\nstep 2\nstep 3\nstep 4\nstep 5\nstep 6\n",
    ));
    let Status::Failed(reason) = status_of(&log, "B0001") else {
        panic!("B0001 should fail");
    };
    assert_eq!(
        reason,
        "no result; last lines: step 2 | step 3 | step 4 | step 5 | step 6"
    );
    assert_eq!(log.summary, None);
}

#[test]
fn missing_result_quotes_only_its_own_lines() {
    let log = parse_suite(&lines(
        "Starting test 1: A0001\nStarting test 2: B0001\nTest B0001 passed\n",
    ));
    assert_eq!(
        status_of(&log, "A0001"),
        &Status::Failed("no result; nothing was printed after it started".into())
    );
    assert_eq!(status_of(&log, "B0001"), &Status::Passed);
}

#[test]
fn boot_that_never_reaches_the_suite() {
    let log = parse_suite(&lines("KEEL: booting\nKEEL: panic at boot.rs:10\n"));
    assert!(!log.reached);
    assert!(log.results.is_empty());
    assert!(!parse_suite(&[]).reached);
}

#[test]
fn isolated_tests_are_listed_once() {
    let log = parse_suite(&lines(
        "Starting test 1: A0001\n\
         Test A0001 passed\n\
         Isolated test FAULT0001: runs in its own boot\n\
         Isolated test FAULT0002: runs in its own boot\n\
         Isolated test FAULT0001: runs in its own boot\n\
         Keel test summary: 1 passed, 0 failed, 0 skipped\n",
    ));
    assert_eq!(log.isolated, ["FAULT0001", "FAULT0002"]);
    assert_eq!(log.results.len(), 1);
}

#[test]
fn malformed_markers_are_not_tests() {
    let log = parse_suite(&lines(
        "Starting test x: A0001\nStarting test 1:\nTest\nTest A0001 maybe\nKeel test summary: lots\n",
    ));
    assert!(!log.reached);
    assert!(log.results.is_empty());
}

fn watch(text: &str) -> (bool, Status) {
    let mut w = IsolatedWatch::new("FAULT0001");
    let decided = text.lines().fold(false, |_, l| w.feed(l));
    (decided, w.finish())
}

#[test]
fn kernel_report_then_idle_passes() {
    let (decided, status) = watch(
        "Starting test 1: FAULT0001\n\
         Test FAULT0001 expects kernel report: vm fault on data at 0x0\n\
         KEEL: fault: thread FAULT0001 vm fault on data at 0x0 (pc 0x4000)\n\
         KEEL: idle\n",
    );
    assert!(decided);
    assert_eq!(status, Status::Passed);
}

#[test]
fn idle_without_the_report_fails() {
    let (decided, status) = watch(
        "Starting test 1: FAULT0001\n\
         Test FAULT0001 expects kernel report: vm fault on data\n\
         KEEL: fault: thread FAULT0001 illegal instruction\n\
         KEEL: idle\n",
    );
    assert!(decided);
    let Status::Failed(reason) = status else {
        panic!("should fail");
    };
    assert!(
        reason.contains("does not contain \"vm fault on data\"")
            && reason.contains("illegal instruction"),
        "{reason}"
    );
}

#[test]
fn report_before_expects_line_does_not_count() {
    let (decided, status) = watch(
        "Starting test 1: FAULT0001\n\
         KEEL: fault: vm fault\n\
         Test FAULT0001 expects kernel report: vm fault\n",
    );
    assert!(!decided);
    assert_eq!(
        status,
        Status::Failed("no `KEEL: fault` line containing \"vm fault\"".into())
    );
}

#[test]
fn timeout_reasons_name_what_is_missing() {
    let (_, s) = watch("KEEL: booting\n");
    assert_eq!(
        s,
        Status::Failed("the boot never reached `Starting test 1: FAULT0001`".into())
    );
    let (_, s) = watch("Starting test 1: FAULT0001\n");
    assert!(matches!(s, Status::Failed(r) if r.contains("never printed `Test FAULT0001 expects")));
    let (decided, s) = watch(
        "Starting test 1: FAULT0001\n\
         Test FAULT0001 expects kernel report: boom\n\
         KEEL: fault boom\n",
    );
    assert!(!decided);
    assert!(matches!(s, Status::Failed(r) if r.contains("no `KEEL: idle`")));
}

#[test]
fn drivers_own_verdict_is_honoured() {
    let (decided, s) = watch(
        "Starting test 1: FAULT0001\n\
         Test FAULT0001 expects kernel report: boom\n\
         Test FAULT0001 FAILED: the fault did not happen\n",
    );
    assert!(decided);
    assert_eq!(s, Status::Failed("the fault did not happen".into()));
    let (decided, s) = watch("Starting test 1: FAULT0001\nTest FAULT0001 passed\n");
    assert!(decided);
    assert_eq!(s, Status::Passed);
    let (_, s) = watch("Starting test 1: FAULT0001\nTest OTHER0001 FAILED: x\n");
    assert!(matches!(s, Status::Failed(r) if r.contains("never printed")));
}

#[test]
fn the_unfinished_test_is_the_last_started_without_a_result() {
    let done = lines("Starting test 1: A0001\nTest A0001 passed\n");
    assert_eq!(unfinished(&done), None);
    let hung =
        lines("Starting test 1: A0001\nTest A0001 passed\nStarting test 2: B0002\nspinning\n");
    assert_eq!(unfinished(&hung), Some("B0002"));
}

/// A full run's first boot: two tests registered, one own-boot test listed.
const GOOD_RUN: &str = "Keel on-target test suite: 3 tests registered\n\
     Registered test A0001\n\
     Registered test B0001\n\
     Registered own-boot test FAULT0001\n\
     Starting test 1: A0001\n\
     Test A0001 passed\n\
     Isolated test FAULT0001: runs in its own boot\n\
     Starting test 2: B0001\n\
     Test B0001 FAILED: wrong badge\n\
     Keel test summary: 1 passed, 1 failed, 0 skipped\n";

fn judge(boots: &[&str], own_boot_ran: &[&str]) -> Vec<String> {
    let boots: Vec<SuiteLog> = boots.iter().map(|b| parse_suite(&lines(b))).collect();
    let ran: Vec<String> = own_boot_ran.iter().map(|s| s.to_string()).collect();
    judge_run(&boots, &ran)
}

#[test]
fn registrations_are_read() {
    let log = parse_suite(&lines(GOOD_RUN));
    assert_eq!(log.registered_count, Some(3));
    assert_eq!(log.registered, ["A0001", "B0001"]);
    assert_eq!(log.own_boot, ["FAULT0001"]);
    assert!(log.repeated.is_empty());
}

#[test]
fn a_complete_run_has_no_problems() {
    assert_eq!(judge(&[GOOD_RUN], &["FAULT0001"]), Vec::<String>::new());
}

#[test]
fn a_registered_test_without_a_result_fails_the_run() {
    let run = "Keel on-target test suite: 3 tests registered\n\
         Registered test A0001\nRegistered test B0001\nRegistered test C0001\n\
         Starting test 1: A0001\nTest A0001 passed\n\
         Keel test summary: 1 passed, 0 failed, 0 skipped\n";
    assert_eq!(
        judge(&[run], &[]),
        ["registered but no result: B0001, C0001"]
    );
}

#[test]
fn a_test_reporting_twice_fails_the_run() {
    let run = "Keel on-target test suite: 1 tests registered\n\
         Registered test A0001\n\
         Starting test 1: A0001\nTest A0001 passed\nTest A0001 FAILED: late fault\n\
         Keel test summary: 1 passed, 0 failed, 0 skipped\n";
    let log = parse_suite(&lines(run));
    assert_eq!(log.repeated, ["A0001"]);
    assert_eq!(status_of(&log, "A0001"), &Status::Passed);
    assert_eq!(
        judge(&[run], &[]),
        ["reported more than once: A0001 (2 results)"]
    );
    let twice = "Keel on-target test suite: 1 tests registered\n\
         Registered test A0001\n\
         Starting test 1: A0001\nTest A0001 passed\nTest A0001 passed\n\
         Keel test summary: 1 passed, 0 failed, 0 skipped\n";
    assert_eq!(
        judge(&[twice], &[]),
        ["reported more than once: A0001 (2 results)"]
    );
}

#[test]
fn summary_counts_that_disagree_fail_the_run() {
    let run = "Keel on-target test suite: 2 tests registered\n\
         Registered test A0001\nRegistered test B0001\n\
         Starting test 1: A0001\nTest A0001 passed\n\
         Starting test 2: B0001\nTest B0001 skipped: one core\n\
         Keel test summary: 2 passed, 0 failed, 0 skipped\n";
    assert_eq!(
        judge(&[run], &[]),
        [
            "suite boot 1: the driver's summary says 2 passed, 0 failed, 0 skipped, \
          but the log shows 1 passed, 0 failed, 1 skipped"
        ]
    );
}

#[test]
fn own_boot_tests_run_must_match_the_table() {
    assert_eq!(
        judge(&[GOOD_RUN], &[]),
        [
            "the own-boot tests run differ from the table's: not run: [FAULT0001]; \
          not own-boot tests: []"
        ]
    );
    assert_eq!(
        judge(&[GOOD_RUN], &["FAULT0001", "FAULT0009"]),
        [
            "the own-boot tests run differ from the table's: not run: []; \
          not own-boot tests: [FAULT0009]"
        ]
    );
}

#[test]
fn the_registration_count_must_match_the_list() {
    let run = "Keel on-target test suite: 2 tests registered\n\
         Registered test A0001\n\
         Starting test 1: A0001\nTest A0001 passed\n\
         Keel test summary: 1 passed, 0 failed, 0 skipped\n";
    assert_eq!(
        judge(&[run], &[]),
        ["suite boot 1: the driver said 2 tests registered but listed 1"]
    );
    let unannounced = "Starting test 1: A0001\nTest A0001 passed\n\
         Keel test summary: 1 passed, 0 failed, 0 skipped\n";
    assert_eq!(
        judge(&[unannounced], &[]),
        [
            "suite boot 1: the driver never printed `N tests registered`",
            "results for tests no boot registered: A0001"
        ]
    );
}

#[test]
fn a_resumed_run_is_judged_across_its_boots() {
    let hung = "Keel on-target test suite: 3 tests registered\n\
         Registered test A0001\nRegistered test B0001\nRegistered test C0001\n\
         Starting test 1: A0001\nTest A0001 passed\n\
         Starting test 2: B0001\nspinning\n";
    let resumed = "Keel on-target test suite: 1 tests registered\n\
         Registered test C0001\n\
         Starting test 1: C0001\nTest C0001 passed\n\
         Keel test summary: 1 passed, 0 failed, 0 skipped\n";
    assert_eq!(judge(&[hung, resumed], &[]), Vec::<String>::new());
    let lost = "Keel on-target test suite: 0 tests registered\n\
         Keel test summary: 0 passed, 0 failed, 0 skipped\n";
    assert_eq!(
        judge(&[hung, lost], &[]),
        ["registered but no result: C0001"]
    );
    let again = "Keel on-target test suite: 2 tests registered\n\
         Registered test B0001\nRegistered test C0001\n\
         Starting test 1: B0001\nTest B0001 passed\n\
         Starting test 2: C0001\nTest C0001 passed\n\
         Keel test summary: 2 passed, 0 failed, 0 skipped\n";
    assert_eq!(
        judge(&[hung, again], &[]),
        ["reported more than once: B0001 (2 results)"]
    );
}

#[test]
fn an_unknown_name_selected_is_failed_not_unregistered() {
    let run = "Keel on-target test suite: 0 tests registered\n\
         Test NOPE0001 FAILED: no test of that name is registered\n\
         Keel test summary: 0 passed, 1 failed, 0 skipped\n";
    assert_eq!(judge(&[run], &[]), Vec::<String>::new());
}

#[test]
fn a_test_asks_for_typed_input() {
    assert_eq!(
        typed_input("Test SERIAL0001 types: hello keel"),
        Some("hello keel".to_string())
    );
    assert_eq!(
        typed_input(r"Test SERIAL0100 types: kee\bl \\b"),
        Some("kee\x08l \\b".to_string())
    );
    assert_eq!(typed_input("Test SERIAL0001 passed"), None);
    assert_eq!(typed_input("hello"), None);
}

#[test]
fn a_burst_must_come_out_whole_and_in_order() {
    let burst = |lines: &[u32]| -> String {
        lines
            .iter()
            .map(|&i| {
                let line = keel_protocols::serial::burst_line(i);
                String::from_utf8_lossy(&line).into_owned()
            })
            .collect()
    };
    let run = |body: String| {
        parse_suite(&lines(&format!(
            "Starting test 1: SERIAL0002\n\
             Test SERIAL0002 expects burst: 3\n\
             {body}\
             Test SERIAL0002 passed\n"
        )))
    };
    let whole = run(burst(&[0, 1, 2]));
    assert!(whole.host_verdicts.is_empty(), "{:?}", whole.host_verdicts);
    assert_eq!(status_of(&whole, "SERIAL0002"), &Status::Passed);
    let kernel_between = run(format!("{}KEEL: a line\n{}", burst(&[0]), burst(&[1, 2])));
    assert!(kernel_between.host_verdicts.is_empty());
    for (body, why) in [
        (burst(&[0, 2]), "burst line 1 of 3 came out as"),
        (burst(&[0, 1]), "ended after 2 of 3"),
        (burst(&[0, 1, 2, 2]), "more than 3 lines"),
        (burst(&[1, 0, 2]), "burst line 0 of 3"),
    ] {
        let log = run(body);
        let [wrong] = log.host_verdicts.as_slice() else {
            panic!("one verdict expected: {:?}", log.host_verdicts);
        };
        assert_eq!(wrong.name, "SERIAL0002");
        let Status::Failed(reason) = &wrong.status else {
            panic!("{wrong:?}");
        };
        assert!(reason.contains(why), "{reason}");
    }
}

#[test]
fn an_echo_must_come_out_before_the_result() {
    let run = |echoed: &str| {
        parse_suite(&lines(&format!(
            "Starting test 1: SERIAL0100\n\
             Test SERIAL0100 expects echo: kee\\bl\n\
             Test SERIAL0100 types: kee\\bl\n\
             {echoed}\n\
             Test SERIAL0100 passed\n"
        )))
    };
    assert!(run("kee\x08l").host_verdicts.is_empty());
    // What the test writes back holds the text, but is no echo.
    assert_eq!(run("echo: kee\x08l").host_verdicts.len(), 1);
    // Nor is the `types` line, which names the text too.
    let plain = parse_suite(&lines(
        "Starting test 1: SERIAL0100\n\
         Test SERIAL0100 expects echo: keel\n\
         Test SERIAL0100 types: keel\n\
         Test SERIAL0100 passed\n",
    ));
    assert_eq!(plain.host_verdicts.len(), 1);
    let log = run("keel");
    let [wrong] = log.host_verdicts.as_slice() else {
        panic!("one verdict expected: {:?}", log.host_verdicts);
    };
    assert_eq!(wrong.name, "SERIAL0100");
    assert!(
        matches!(&wrong.status, Status::Failed(r) if r.contains("never came out")),
        "{wrong:?}"
    );
}
