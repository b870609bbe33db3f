//! The description's process server (`process_server = true`, see the
//! README's "The process server"): which program it is, and what it must be.

use anyhow::{bail, Result};
use keel_abi::manifest::Role;

use super::Program;

/// The process server (`process_server = true`): at most one, an active
/// server (it is its processes' fault handler, and their faults come with
/// no context it could run on afterwards).
pub(super) fn check(f: &str, programs: &[Program]) -> Result<()> {
    let servers: Vec<&Program> = programs.iter().filter(|p| p.process_server).collect();
    if servers.len() > 1 {
        let names: Vec<&str> = servers.iter().map(|p| p.name.as_str()).collect();
        bail!(
            "{f}: {} programs have process_server = true ({}); the process pool goes to one \
             process server: keep it on one",
            names.len(),
            names.join(", ")
        );
    }
    let Some(p) = servers.first() else {
        return Ok(());
    };
    let entry = format!("{f}: program \"{}\"", p.name);
    match p.sched {
        Some(s) if p.role == Role::Server && !s.passive => Ok(()),
        Some(_) if p.role == Role::Server => bail!(
            "{entry}: the process server handles its processes' faults and must run when \
             none lends it a context; remove passive"
        ),
        _ => bail!(
            "{entry}: process_server = true is for a server (role = \"server\"); change its \
             role or remove the key"
        ),
    }
}
