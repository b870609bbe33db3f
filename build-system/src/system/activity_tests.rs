//! Host tests of activities in the system description: entitlements as a
//! share or a budget, members scheduled and badged by their activity, the
//! manifest and the report carrying them, and each wrong description
//! refused with the entry and the fix (the total above what a core gives
//! after what is kept back first).

use std::path::Path;

use keel_abi::manifest::Start;
use keel_protocols::badge::ClientBadge;

use super::activity::{ACTIVITY_LIMIT_PERCENT, RESERVED_PERCENT};
use super::*;

/// A root task, a console at 200, apps a, b, c (d outside every activity)
/// connected to it, and the activities `activities` (TOML text).
fn system(activities: &str) -> String {
    let mut s = String::from(
        r#"
[system]
name = "t"
[[program]]
name = "root-task"
crate = "keel-root-task"
role = "root-task"
[[program]]
name = "console"
crate = "keel-console"
role = "server"
priority = 200
"#,
    );
    for app in ["a", "b", "c", "d"] {
        s.push_str(&format!(
            "[[program]]\nname = \"{app}\"\ncrate = \"keel-hello\"\nrole = \"app\"\n\
             [[connection]]\nclient = \"{app}\"\nserver = \"console\"\n"
        ));
    }
    s.push_str(activities);
    s
}

const FIG8: &str = r#"
[[activity]]
name = "half"
share_percent = 45
members = ["a"]
priority = 120
[[activity]]
name = "third"
share_percent = 29.7
period_us = 20000
members = ["b", "c"]
[[activity]]
name = "rest"
budget_us = 1500
period_us = 10000
may_exceed_when_idle = true
members = []
"#;

fn parse(text: &str) -> anyhow::Result<System> {
    System::parse(text, Path::new("system.toml"))
}

fn fails(text: &str, parts: &[&str]) {
    let e = format!("{:#}", parse(text).unwrap_err());
    assert!(e.contains("system.toml"), "no file in: {e}");
    for part in parts {
        assert!(e.contains(part), "`{part}` missing in: {e}");
    }
}

fn valid() -> String {
    system(&FIG8.replace("members = []", "members = [\"d\"]"))
}

#[test]
fn activities_schedule_and_badge_their_members() {
    let s = parse(&valid()).unwrap();
    let budgets: Vec<(u16, u32, u32, u8, bool)> = s
        .activities
        .iter()
        .map(|a| {
            (
                a.id,
                a.budget_us,
                a.period_us,
                a.priority,
                a.may_exceed_when_idle,
            )
        })
        .collect();
    assert_eq!(
        budgets,
        [
            (1, 4500, 10_000, 120, false),
            (2, 5940, 20_000, 100, false),
            (3, 1500, 10_000, 100, true)
        ]
    );
    let by_name = |n: &str| s.programs.iter().position(|p| p.name == n).unwrap();
    assert_eq!(s.activities[1].members, [by_name("b"), by_name("c")]);
    let a = &s.programs[by_name("a")];
    assert_eq!(a.activity, 1);
    let sched = a.sched.unwrap();
    assert_eq!(
        (sched.priority, sched.budget_us, sched.period_us),
        (120, 4500, 10_000)
    );
    assert_eq!(s.programs[by_name("c")].activity, 2);

    let m = s.manifest(&["extra"], Start::System).unwrap();
    assert_eq!(m.activities.len(), 3);
    assert_eq!(m.activities[2].members, [by_name("d") as u16]);
    let activity_of = |client: usize| {
        m.connections
            .iter()
            .find(|c| usize::from(c.client) == client)
            .map(|c| ClientBadge::from_bits(c.badge).unwrap().activity().0)
    };
    assert_eq!(activity_of(by_name("a")), Some(1));
    assert_eq!(activity_of(by_name("c")), Some(2));
    assert_eq!(activity_of(by_name("d")), Some(3));
    // An --app-crate program is charged to an activity after every one in use.
    assert_eq!(activity_of(m.programs.len() - 1), Some(4));
    let decoded = keel_abi::manifest::Manifest::decode(&m.encode().unwrap()).unwrap();
    assert_eq!(decoded, m);
}

#[test]
fn apps_outside_activities_keep_one_each() {
    let s = parse(&system(
        "[[activity]]\nname = \"x\"\nshare_percent = 10\nmembers = [\"c\"]\n",
    ))
    .unwrap();
    let ids: Vec<u16> = s.apps().map(|p| p.activity).collect();
    assert_eq!(ids, [2, 3, 1, 4]);
}

#[test]
fn the_report_lists_activities() {
    let s = parse(&valid()).unwrap();
    let r = report::render(&s.manifest(&[], Start::System).unwrap(), "system.toml");
    for line in [
        "activity    \"third\" (activity 2; scheduled by it)",
        "activities: 89.70% of a core entitled, of the 90% they may have (10% kept back",
        "activity \"half\" (activity 1): 45.00% of a core (4500 us every 10000 us), priority 120, members a",
        "activity \"third\" (activity 2): 29.70% of a core (5940 us every 20000 us), priority 100, members b, c",
        "members d, may exceed it when the CPU is otherwise idle",
    ] {
        assert!(r.contains(line), "`{line}` missing in:\n{r}");
    }
}

#[test]
fn entitlements_past_what_a_core_gives_are_refused() {
    assert_eq!(ACTIVITY_LIMIT_PERCENT + RESERVED_PERCENT, 100);
    // Vortex's 50/33/17 is a whole core: more than activities may have.
    fails(
        &system(
            "[[activity]]\nname = \"x\"\nshare_percent = 50\nmembers = [\"a\"]\n\
             [[activity]]\nname = \"y\"\nshare_percent = 33\nmembers = [\"b\"]\n\
             [[activity]]\nname = \"z\"\nshare_percent = 17\nmembers = [\"c\"]\n",
        ),
        &[
            "add up to 100.00% of a core (x 50.00%, y 33.00%, z 17.00%)",
            "10% is kept back for the kernel",
        ],
    );
    fails(
        &system("[[activity]]\nname = \"x\"\nshare_percent = 95\nmembers = [\"a\"]\n"),
        &["activity \"x\"", "share_percent = 95 is out of range"],
    );
    fails(
        &system(
            "[[activity]]\nname = \"x\"\nbudget_us = 9500\nperiod_us = 10000\nmembers = [\"a\"]\n",
        ),
        &["95.00%"],
    );
}

#[test]
fn wrong_activities_are_refused_with_the_fix() {
    let one = |keys: &str| system(&format!("[[activity]]\nname = \"x\"\n{keys}\n"));
    fails(
        &one("members = [\"a\"]"),
        &["activity \"x\"", "either as share_percent"],
    );
    fails(
        &one("share_percent = 10\nbudget_us = 100\nmembers = [\"a\"]"),
        &["exactly one of them"],
    );
    fails(&one("share_percent = 10"), &["has no members"]);
    fails(
        &one("share_percent = 10\nmembers = [\"nope\"]"),
        &["member \"nope\" is not a program"],
    );
    fails(
        &one("share_percent = 10\nmembers = [\"console\"]"),
        &["member \"console\" has role = \"server\"", "only apps"],
    );
    fails(
        &one("budget_us = 2000\nperiod_us = 1000\nmembers = [\"a\"]"),
        &["budget is 2000 us every 1000 us"],
    );
    fails(
        &one("budget_us = 5\nmembers = [\"a\"]"),
        &["budget is 5 us"],
    );
    fails(
        &one("share_percent = 10\npriority = 255\nmembers = [\"a\"]"),
        &["priority = 255"],
    );
    fails(
        &one("share_percent = 10\nmembers = [\"a\"]\nwhat = 1"),
        &["what"],
    );
    fails(
        &system(
            "[[activity]]\nname = \"x\"\nshare_percent = 10\nmembers = [\"a\"]\n\
             [[activity]]\nname = \"y\"\nshare_percent = 10\nmembers = [\"a\"]\n",
        ),
        &["activity \"y\"", "already a member of activity \"x\""],
    );
    fails(
        &system(
            "[[activity]]\nname = \"x\"\nshare_percent = 10\nmembers = [\"a\"]\n\
             [[activity]]\nname = \"x\"\nshare_percent = 10\nmembers = [\"b\"]\n",
        ),
        &["defined twice"],
    );
    let own_priority =
        system("[[activity]]\nname = \"x\"\nshare_percent = 10\nmembers = [\"a\"]\n")
            .replace("name = \"a\"\n", "name = \"a\"\npriority = 50\n");
    fails(
        &own_priority,
        &[
            "member \"a\" sets priority",
            "remove priority from program \"a\"",
        ],
    );
}

#[test]
fn one_active_scheduler_server_above_the_activities() {
    let scheduler = |keys: &str| {
        valid().replace(
            "[[program]]\nname = \"console\"",
            &format!(
                "[[program]]\nname = \"scheduler\"\ncrate = \"keel-scheduler\"\nrole = \"server\"\n\
                 sched_control = true\n{keys}\n[[program]]\nname = \"console\""
            ),
        )
    };
    let s = parse(&scheduler("priority = 230")).unwrap();
    let m = s.manifest(&[], Start::System).unwrap();
    assert_eq!(m.scheduler, Some(1));
    assert!(s.programs[1].sched_control);
    let r = report::render(&m, "system.toml");
    assert!(
        r.contains("SchedControl, an untyped of 64 KiB and 160 spare slots"),
        "{r}"
    );
    assert_eq!(
        parse(&valid())
            .unwrap()
            .manifest(&[], Start::System)
            .unwrap()
            .scheduler,
        None
    );
    fails(
        &scheduler("priority = 110"),
        &["program \"scheduler\"", "not above activity \"half\""],
    );
    fails(
        &scheduler("priority = 230\npassive = true"),
        &["cannot be passive"],
    );
    fails(
        &scheduler("priority = 230\nbudget_us = 1000\nperiod_us = 10000"),
        &["makes its context sporadic", "budget_us = period_us"],
    );
    fails(
        &scheduler("priority = 230").replace(
            "name = \"d\"\ncrate = \"keel-hello\"\nrole = \"app\"\n",
            "name = \"d\"\ncrate = \"keel-hello\"\nrole = \"app\"\nsched_control = true\n",
        ),
        &["2 programs have sched_control = true (scheduler, d)"],
    );
}

#[test]
fn one_active_process_server() {
    let server = |keys: &str| {
        valid().replace(
            "[[program]]\nname = \"console\"",
            &format!(
                "[[program]]\nname = \"process\"\ncrate = \"keel-process\"\nrole = \"server\"\n\
                 process_server = true\n{keys}\n[[program]]\nname = \"console\""
            ),
        )
    };
    let s = parse(&server("priority = 230")).unwrap();
    let m = s.manifest(&[], Start::System).unwrap();
    assert_eq!(m.process, Some(1));
    let r = report::render(&m, "system.toml");
    assert!(
        r.contains("an untyped pool of 8 MiB for its processes' reclamation groups"),
        "{r}"
    );
    fails(
        &server("priority = 230\npassive = true"),
        &["program \"process\"", "remove passive"],
    );
    fails(
        &server("priority = 230").replace(
            "name = \"d\"\ncrate = \"keel-hello\"\nrole = \"app\"\n",
            "name = \"d\"\ncrate = \"keel-hello\"\nrole = \"app\"\nprocess_server = true\n",
        ),
        &["2 programs have process_server = true (process, d)"],
    );
}

/// [`system`] with a scheduler server, the console keeping records.
fn accounted(console_key: &str, scheduler: bool) -> String {
    let mut s = system("").replace(
        "priority = 200\n",
        &format!("priority = 200\n{console_key}\n"),
    );
    if scheduler {
        s.push_str(
            "[[program]]\nname = \"scheduler\"\ncrate = \"keel-scheduler\"\nrole = \"server\"\n\
             priority = 240\nbudget_us = 1000\nperiod_us = 1000\nsched_control = true\n",
        );
    }
    s
}

#[test]
fn servers_keeping_records_reach_the_manifest() {
    let s = parse(&accounted("accounting = true", true)).unwrap();
    let m = s.manifest(&[], Start::System).unwrap();
    let console = m.programs.iter().position(|p| p.name == "console").unwrap();
    assert_eq!(m.accounting, [console as u16]);
    let plain = parse(&accounted("", true)).unwrap();
    assert!(plain
        .manifest(&[], Start::System)
        .unwrap()
        .accounting
        .is_empty());
}

#[test]
fn accounting_needs_a_server_and_a_scheduler_server() {
    fails(
        &accounted("accounting = true", false),
        &["program \"console\"", "no", "sched_control = true"],
    );
    let app = accounted("", true).replace(
        "name = \"a\"\ncrate = \"keel-hello\"\nrole = \"app\"\n",
        "name = \"a\"\ncrate = \"keel-hello\"\nrole = \"app\"\naccounting = true\n",
    );
    fails(&app, &["program \"a\"", "for a server"]);
    let root = accounted("", true).replace(
        "role = \"root-task\"\n",
        "role = \"root-task\"\naccounting = true\n",
    );
    fails(&root, &["accounting does not apply to the root task"]);
}
