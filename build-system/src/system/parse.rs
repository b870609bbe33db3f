//! The shape of `system.toml` as serde reads it: every table and key, with
//! unknown keys refused, numbers still as TOML's i64 and names not yet
//! resolved. [`super::validate`] turns this into a checked [`super::System`],
//! so every range and cross-reference error there can name the entry and
//! the fix rather than surface as a bare deserialisation error.

use keel_abi::manifest::Role;
use serde::Deserialize;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    /// `[system]`.
    pub system: SystemTable,
    /// `[[program]]`, in file order.
    #[serde(default)]
    pub program: Vec<Program>,
    /// `[[connection]]`, in file order.
    #[serde(default)]
    pub connection: Vec<Connection>,
    /// `[[region]]`, in file order.
    #[serde(default)]
    pub region: Vec<Region>,
    /// `[[activity]]`, in file order.
    #[serde(default)]
    pub activity: Vec<Activity>,
    /// `[memory]`.
    pub memory: Option<super::memory::Raw>,
}

/// `[system]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemTable {
    /// The system's name.
    pub name: String,
}

/// `restart = "always" | "never"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Restart {
    /// Restart it when it faults or exits.
    Always,
    /// Leave it stopped.
    Never,
}

/// One `[[program]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Program {
    /// Its name.
    pub name: String,
    /// The cargo package that builds it.
    #[serde(rename = "crate")]
    pub crate_name: String,
    /// Its role.
    pub role: Role,
    /// Started by init at boot?
    pub start: Option<bool>,
    /// 0..=255.
    pub priority: Option<i64>,
    /// Microseconds per period.
    pub budget_us: Option<i64>,
    /// Microseconds.
    pub period_us: Option<i64>,
    /// Runs on its callers' SchedContexts.
    pub passive: Option<bool>,
    /// Restart policy.
    pub restart: Option<Restart>,
    /// Restarts allowed with `restart = "always"`.
    pub restart_limit: Option<i64>,
    /// Gets a Debug cap.
    pub debug: Option<bool>,
    /// Is the scheduler server (gets SchedControl).
    pub sched_control: Option<bool>,
    /// Gets the UART the kernel prints to (the serial server).
    pub serial_device: Option<bool>,
    /// Is the process server (gets the process pool and the boot archive).
    pub process_server: Option<bool>,
    /// Keeps consumption records (the Accounting protocol): init adds it to
    /// the servers whose records the scheduler server reads.
    pub accounting: Option<bool>,
    /// `[[program.map]]`.
    #[serde(default)]
    pub map: Vec<Map>,
    /// `[[program.irq]]`.
    #[serde(default)]
    pub irq: Vec<Irq>,
    /// `[[program.ioport]]`.
    #[serde(default)]
    pub ioport: Vec<IoPort>,
}

/// One `[[program.map]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Map {
    /// Region name.
    pub region: String,
    /// Virtual address.
    pub vaddr: i64,
    /// `"r"`, `"rw"`, `"rx"` or `"rwx"`.
    pub rights: Option<String>,
    /// Cacheable?
    pub cached: Option<bool>,
}

/// One `[[program.irq]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Irq {
    /// Interrupt number.
    pub irq: i64,
    /// Notification event bit.
    pub event: i64,
    /// `"x86_64"` or `"aarch64"`: the one architecture it applies to.
    pub arch: Option<String>,
}

/// One `[[program.ioport]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IoPort {
    /// First port.
    pub first: i64,
    /// Last port.
    pub last: i64,
}

/// One `[[connection]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connection {
    /// Program that calls.
    pub client: String,
    /// Program with role server that answers.
    pub server: String,
    /// The client's name for the cap (default: the server's name).
    pub name: Option<String>,
    /// Badge rights.
    #[serde(default)]
    pub rights: Vec<String>,
}

/// One `[[region]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Region {
    /// Its name.
    pub name: String,
    /// Bytes, a multiple of 4 KiB.
    pub size: i64,
    /// Physical address of a device region.
    pub phys_addr: Option<i64>,
    /// `"x86_64"` or `"aarch64"`: the one architecture it applies to.
    pub arch: Option<String>,
}

/// A number written with or without a fraction (`50` or `33.3`).
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(untagged)]
pub enum Number {
    /// Written without a fraction.
    Integer(i64),
    /// Written with one.
    Float(f64),
}

impl Number {
    /// Its value.
    pub fn value(self) -> f64 {
        match self {
            Number::Integer(i) => i as f64,
            Number::Float(f) => f,
        }
    }
}

/// One `[[activity]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Activity {
    /// Its name.
    pub name: String,
    /// Its entitlement as a percentage of one core.
    pub share_percent: Option<Number>,
    /// Or as microseconds per period.
    pub budget_us: Option<i64>,
    /// Microseconds.
    pub period_us: Option<i64>,
    /// 0..=254.
    pub priority: Option<i64>,
    /// Names of its member programs.
    #[serde(default)]
    pub members: Vec<String>,
    /// May it run past its entitlement when the CPU is otherwise idle?
    pub may_exceed_when_idle: Option<bool>,
}
