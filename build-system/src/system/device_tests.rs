//! Host tests of the devices in the system description: interrupts (their
//! numbers, events, one handler each, and the architecture an entry is for),
//! I/O port ranges, device regions and the kernel's UART lent to one
//! program, each wrong one refused with the entry and the fix.

use keel_abi::manifest::Start;
use keel_abi::Arch;

use super::tests::{fails, parse, BASE};

#[test]
fn interrupts_are_checked() {
    let irq = |n: &str, e: &str| format!("[[program.irq]]\nirq = {n}\nevent = {e}\n");
    fails(
        &format!("{BASE}{}", irq("4", "63")),
        &[
            "program \"hello\" irq 1",
            "event = 63 is out of range",
            "0 to 62",
        ],
    );
    fails(
        &format!("{BASE}{}{}", irq("4", "0"), irq("5", "0")),
        &["irq 2", "event 0 is already used"],
    );
    let two = BASE.replace(
        "priority = 200",
        &format!("priority = 200\n{}", irq("4", "0")),
    );
    fails(
        &format!("{two}{}", irq("4", "1")),
        &[
            "program \"hello\" irq 1",
            "interrupt 4 is already given to program \"console\"",
            "remove one",
        ],
    );
}

#[test]
fn io_ports_are_checked() {
    let ports = |a: &str, b: &str| format!("[[program.ioport]]\nfirst = {a}\nlast = {b}\n");
    let ok = parse(&format!("{BASE}{}", ports("0x70", "0x71"))).unwrap();
    let m = ok.manifest(&[], Start::System).unwrap();
    let hello = m.programs.iter().find(|p| p.name == "hello").unwrap();
    assert_eq!(
        hello.ioports,
        vec![keel_abi::manifest::IoPorts {
            first: 0x70,
            last: 0x71
        }]
    );
    fails(
        &format!("{BASE}{}", ports("0x71", "0x70")),
        &["program \"hello\" ioport 1", "below first", "swap them"],
    );
    fails(
        &format!("{BASE}{}", ports("0", "0x10000")),
        &["ioport 1", "last = 65536 is out of range", "0 to 65535"],
    );
    fails(
        &format!("{BASE}{}", ports("0x3f0", "0x3f8")),
        &["ioport 1", "overlap 0x3f8..=0x3ff", "the kernel keeps"],
    );
    fails(
        &format!("{BASE}{}{}", ports("0x70", "0x71"), ports("0x71", "0x72")),
        &[
            "program \"hello\" ioport 2",
            "already given to program \"hello\"",
        ],
    );
    let two = BASE.replace(
        "priority = 200",
        &format!("priority = 200\n{}", ports("0x40", "0x43")),
    );
    fails(
        &format!("{two}{}", ports("0x43", "0x43")),
        &[
            "program \"hello\" ioport 1",
            "already given to program \"console\"",
        ],
    );
}

#[test]
fn an_interrupt_may_be_for_one_architecture() {
    let irq = |n: &str, e: &str, arch: &str| {
        format!("[[program.irq]]\nirq = {n}\nevent = {e}\narch = \"{arch}\"\n")
    };
    // One device, a line on each architecture, the same event.
    let both = format!(
        "{BASE}{}{}",
        irq("2", "0", "x86_64"),
        irq("30", "0", "aarch64")
    );
    let m = parse(&both).unwrap().manifest(&[], Start::System).unwrap();
    let hello = m.programs.iter().find(|p| p.name == "hello").unwrap();
    let lines = |a| {
        hello
            .irqs
            .iter()
            .filter(|i| i.applies_to(a))
            .map(|i| i.irq)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        (lines(Arch::X86_64), lines(Arch::Aarch64)),
        (vec![2], vec![30])
    );
    // The same line for both architectures' entries, and one for both, meet.
    fails(
        &format!(
            "{BASE}{}{}",
            irq("4", "0", "aarch64"),
            "[[program.irq]]\nirq = 5\nevent = 0\n"
        ),
        &["irq 2", "event 0 is already used", "on aarch64"],
    );
    fails(
        &format!("{BASE}{}", irq("4", "0", "riscv64")),
        &["irq 1", "arch \"riscv64\" is not known", "x86_64, aarch64"],
    );
}

#[test]
fn the_kernels_uart_is_lent_to_one_program() {
    let lent = BASE.replace("priority = 200", "priority = 200\nserial_device = true");
    let m = parse(&lent).unwrap().manifest(&[], Start::System).unwrap();
    let console = m.programs.iter().position(|p| p.name == "console");
    assert_eq!(m.serial.map(usize::from), console);
    let report = super::report::render(&m, "t.toml");
    assert!(report.contains("the kernel's UART, lent"), "{report}");
    assert_eq!(
        parse(BASE)
            .unwrap()
            .manifest(&[], Start::System)
            .unwrap()
            .serial,
        None
    );
    fails(
        &format!("{lent}serial_device = true\n"),
        &["2 programs have serial_device = true", "console, hello"],
    );
    fails(
        &BASE.replace(
            "role = \"root-task\"",
            "role = \"root-task\"\nserial_device = true",
        ),
        &["serial_device does not apply to the root task"],
    );
}

#[test]
fn device_regions_are_checked() {
    let map = |region: &str, vaddr: &str| {
        format!("[[program.map]]\nregion = \"{region}\"\nvaddr = {vaddr}\n")
    };
    let region = |name: &str, addr: &str, arch: Option<&str>| {
        let arch = arch.map_or(String::new(), |a| format!("arch = \"{a}\"\n"));
        format!("[[region]]\nname = \"{name}\"\nsize = 0x1000\nphys_addr = {addr}\n{arch}")
    };
    // One device per architecture at one address of the program: they never meet.
    let both = format!(
        "{BASE}{}{}{}{}",
        map("hpet", "0x50000000"),
        map("rtc", "0x50000000"),
        region("hpet", "0xfed00000", Some("x86_64")),
        region("rtc", "0x09010000", Some("aarch64"))
    );
    let m = parse(&both).unwrap().manifest(&[], Start::System).unwrap();
    let on = |a| {
        m.regions
            .iter()
            .filter(|r| r.applies_to(a))
            .map(|r| r.phys_addr)
            .collect::<Vec<_>>()
    };
    assert_eq!(on(Arch::X86_64), vec![Some(0xfed0_0000)]);
    assert_eq!(on(Arch::Aarch64), vec![Some(0x0901_0000)]);
    let report = super::report::render(&m, "t.toml");
    assert!(report.contains("device 0xfed00000 on x86_64"), "{report}");
    // The kernel's own device memory, on the architecture that has it.
    fails(
        &format!(
            "{BASE}{}{}",
            map("apic", "0x50000000"),
            region("apic", "0xfee00000", None)
        ),
        &[
            "region \"apic\"",
            "overlaps 0xfee00000..0xfee01000",
            "the kernel keeps for itself on x86_64",
        ],
    );
    fails(
        &format!(
            "{BASE}{}{}",
            map("gicc", "0x50000000"),
            region("gicc", "0x08010000", Some("aarch64"))
        ),
        &["region \"gicc\"", "the kernel keeps for itself on aarch64"],
    );
    let uart = format!(
        "{BASE}{}{}",
        map("uart", "0x50000000"),
        region("uart", "0x09000000", Some("x86_64"))
    );
    parse(&uart).unwrap();
    fails(
        &uart.replace("\"x86_64\"", "\"aarch64\""),
        &["region \"uart\"", "overlaps 0x9000000..0x9001000"],
    );
    // Two regions over one device's page, on an architecture both apply to.
    fails(
        &format!(
            "{BASE}{}{}{}{}",
            map("a", "0x50000000"),
            map("b", "0x60000000"),
            region("a", "0xfed00000", None),
            region("b", "0xfed00000", Some("x86_64"))
        ),
        &[
            "region \"b\"",
            "overlaps region \"a\" (0xfed00000..0xfed01000) on x86_64",
            "one region",
        ],
    );
    fails(
        &format!(
            "{BASE}{}{}",
            map("a", "0x50000000"),
            region("a", "0xfed00000", Some("mips"))
        ),
        &["region \"a\"", "arch \"mips\" is not known"],
    );
}
