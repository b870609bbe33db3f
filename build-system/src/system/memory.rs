//! The memory managers in the system description: `[memory]` names the
//! slave programs (each gets a partition of `2^partition_bits` bytes), the
//! master and its policy (`"watermark"` with `low_mem_percent` and
//! `high_mem_percent`, or `"round-robin"`), the programs init makes memory
//! clients, and `[[memory.limit]]` the pages an activity may hold at each
//! slave. Checked here into the manifest's `MemoryManagers`.
//!
//! ```toml
//! [memory]
//! slaves = ["mm-slave-0", "mm-slave-1"]
//! master = "mm-master"
//! partition_bits = 20
//! policy = "watermark"
//! low_mem_percent = 90
//! high_mem_percent = 95
//! clients = ["app"]
//! [[memory.limit]]
//! activity = "batch"
//! pages = 64
//! ```

use anyhow::{bail, Result};
use keel_abi::manifest::{MemoryLimit, MemoryManagers, MemoryPolicy, Role};
use serde::Deserialize;

use super::activity::Activity;
use super::validate::in_range;
use super::Program;

/// The smallest partition: 64 KiB.
pub const MIN_PARTITION_BITS: u8 = 16;
/// The largest: 16 MiB (its slave's CNode holds three slots per page).
pub const MAX_PARTITION_BITS: u8 = 24;

/// `[memory]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    /// Slave program names, slave 0 first.
    pub slaves: Vec<String>,
    /// The master's name.
    pub master: Option<String>,
    /// log2 of each partition.
    pub partition_bits: i64,
    /// `"watermark"` or `"round-robin"`.
    pub policy: Option<String>,
    /// LowMem, percent.
    pub low_mem_percent: Option<i64>,
    /// HighMem, percent.
    pub high_mem_percent: Option<i64>,
    /// Programs made memory clients.
    #[serde(default)]
    pub clients: Vec<String>,
    /// `[[memory.limit]]`.
    #[serde(default)]
    pub limit: Vec<RawLimit>,
}

/// One `[[memory.limit]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimit {
    /// The activity's name.
    pub activity: String,
    /// Pages at each slave.
    pub pages: i64,
}

/// The index of the program named `name`, checked to have `role` (or, for
/// a client, to be the process server, whose processes' groups then come
/// from its slave).
fn program(f: &str, programs: &[Program], name: &str, what: &str, role: Role) -> Result<u16> {
    let Some(i) = programs.iter().position(|p| p.name == name) else {
        bail!("{f}: [memory] {what} \"{name}\" is no program; declare it or fix the name");
    };
    let process_client = role == Role::App && programs[i].process_server;
    if programs[i].role != role && !process_client {
        bail!(
            "{f}: [memory] {what} \"{name}\" has role {}; its role must be {role}",
            programs[i].role
        );
    }
    Ok(i as u16)
}

fn priority(p: &Program) -> u8 {
    p.sched.map_or(0, |s| s.priority)
}

/// Checks `[memory]` against the programs and activities.
///
/// # Errors
/// The first problem, naming the key and the fix.
pub fn memory(
    f: &str,
    raw: Option<Raw>,
    programs: &[Program],
    activities: &[Activity],
) -> Result<Option<MemoryManagers>> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    if raw.slaves.is_empty() {
        bail!("{f}: [memory] names no slaves; name at least one server program");
    }
    let mut slaves = Vec::new();
    for name in &raw.slaves {
        let s = program(f, programs, name, "slave", Role::Server)?;
        if slaves.contains(&s) {
            bail!("{f}: [memory] names slave \"{name}\" twice; each slave is its own program");
        }
        slaves.push(s);
    }
    let master = raw
        .master
        .as_deref()
        .map(|m| program(f, programs, m, "master", Role::Server))
        .transpose()?;
    let lowest_slave = slaves
        .iter()
        .map(|&s| priority(&programs[usize::from(s)]))
        .min();
    let below_slaves = |i: u16| Some(priority(&programs[usize::from(i)])) < lowest_slave;
    if let Some(m) = master {
        if slaves.contains(&m) {
            bail!("{f}: [memory] master is also a slave; give it its own program");
        }
        if !below_slaves(m) {
            bail!("{f}: [memory] the master calls the slaves: put it below every slave's priority");
        }
    }
    let partition_bits = in_range(
        raw.partition_bits,
        MIN_PARTITION_BITS,
        MAX_PARTITION_BITS,
        "[memory] partition_bits",
    )?;
    let percent = |v: Option<i64>, key: &str, default: u16| -> Result<u16> {
        v.map_or(Ok(default), |v| in_range(v, 0, 100, key))
            .map(|p| p * 10)
    };
    let policy = match raw.policy.as_deref().unwrap_or("watermark") {
        "round-robin" => MemoryPolicy::RoundRobin,
        "watermark" => {
            let low = percent(raw.low_mem_percent, "[memory] low_mem_percent", 90)?;
            let high = percent(raw.high_mem_percent, "[memory] high_mem_percent", 95)?;
            if low > high {
                bail!("{f}: [memory] low_mem_percent is above high_mem_percent; lower it");
            }
            MemoryPolicy::Watermark { low, high }
        }
        other => bail!(
            "{f}: [memory] policy \"{other}\" is unknown; use \"watermark\" or \"round-robin\""
        ),
    };
    let mut clients = Vec::new();
    for name in &raw.clients {
        let c = program(f, programs, name, "client", Role::App)?;
        if !below_slaves(c) {
            bail!("{f}: [memory] client \"{name}\": its slave handles its faults; put it below every slave's priority");
        }
        clients.push(c);
    }
    let mut limits = Vec::new();
    for l in &raw.limit {
        let Some(a) = activities.iter().find(|a| a.name == l.activity) else {
            bail!(
                "{f}: [[memory.limit]] names activity \"{}\", which is not declared",
                l.activity
            );
        };
        let pages = in_range(l.pages, 1, u32::MAX, "[[memory.limit]] pages")?.into();
        limits.push(MemoryLimit {
            activity: a.id,
            pages,
        });
    }
    Ok(Some(MemoryManagers {
        slaves,
        master,
        partition_bits,
        policy,
        clients,
        limits,
    }))
}

#[cfg(test)]
mod tests {
    use super::super::tests::parse;

    /// Two slaves at 150, a master at 140, an app at 100 in activity
    /// "batch", then `memory` (TOML text).
    fn system(memory: &str) -> String {
        let mut s = String::from(
            "[system]\nname = \"t\"\n\
             [[program]]\nname = \"root-task\"\ncrate = \"keel-root-task\"\nrole = \"root-task\"\n",
        );
        for (name, krate, role, priority) in [
            ("s0", "keel-mm-slave", "server", 150),
            ("s1", "keel-mm-slave", "server", 150),
            ("m", "keel-mm-master", "server", 140),
        ] {
            s.push_str(&format!(
                "[[program]]\nname = \"{name}\"\ncrate = \"{krate}\"\nrole = \"{role}\"\npriority = {priority}\n"
            ));
        }
        s.push_str("[[program]]\nname = \"app\"\ncrate = \"keel-hello\"\nrole = \"app\"\n");
        s.push_str(
            "[[activity]]\nname = \"batch\"\nshare_percent = 20\npriority = 100\nmembers = [\"app\"]\n",
        );
        s.push_str(memory);
        s
    }

    #[test]
    fn a_described_memory_system_reaches_the_manifest() {
        let text = system(
            "[memory]\nslaves = [\"s0\", \"s1\"]\nmaster = \"m\"\npartition_bits = 20\n\
             low_mem_percent = 80\nclients = [\"app\"]\n[[memory.limit]]\nactivity = \"batch\"\npages = 64\n",
        );
        let s = parse(&text).unwrap();
        let m = s.manifest(&[], keel_abi::manifest::Start::System).unwrap();
        let mm = m.memory.unwrap();
        assert_eq!(mm.slaves, [1, 2]);
        assert_eq!(mm.master, Some(3));
        assert_eq!(mm.clients, [4]);
        assert_eq!(
            mm.policy,
            keel_abi::manifest::MemoryPolicy::Watermark {
                low: 800,
                high: 950
            }
        );
        assert_eq!(mm.limits[0].pages, 64);
    }

    #[test]
    fn the_process_server_may_be_a_client() {
        let server = "[[program]]\nname = \"ps\"\ncrate = \"keel-process\"\nrole = \"server\"\n\
                      priority = 120\nprocess_server = true\n";
        let text = system(&format!(
            "{server}[memory]\nslaves = [\"s0\"]\npartition_bits = 20\nclients = [\"ps\"]\n"
        ));
        let s = parse(&text).unwrap();
        let m = s.manifest(&[], keel_abi::manifest::Start::System).unwrap();
        assert_eq!(m.memory.unwrap().clients, [5]);
    }

    #[test]
    fn wrong_memory_descriptions_are_refused() {
        for (memory, says) in [
            ("slaves = []\npartition_bits = 20", "names no slaves"),
            ("slaves = [\"x\"]\npartition_bits = 20", "is no program"),
            ("slaves = [\"app\"]\npartition_bits = 20", "role must be server"),
            ("slaves = [\"s0\", \"s0\"]\npartition_bits = 20", "twice"),
            ("slaves = [\"s0\"]\nmaster = \"s0\"\npartition_bits = 20", "also a slave"),
            ("slaves = [\"s0\"]\npartition_bits = 40", "partition_bits"),
            (
                "slaves = [\"s0\"]\npartition_bits = 20\nlow_mem_percent = 96",
                "above high_mem_percent",
            ),
            ("slaves = [\"s0\"]\npartition_bits = 20\npolicy = \"best\"", "unknown"),
            ("slaves = [\"s0\"]\npartition_bits = 20\nclients = [\"s1\"]", "role must be app"),
            (
                "slaves = [\"s0\"]\npartition_bits = 20\n[[memory.limit]]\nactivity = \"x\"\npages = 1",
                "not declared",
            ),
        ] {
            let err = parse(&system(&format!("[memory]\n{memory}\n")))
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{memory}: {err}");
        }
    }
}
