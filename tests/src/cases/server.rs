//! SERVER: the console server and a keel-rt app as init will start them,
//! with the test in init's place: each built by keel-loader from its own
//! untyped with a ProcessInfo page made by hand, its caps in the slots the
//! page names, and the test's endpoint as its init endpoint (and fault
//! endpoint, badged apart). The test reads what they tell init through
//! keel-protocols' generated Init dispatch, makes the console passive once
//! it announced itself, and talks to it through the generated stubs.

use crate::process::resources;
use crate::support::{reply_object, slot, step};
use crate::{ensure, Env, TestResult};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use keel_abi::archive::Archive;
use keel_abi::process::{NamedCap, ProcessInfo, ProcessSlots, PROCESS_INFO_VADDR};
use keel_abi::{CapRights, MessageInfo, ObjectType};
use keel_loader::{Budget, ExtraPage, GivenCap, Process, ProcessConfig, SlotLayout};
use keel_protocols::console::{ConsoleClient, ConsoleError, Line, Tag};
use keel_protocols::init::{self, InitError, InitServer};
use keel_protocols::sys::{EndpointClient, EndpointServer};
use keel_protocols::wire::{Header, Incoming, OutMessage, REPLY_RPC_ERROR};
use keel_protocols::{
    console, ActivityId, Caller, ClientBadge, ClientId, Rights, RpcError, ServerTransport,
};
use keel_sys::cap::{init_thread, Endpoint};
use keel_sys::{CPtr, Cap};

/// Where the programs find the caps the test gives them (keel-loader puts
/// given caps from slot 4 in order).
const INIT_SLOT: u64 = keel_loader::slot::FIRST_GIVEN;
/// The console's endpoint in the console; the connection in an app.
const SECOND_SLOT: u64 = INIT_SLOT + 1;
/// The console's Reply object.
const REPLY_SLOT: u64 = INIT_SLOT + 2;
/// The console's Debug cap.
const DEBUG_SLOT: u64 = INIT_SLOT + 3;
/// An empty slot below the loader's, for caps the program receives.
const RECEIVE_SLOT: u64 = keel_loader::slot::FIRST_LOADER - 1;
/// log2 of the programs' CNode size: keel-rt's 1 MiB heap alone is 256
/// frames, each cap in the process's CNode.
const CNODE_RADIX: u64 = 10;
/// The console's priority: below the test's (255), so that the test waits
/// on its endpoint before the console announces itself (a one-way send
/// finds no receiver otherwise), and above the app's.
const CONSOLE_PRIORITY: u64 = 200;
/// The app's priority: below the console's, as the description requires.
const APP_PRIORITY: u64 = 100;
/// The console's client number for the init endpoint and faults.
const CONSOLE_CLIENT: u16 = 1;
/// The app's.
const APP_CLIENT: u16 = 2;
/// Faults of either program arrive with this client number.
const FAULT_CLIENT: u16 = 99;
/// Clients whose tags the console keeps (keel-console's table).
const CONSOLE_TAGS: u16 = 32;

/// A badge naming `client`, charged to activity 1.
fn badge(client: u16) -> u64 {
    ClientId::new(client)
        .map(|c| ClientBadge::new(c, ActivityId(1), Rights::NONE).bits())
        .unwrap_or(0)
}

/// The cap in root slot `s`, given to a program with `badge`.
fn given(s: u64, rights: CapRights, badge: u64) -> GivenCap {
    GivenCap {
        cptr: CPtr::from_bits(s),
        rights,
        badge,
    }
}

/// What the programs told init, as the generated Init dispatch reads it.
#[derive(Default)]
struct Supervisor {
    ready: Vec<u16>,
    exits: Vec<(u16, u32)>,
}

impl InitServer for Supervisor {
    fn ready(&mut self, caller: &Caller) -> Result<(), InitError> {
        self.ready.push(caller.badge.client().get());
        Ok(())
    }

    fn exit(&mut self, caller: &Caller, status: u32) -> Result<(), InitError> {
        self.exits.push((caller.badge.client().get(), status));
        Ok(())
    }
}

/// The test in init's place: its endpoint, received from with a Reply
/// object (an exit waits on it for good).
struct Init {
    endpoint: u64,
    /// The endpoint again, badged for faults: every program's fault endpoint.
    fault_ep: u64,
    transport: EndpointServer,
    supervisor: Supervisor,
}

impl Init {
    fn new(env: &Env) -> Result<Init, String> {
        let endpoint = super::retype::make(env, 12, ObjectType::Endpoint, 0, 1)?;
        let fault_ep = env.slots(1)?;
        step(
            slot(fault_ep).mint(&slot(endpoint), CapRights::ALL, badge(FAULT_CLIENT)),
            "mint the fault endpoint",
        )?;
        let reply = reply_object(env)?;
        let transport = EndpointServer::new(Cap::from_cptr(CPtr::from_bits(endpoint)), reply, None)
            .map_err(|e| format!("init's transport: {e}"))?;
        Ok(Init {
            endpoint,
            fault_ep,
            transport,
            supervisor: Supervisor::default(),
        })
    }

    /// Receives one message and dispatches it; a fault, or anything else
    /// the Init protocol refuses, fails the test.
    fn receive(&mut self) -> TestResult {
        let mut incoming = Incoming::default();
        self.transport.recv(&mut incoming);
        if incoming.badge == badge(FAULT_CLIENT) {
            return Err(format!(
                "a program faulted: fault label {:#x}",
                incoming.message.label
            ));
        }
        let mut reply = OutMessage::new();
        init::dispatch(&mut self.supervisor, &incoming, &mut reply);
        ensure!(
            reply.label != REPLY_RPC_ERROR,
            "init refused a message with label {:#x}: {:?}",
            incoming.message.label,
            RpcError::from_words([reply.words[0], reply.words[1], reply.words[2]])
        );
        Ok(())
    }
}

/// Builds program `name` of the boot archive from an untyped of at least
/// `2^bits` bytes with `caps` from slot 4 and `info` as its ProcessInfo
/// page, at `priority`, with `fault_ep` as its fault endpoint.
fn start(
    env: &Env,
    name: &str,
    info: &ProcessInfo,
    caps: &[GivenCap],
    priority: u64,
    fault_ep: u64,
) -> Result<Process, String> {
    let archive = Archive::parse(keel_rt::boot_archive(env.boot_info))
        .map_err(|e| format!("the boot archive: {e:?}"))?;
    let image = archive
        .find(name)
        .map(|e| archive.data(e))
        .ok_or(format!("the boot archive has no `{name}` program"))?;
    let page = info
        .encode_page()
        .map_err(|e| format!("encoding {name}'s ProcessInfo page: {e}"))?;
    // Each process holds a 1 MiB heap: 4 MiB leave room for code and tables.
    let (untyped, _) = env.untyped(22)?;
    let cfg = ProcessConfig {
        priority,
        fault_ep: Some(CPtr::from_bits(fault_ep)),
        arg: PROCESS_INFO_VADDR,
        caps,
        extra_pages: &[ExtraPage {
            vaddr: PROCESS_INFO_VADDR,
            bytes: &page,
        }],
        budget: Some(Budget::ROUND_ROBIN),
        layout: SlotLayout {
            cnode_radix: CNODE_RADIX,
            ..SlotLayout::default()
        },
        ..ProcessConfig::default()
    };
    keel_loader::spawn(image, &resources(env, untyped)?, &cfg)
        .map_err(|e| format!("starting {name}: {e}"))
}

/// The slots every program's page names.
fn slots(init: u64) -> ProcessSlots {
    ProcessSlots {
        tcb: keel_loader::slot::TCB,
        cnode: keel_loader::slot::CNODE,
        vspace: keel_loader::slot::VSPACE,
        init,
        receive: RECEIVE_SLOT,
        ..ProcessSlots::default()
    }
}

/// A running console: its endpoint (in a root slot) and init.
struct Running {
    init: Init,
    console_ep: u64,
}

/// Starts the console, waits for its `ready` and makes it passive, as
/// init will.
fn start_console(env: &Env) -> Result<Running, String> {
    let mut init = Init::new(env)?;
    let console_ep = super::retype::make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let reply = reply_object(env)?;
    let info = ProcessInfo {
        name: "console".to_string(),
        slots: ProcessSlots {
            endpoint: Some(SECOND_SLOT),
            reply: Some(REPLY_SLOT),
            debug: Some(DEBUG_SLOT),
            ..slots(INIT_SLOT)
        },
        ..ProcessInfo::default()
    };
    let caps = [
        given(init.endpoint, CapRights::ALL, badge(CONSOLE_CLIENT)),
        given(console_ep, CapRights::ALL, 0),
        given(reply.cptr().bits(), CapRights::ALL, 0),
        given(init_thread::DEBUG.cptr().bits(), CapRights::WRITE, 0),
    ];
    let console = start(
        env,
        "console",
        &info,
        &caps,
        CONSOLE_PRIORITY,
        init.fault_ep,
    )?;
    init.receive()?;
    ensure!(
        init.supervisor.ready == [CONSOLE_CLIENT],
        "init heard {:?} ready, {:?} exit",
        init.supervisor.ready,
        init.supervisor.exits
    );
    step(
        console.sched_context.sched_context_unbind(),
        "make the console passive",
    )?;
    Ok(Running { init, console_ep })
}

/// A client of the console: a cap to its endpoint badged for `client`.
fn console_client(
    env: &Env,
    running: &Running,
    client: u16,
) -> Result<ConsoleClient<EndpointClient>, String> {
    let s = env.slots(1)?;
    step(
        slot(s).mint(&slot(running.console_ep), CapRights::ALL, badge(client)),
        "mint a console client's cap",
    )?;
    let endpoint = EndpointClient::new(Cap::from_cptr(CPtr::from_bits(s)), None)
        .map_err(|e| format!("a console client: {e}"))?;
    Ok(ConsoleClient::new(endpoint))
}

/// A stub's result, its error as the test's reason.
fn served<T>(result: Result<T, ConsoleError>, what: &str) -> Result<T, String> {
    result.map_err(|e| format!("{what}: {e:?}"))
}

fn line(s: &str) -> Line {
    Line::try_from(s).unwrap_or_default()
}

pub fn console_serves_stubs(env: &Env) -> TestResult {
    let running = start_console(env)?;
    let mut client = console_client(env, &running, 5)?;
    let tag = Tag::try_from("server0001").unwrap_or_default();
    served(client.set_tag(&tag), "set_tag")?;
    served(
        client.write_line(&line("a line through the console server")),
        "write_line",
    )?;
    served(client.write_text("two lines\nin one text"), "write_text")?;
    served(client.flush(), "flush")?;
    ensure!(
        client.write_line(&line("bell\u{7}")) == Err(ConsoleError::ControlCharacter),
        "a line with a control character was accepted"
    );
    let bad_tag = Tag::try_from("two words").unwrap_or_default();
    ensure!(
        client.set_tag(&bad_tag) == Err(ConsoleError::BadTag),
        "a tag with a space was accepted"
    );
    served(
        client.write_line(&line("still served")),
        "write_line after errors",
    )?;
    Ok(())
}

pub fn console_answers_malformed_requests(env: &Env) -> TestResult {
    let running = start_console(env)?;
    let s = env.slots(1)?;
    step(
        slot(s).mint(&slot(running.console_ep), CapRights::ALL, badge(6)),
        "mint a console client's cap",
    )?;
    let raw = |protocol: u16, version: u8, op: u8, words: u64| {
        let label = Header {
            protocol,
            version,
            op,
            relay: None,
        }
        .label();
        let got = Cap::<Endpoint>::from_cptr(CPtr::from_bits(s))
            .call(MessageInfo::new(label, 0, 0, words), [0; 4]);
        (got.info.label() == REPLY_RPC_ERROR)
            .then(|| RpcError::from_words([got.mrs[0], got.mrs[1], got.mrs[2]]))
            .flatten()
    };
    let (p, v) = (console::PROTOCOL, console::VERSION);
    let cases = [
        (raw(p, v, 9, 0), RpcError::UnknownOperation { op: 9 }),
        (
            raw(p + 1, v, 2, 0),
            RpcError::WrongProtocol {
                expected: p,
                got: p + 1,
            },
        ),
        (
            raw(p, v + 1, 2, 0),
            RpcError::VersionMismatch {
                server: v,
                client: v + 1,
            },
        ),
        (raw(p, v, 2, 3), RpcError::WrongLength { words: 3 }),
    ];
    for (i, (got, expected)) in cases.iter().enumerate() {
        ensure!(
            *got == Some(*expected),
            "malformed request {i}: {got:?}, expected {expected:?}"
        );
    }
    let mut client = console_client(env, &running, 6)?;
    served(
        client.write_line(&line("served after malformed requests")),
        "write_line",
    )
}

pub fn console_tag_table_is_bounded(env: &Env) -> TestResult {
    let running = start_console(env)?;
    let tag = Tag::try_from("t").unwrap_or_default();
    for n in 1..=CONSOLE_TAGS {
        let mut client = console_client(env, &running, n)?;
        served(client.set_tag(&tag), "set_tag while the table has room")?;
    }
    let mut last = console_client(env, &running, CONSOLE_TAGS + 1)?;
    ensure!(
        last.set_tag(&tag) == Err(ConsoleError::Rpc(RpcError::Full)),
        "a tag past the table's capacity was not refused as Full"
    );
    served(
        last.write_line(&line("served without a tag")),
        "write_line from the client with no tag",
    )
}

/// Starts the hello app with `arg`, a connection to `console` if given
/// and a write-only Debug cap if `debug`; returns the status of the exit
/// init hears next.
fn run_hello(
    env: &Env,
    init: &mut Init,
    console: Option<u64>,
    debug: bool,
    arg: u64,
) -> Result<u32, String> {
    let mut caps = vec![given(init.endpoint, CapRights::ALL, badge(APP_CLIENT))];
    let mut info = ProcessInfo {
        name: "hello".to_string(),
        slots: slots(INIT_SLOT),
        arg,
        ..ProcessInfo::default()
    };
    if let Some(console_ep) = console {
        info.connections.push(NamedCap {
            name: "console".to_string(),
            slot: INIT_SLOT + caps.len() as u64,
        });
        caps.push(given(console_ep, CapRights::ALL, badge(APP_CLIENT)));
    }
    if debug {
        info.slots.debug = Some(INIT_SLOT + caps.len() as u64);
        caps.push(given(init_thread::DEBUG.cptr().bits(), CapRights::WRITE, 0));
    }
    start(env, "hello", &info, &caps, APP_PRIORITY, init.fault_ep)?;
    init.receive()?;
    match init.supervisor.exits[..] {
        [(APP_CLIENT, status)] => Ok(status),
        ref exits => Err(format!(
            "init heard exits {exits:?}, ready {:?}",
            init.supervisor.ready
        )),
    }
}

pub fn app_prints_through_console_and_exits(env: &Env) -> TestResult {
    let mut running = start_console(env)?;
    let status = run_hello(env, &mut running.init, Some(running.console_ep), false, 0)?;
    ensure!(status == 0, "hello exited with {status}");
    Ok(())
}

pub fn app_panic_exits_with_panic_status(env: &Env) -> TestResult {
    let mut running = start_console(env)?;
    let status = run_hello(
        env,
        &mut running.init,
        Some(running.console_ep),
        false,
        keel_hello::ARG_PANIC,
    )?;
    ensure!(
        status == keel_rt::PANIC_STATUS,
        "a panicking hello exited with {status}"
    );
    Ok(())
}

pub fn app_without_console_prints_through_debug(env: &Env) -> TestResult {
    let mut init = Init::new(env)?;
    let status = run_hello(env, &mut init, None, true, 0)?;
    ensure!(status == 0, "hello exited with {status}");
    Ok(())
}
