//! Host tests of the system description: the repository's system.toml and
//! the fixtures validate, the manifest carries what they say (badges
//! included), and every kind of wrong description fails with a message that
//! names the file, the entry and the fix.

use std::path::{Path, PathBuf};

use keel_abi::manifest::{MapRights, Restart, Role, Start};
use keel_protocols::badge::{ActivityId, ClientBadge, ClientId, Rights};

use super::*;

const ROOT: &str = r#"
[system]
name = "keel-default"
[[program]]
name = "root-task"
crate = "keel-root-task"
role = "root-task"
"#;

/// The root task, a console server at priority 200 and an app `hello`.
pub(super) const BASE: &str = r#"
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
[[program]]
name = "hello"
crate = "keel-hello"
role = "app"
"#;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub(super) fn parse(text: &str) -> Result<System> {
    System::parse(text, Path::new("system.toml"))
}

fn error(text: &str) -> String {
    format!("{:#}", parse(text).unwrap_err())
}

/// Asserts the error for `text` names system.toml and contains every `part`.
pub(super) fn fails(text: &str, parts: &[&str]) {
    let e = error(text);
    assert!(e.contains("system.toml"), "no file in: {e}");
    for part in parts {
        assert!(e.contains(part), "`{part}` missing in: {e}");
    }
}

#[test]
fn default_system_parses() {
    let s = parse(ROOT).unwrap();
    assert_eq!(s.name, "keel-default");
    assert_eq!(s.programs[0].crate_name, "keel-root-task");
    assert_eq!(s.programs[0].sched, None);
    assert_eq!(s.apps().count(), 0);
}

#[test]
fn the_repository_system_toml_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../system.toml");
    let s = System::load(&path).unwrap();
    let started: Vec<&str> = s
        .programs
        .iter()
        .filter(|p| p.start && p.role != Role::RootTask)
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(
        started,
        [
            "serial",
            "console",
            "timer",
            "hello",
            "hello-again",
            "spin-big",
            "spin-mid",
            "spin-small",
            "top",
            "scheduler",
            "process",
            "shell",
            "mm-slave",
            "mm-slave-1",
            "mm-master"
        ]
    );
    let memory = s.memory.as_ref().expect("the default has memory managers");
    assert_eq!(memory.slaves.len(), 2);
    assert_eq!(
        memory.clients.len(),
        3,
        "both hello apps' heaps and the process server's groups come from the slaves"
    );
    assert_eq!(
        s.connections.len(),
        14,
        "console to serial; hello apps to the console; spinners to the timer; top and the \
         shell to the scheduler, timer and console; the shell to serial and process (admin)"
    );
    assert_eq!(s.activities.len(), 3, "the demo's activities");
    assert!(s
        .programs
        .iter()
        .any(|p| p.name == "serial" && p.serial_device));
    assert!(s.regions.is_empty());
}

#[test]
fn defaults_apply() {
    let s = parse(BASE).unwrap();
    let hello = &s.programs[2];
    assert!(hello.start && !hello.debug);
    assert_eq!(hello.restart, Restart::Never);
    let sched = hello.sched.unwrap();
    assert_eq!(
        (sched.priority, sched.budget_us, sched.period_us),
        (100, 1000, 1000)
    );
    assert!(!sched.passive);
    let s = parse(&BASE.replace("priority = 200", "priority = 200\nperiod_us = 5000")).unwrap();
    let console = s.programs[1].sched.unwrap();
    assert_eq!(
        (console.budget_us, console.period_us),
        (5000, 5000),
        "a lone period is a full budget"
    );
    let s = parse(&BASE.replace("priority = 200", "priority = 200\nbudget_us = 300")).unwrap();
    let console = s.programs[1].sched.unwrap();
    assert_eq!(
        (console.budget_us, console.period_us),
        (300, 300),
        "a lone budget is its own period"
    );
}

#[test]
fn the_root_task_comes_first_whatever_the_file_order() {
    let text = "[system]\nname = \"x\"\n[[program]]\nname = \"a\"\ncrate = \"a\"\nrole = \"app\"\n\
                [[program]]\nname = \"init\"\ncrate = \"r\"\nrole = \"root-task\"\n";
    let s = parse(text).unwrap();
    let names: Vec<&str> = s.programs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["init", "a"]);
    assert_eq!(s.programs[0].name, "init");
}

#[test]
fn the_servers_fixture_validates_into_its_manifest() {
    let s = System::load(&fixture("servers.toml")).unwrap();
    let m = s.manifest(&[], Start::System).unwrap();
    let names: Vec<&str> = m.programs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["init", "console", "serial", "producer", "consumer"]);
    let console = &m.programs[1];
    let sched = console.sched.unwrap();
    assert_eq!(
        (
            sched.priority,
            sched.budget_us,
            sched.period_us,
            sched.passive
        ),
        (200, 500, 1000, true)
    );
    assert_eq!(console.restart, Restart::Always { limit: 5 });
    assert_eq!(m.programs[2].restart, Restart::Always { limit: 3 });
    assert_eq!(m.programs[2].irqs[0].irq, 4);
    assert!(m.programs[4].debug && !m.programs[3].debug);

    // Badges: client numbers count per server; apps are activities 1 and 2,
    // servers the system's own 0.
    let badge = |client: u16, activity: u16, rights: Rights| {
        ClientBadge::new(ClientId::new(client).unwrap(), ActivityId(activity), rights).bits()
    };
    let c: Vec<(u16, u16, &str, u64)> = m
        .connections
        .iter()
        .map(|c| (c.client, c.server, c.name.as_str(), c.badge))
        .collect();
    assert_eq!(
        c,
        [
            (3, 1, "console", badge(1, 1, Rights::NONE)),
            (4, 1, "console", badge(2, 2, Rights::RELAY)),
            (
                1,
                2,
                "uart",
                badge(1, 0, Rights::RELAY.union(Rights::ADMIN))
            ),
        ]
    );

    // Regions: a device region is uncached, mapped by index.
    assert_eq!(m.regions[1].phys_addr, Some(0xfe20_1000));
    let uart = m.programs[2].maps[0];
    assert_eq!(
        (uart.region, uart.vaddr, uart.cached),
        (1, 0x5000_0000, false)
    );
    let ring = m.programs[4].maps[0];
    assert_eq!(
        ring.rights,
        MapRights {
            read: true,
            write: false,
            execute: false
        }
    );
    assert!(ring.cached);
    let decoded = keel_abi::manifest::Manifest::decode(&m.encode().unwrap()).unwrap();
    assert_eq!(decoded, m);
}

#[test]
fn the_report_shows_scheduling_caps_and_memory() {
    let s = System::load(&fixture("servers.toml")).unwrap();
    let r = report::render(&s.manifest(&[], Start::System).unwrap(), "servers.toml");
    for line in [
        "system \"servers-example\" (servers.toml): 5 programs, 3 connections, 2 regions",
        "program \"init\" (root-task, started by the kernel)",
        "scheduling  set by the kernel",
        "program \"console\" (server, started by init at boot)",
        "scheduling  priority 200, budget 500 us / period 1000 us, passive",
        "restart     always, at most 5 times",
        "endpoint it serves (2 clients)",
        "endpoint \"uart\" to \"serial\", badge 0x300000001 (client 1, activity 0, rights relay+admin)",
        "endpoint \"console\" to \"console\", badge 0x100020002 (client 2, activity 2, rights relay)",
        "IRQHandler 4 -> notification badge 0x8000000000000001 (event 0)",
        "region \"uart\" (device 0xfe201000, 4 KiB) at 0x50000000..0x50001000, rw, uncached",
        "region \"ring\" (memory, 8 KiB) at 0x60000000..0x60002000, r, cached",
        "Debug",
    ] {
        assert!(r.contains(line), "`{line}` missing in:\n{r}");
    }
}

#[test]
fn app_lookup_lists_available_apps() {
    let s = parse(BASE).unwrap();
    assert_eq!(s.app("hello").unwrap().crate_name, "keel-hello");
    let e = format!("{:#}", s.app("nope").unwrap_err());
    assert!(e.contains("available apps: hello"), "{e}");
    let e = format!("{:#}", s.app("console").unwrap_err());
    assert!(
        e.contains("available apps: hello"),
        "a server is not an app: {e}"
    );
    let e = format!("{:#}", parse(ROOT).unwrap().app("x").unwrap_err());
    assert!(e.contains("no program with role = \"app\""), "{e}");
}

#[test]
fn unknown_keys_and_values_are_rejected() {
    fails(&format!("{ROOT}colour = 3\n"), &["colour"]);
    fails("[system]\nname = \"x\"\ncolour = \"red\"\n", &["colour"]);
    fails(&format!("{ROOT}[extra]\n"), &["extra"]);
    fails(
        &format!("{BASE}[[connection]]\nclient = \"hello\"\nserver = \"console\"\nbadge = 1\n"),
        &["badge"],
    );
    fails(
        &format!("{ROOT}[[program]]\nname = \"x\"\ncrate = \"x\"\nrole = \"driver\"\n"),
        &["driver"],
    );
    fails(&format!("{ROOT}[[program]]\nname = \"x\"\ncrate = \"x\"\nrole = \"app\"\nrestart = \"sometimes\"\n"), &["sometimes"]);
}

#[test]
fn exactly_one_root_task() {
    fails(
        "[system]\nname = \"x\"\n",
        &["no program has role", "add exactly one"],
    );
    fails(
        &format!("{ROOT}[[program]]\nname = \"second\"\ncrate = \"k\"\nrole = \"root-task\"\n"),
        &["keep exactly one", "second"],
    );
}

#[test]
fn names_are_checked_and_unique() {
    fails(
        &format!("{ROOT}[[program]]\nname = \"root-task\"\ncrate = \"a\"\nrole = \"app\"\n"),
        &[
            "program \"root-task\" is defined twice",
            "rename or remove one",
        ],
    );
    fails(
        &format!("{ROOT}[[program]]\nname = \"Hello\"\ncrate = \"a\"\nrole = \"app\"\n"),
        &["program \"Hello\"", "'H'", "a-z"],
    );
    fails(
        &format!("{ROOT}[[program]]\nname = \"\"\ncrate = \"a\"\nrole = \"app\"\n"),
        &["1 to 48"],
    );
    fails(
        &format!("{ROOT}[[program]]\nname = \"a\"\ncrate = \" \"\nrole = \"app\"\n"),
        &["program \"a\"", "empty `crate`"],
    );
    fails(
        &format!(
            "{BASE}[[region]]\nname = \"r\"\nsize = 4096\n[[region]]\nname = \"r\"\nsize = 4096\n"
        ),
        &["region \"r\" is defined twice"],
    );
    assert!(check_name(&"a".repeat(48)).is_ok());
    assert!(check_name(&"a".repeat(49)).is_err());
    assert!(check_name("hello_world").is_err());
    assert!(check_name("hello-world-2").is_ok());
}

#[test]
fn scheduling_is_checked() {
    fails(
        &BASE.replace("priority = 200", "priority = 300"),
        &[
            "program \"console\"",
            "priority = 300 is out of range",
            "0 to 254",
        ],
    );
    fails(
        &BASE.replace("priority = 200", "priority = 255"),
        &["priority = 255 is out of range", "255 is init's"],
    );
    fails(
        &BASE.replace("priority = 200", "priority = -1"),
        &["priority = -1"],
    );
    fails(
        &BASE.replace(
            "priority = 200",
            "priority = 200\nbudget_us = 2000\nperiod_us = 1000",
        ),
        &[
            "program \"console\"",
            "budget_us = 2000 is above period_us = 1000",
            "lower budget_us or raise period_us",
        ],
    );
    fails(
        &BASE.replace("priority = 200", "priority = 200\nbudget_us = 0"),
        &["budget_us = 0", "1 to"],
    );
    fails(
        &BASE.replace("role = \"app\"", "role = \"app\"\npassive = true"),
        &["program \"hello\"", "only a server can be passive"],
    );
    fails(
        &BASE.replace("priority = 200", "priority = 200\npassive = true"),
        &[
            "program \"console\" is passive but no [[connection]]",
            "add a connection or remove passive",
        ],
    );
}

#[test]
fn restart_is_checked() {
    fails(
        &BASE.replace("role = \"app\"", "role = \"app\"\nrestart_limit = 2"),
        &[
            "program \"hello\"",
            "restart_limit is set but restart is not \"always\"",
            "set restart = \"always\"",
        ],
    );
    fails(
        &BASE.replace(
            "role = \"app\"",
            "role = \"app\"\nrestart = \"never\"\nrestart_limit = 2",
        ),
        &["restart_limit is set"],
    );
    fails(
        &BASE.replace(
            "role = \"app\"",
            "role = \"app\"\nrestart = \"always\"\nrestart_limit = 0",
        ),
        &["restart_limit = 0 is out of range", "1 to 255"],
    );
    let s = parse(&BASE.replace("role = \"app\"", "role = \"app\"\nrestart = \"always\"")).unwrap();
    assert_eq!(s.programs[2].restart, Restart::Always { limit: 3 });
}

#[test]
fn the_root_task_takes_no_start_keys() {
    for key in [
        "priority = 10",
        "restart = \"always\"",
        "start = false",
        "budget_us = 10",
        "passive = false",
    ] {
        let text = ROOT.replace(
            "role = \"root-task\"",
            &format!("role = \"root-task\"\n{key}"),
        );
        let name = key.split(' ').next().unwrap();
        fails(
            &text,
            &[
                "program \"root-task\"",
                name,
                "does not apply to the root task",
                "remove it",
            ],
        );
    }
    fails(
        &format!("{BASE}[[connection]]\nclient = \"root-task\"\nserver = \"console\"\n"),
        &[
            "connection 1 (root-task -> console)",
            "root task gets its caps from the kernel",
        ],
    );
}

#[test]
fn connections_are_checked() {
    fails(
        &format!("{BASE}[[connection]]\nclient = \"hello\"\nserver = \"consol\"\n"),
        &[
            "connection 1 (hello -> consol)",
            "server \"consol\" is not a program",
            "root-task, console, hello",
        ],
    );
    fails(
        &format!("{BASE}[[connection]]\nclient = \"nobody\"\nserver = \"console\"\n"),
        &["connection 1", "client \"nobody\" is not a program"],
    );
    fails(
        &format!("{BASE}[[program]]\nname = \"other\"\ncrate = \"o\"\nrole = \"app\"\n[[connection]]\nclient = \"hello\"\nserver = \"other\"\n"),
        &["\"other\" has role = \"app\" and accepts no connections", "role = \"server\""],
    );
    fails(
        &format!("{BASE}[[connection]]\nclient = \"console\"\nserver = \"console\"\n"),
        &["cannot connect to itself"],
    );
    let twice = "[[connection]]\nclient = \"hello\"\nserver = \"console\"\n";
    fails(
        &format!("{BASE}{twice}{twice}"),
        &[
            "connection 2 (hello -> console)",
            "already has a connection named \"console\"",
            "name = ",
        ],
    );
    parse(&format!(
        "{BASE}{twice}{twice}name = \"console-admin\"\nrights = [\"admin\"]\n"
    ))
    .unwrap();
    fails(
        &format!(
            "{BASE}[[connection]]\nclient = \"hello\"\nserver = \"console\"\nrights = [\"root\"]\n"
        ),
        &["right \"root\" is not known", "relay, admin, protocol-0"],
    );
    fails(
        &format!("{}{twice}", BASE.replace("priority = 200", "priority = 100")),
        &["server \"console\" (priority 100) must have a higher priority than its client \"hello\" (priority 100)"],
    );
    fails(
        &format!(
            "{}{twice}",
            BASE.replace("priority = 200", "priority = 200\nstart = false")
        ),
        &[
            "server \"console\" has start = false",
            "start the server too",
        ],
    );
}

#[test]
fn regions_and_maps_are_checked() {
    let map = |region: &str, vaddr: &str| {
        format!("[[program.map]]\nregion = \"{region}\"\nvaddr = {vaddr}\n")
    };
    let ring = "[[region]]\nname = \"ring\"\nsize = 0x2000\n";
    fails(
        &format!("{BASE}[[region]]\nname = \"ring\"\nsize = 5000\n"),
        &[
            "region \"ring\"",
            "size = 5000 is not a positive multiple",
            "round it up to 8192",
        ],
    );
    fails(
        &format!("{BASE}[[region]]\nname = \"ring\"\nsize = 0\n"),
        &["size = 0"],
    );
    fails(
        &format!("{BASE}[[region]]\nname = \"dev\"\nsize = 4096\nphys_addr = 0x1234\n"),
        &["region \"dev\"", "phys_addr = 0x1234 is not page-aligned"],
    );
    fails(
        &format!("{BASE}{ring}"),
        &["region \"ring\" is mapped by no program", "[[program.map]]"],
    );
    fails(
        &format!("{BASE}{}{ring}", map("rng", "0x40000000")),
        &[
            "program \"hello\" map 1",
            "region \"rng\" is not defined",
            "map one of: ring",
        ],
    );
    fails(
        &format!("{BASE}{}{ring}", map("ring", "0x40000100")),
        &["program \"hello\" map 1", "not page-aligned"],
    );
    fails(
        &format!("{BASE}{}{ring}", map("ring", "0x1000")),
        &["map 1", "leaves the window", "0x40000000"],
    );
    fails(
        &format!("{BASE}{}{ring}", map("ring", "0x7ffffffff000")),
        &["leaves the window"],
    );
    fails(
        &format!(
            "{BASE}{}{}{ring}",
            map("ring", "0x40000000"),
            map("ring", "0x40001000")
        ),
        &[
            "program \"hello\" map 2 (region \"ring\" at 0x40001000..0x40003000) overlaps map 1",
            "move one of them",
        ],
    );
    parse(&format!(
        "{BASE}{}{}{ring}",
        map("ring", "0x40000000"),
        map("ring", "0x40002000")
    ))
    .unwrap();
    fails(
        &format!("{BASE}{}rights = \"wx\"\n{ring}", map("ring", "0x40000000")),
        &["rights = \"wx\" is not known", "\"rwx\""],
    );
    fails(
        &format!(
            "{BASE}{}cached = true\n[[region]]\nname = \"dev\"\nsize = 4096\nphys_addr = 0x10000\n",
            map("dev", "0x40000000")
        ),
        &["region \"dev\" is device memory", "remove cached = true"],
    );
}

#[test]
fn an_app_crate_gets_the_next_console_connection() {
    let text = std::fs::read_to_string(fixture("servers.toml")).unwrap();
    let s = parse(&text).unwrap();
    let m = s.manifest(&["outside"], Start::System).unwrap();
    let outside = m.programs.len() - 1;
    assert!(m.programs[outside].start);
    let c = m.connections.last().unwrap();
    let console = m.programs.iter().position(|p| p.name == "console").unwrap();
    assert_eq!(
        (usize::from(c.client), usize::from(c.server)),
        (outside, console)
    );
    assert_eq!(c.name, "console");
    let badge = ClientBadge::from_bits(c.badge).unwrap();
    // producer and consumer are clients 1 and 2 of the console.
    assert_eq!(badge.client().get(), 3);
    assert_eq!(
        badge.activity().0,
        3,
        "apps producer and consumer have activities 1 and 2"
    );
    let without = parse(ROOT)
        .unwrap()
        .manifest(&["outside"], Start::System)
        .unwrap();
    assert!(
        without.connections.is_empty(),
        "no console server, no connection"
    );
}
