//! The activities of a system description (`[[activity]]`): what CPU time
//! is charged to and how much each may have. Each is entitled to a share of
//! one core (`share_percent`) or a budget every period (`budget_us`,
//! `period_us`), runs its threads at one priority, and names its member
//! programs (apps). The entitlements together may not pass
//! [`ACTIVITY_LIMIT_PERCENT`] of a core: the rest, [`RESERVED_PERCENT`], is
//! kept back for the kernel (timer interrupts, IPC, fault delivery) and for
//! the work of the servers that run on budgets of their own (the scheduler
//! server answering timeout faults and usage queries among them).

use std::collections::HashSet;

use anyhow::{bail, Context, Result};
use keel_abi::manifest::Role;
use keel_abi::manifest::Sched;
use keel_abi::sched::{MAX_PERIOD_US, MIN_BUDGET_US};

use super::check_name;
use super::parse;
use super::validate::{in_range, DEFAULT_PRIORITY, MAX_PROGRAM_PRIORITY};
use super::Program;

use keel_protocols::scheduler::MAX_SERVERS;
pub use keel_protocols::scheduler::{ACTIVITY_LIMIT_PERCENT, RESERVED_PERCENT};
/// An activity's period when it gives a share and no period, in microseconds.
pub const DEFAULT_ACTIVITY_PERIOD_US: u32 = 10_000;

/// A validated activity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Activity {
    /// Its name.
    pub name: String,
    /// Its number in badges: 1, 2, ... in file order.
    pub id: u16,
    /// Microseconds of CPU per period, for all its threads together.
    pub budget_us: u32,
    /// Microseconds.
    pub period_us: u32,
    /// Its threads' priority.
    pub priority: u8,
    /// Indices of its members in [`super::System::programs`].
    pub members: Vec<usize>,
    /// May it run past its entitlement when the CPU is otherwise idle?
    pub may_exceed_when_idle: bool,
}

impl Activity {
    /// Its entitlement in percent of a core.
    pub fn percent(&self) -> f64 {
        percent(self.budget_us, self.period_us)
    }

    /// The scheduling its member programs start with: the activity's
    /// priority and its whole budget (the scheduler server divides it
    /// among the threads the members make).
    pub fn member_sched(&self) -> Sched {
        Sched {
            priority: self.priority,
            budget_us: self.budget_us,
            period_us: self.period_us,
            passive: false,
        }
    }
}

/// `budget_us` every `period_us` in percent of a core.
pub fn percent(budget_us: u32, period_us: u32) -> f64 {
    f64::from(budget_us) * 100.0 / f64::from(period_us)
}

/// Checks every `[[activity]]` against the raw programs, numbering them 1,
/// 2, ... in file order; members are resolved by name, so `members` holds
/// indices into `raw` (the caller maps them to program indices).
///
/// # Errors
/// The first problem, naming `f`, the activity and the fix.
pub fn activities(
    f: &str,
    raw: &[parse::Activity],
    programs: &[parse::Program],
) -> Result<Vec<Activity>> {
    let mut names = HashSet::new();
    let mut member_of: Vec<Option<&str>> = vec![None; programs.len()];
    let mut out = Vec::new();
    for (k, a) in raw.iter().enumerate() {
        let entry = format!("{f}: activity \"{}\"", a.name);
        check_name(&a.name).with_context(|| entry.clone())?;
        if !names.insert(a.name.as_str()) {
            bail!("{entry} is defined twice; activity names must be unique: rename or remove one");
        }
        let id = u16::try_from(k + 1)
            .with_context(|| format!("{entry}: more than 65535 activities; remove some"))?;
        let (budget_us, period_us) = entitlement(a).with_context(|| entry.clone())?;
        let priority = match a.priority {
            Some(v) => in_range(v, 0u8, MAX_PROGRAM_PRIORITY, "priority")
                .with_context(|| format!("{entry}: priorities run from 0 to 254"))?,
            None => DEFAULT_PRIORITY,
        };
        if a.members.is_empty() {
            bail!(
                "{entry} has no members; name the programs whose threads it runs \
                 (members = [\"...\"]) or remove it"
            );
        }
        let mut members = Vec::new();
        for m in &a.members {
            let Some(i) = programs.iter().position(|p| p.name == *m) else {
                bail!("{entry}: member \"{m}\" is not a program; name a [[program]] with role = \"app\"");
            };
            let p = &programs[i];
            if p.role != Role::App {
                bail!(
                    "{entry}: member \"{m}\" has role = \"{}\"; only apps belong to activities \
                     (a server works for every activity and is charged to its callers)",
                    p.role
                );
            }
            if let Some(other) = member_of[i].replace(&a.name) {
                bail!(
                    "{entry}: program \"{m}\" is already a member of activity \"{other}\"; a \
                     program belongs to one activity: remove it from one of them"
                );
            }
            let own = [
                ("priority", p.priority.is_some()),
                ("budget_us", p.budget_us.is_some()),
                ("period_us", p.period_us.is_some()),
            ];
            if let Some((key, _)) = own.iter().find(|(_, set)| *set) {
                bail!(
                    "{entry}: member \"{m}\" sets {key}, but an activity's members are \
                     scheduled by its entitlement and priority; remove {key} from program \"{m}\""
                );
            }
            members.push(i);
        }
        out.push(Activity {
            name: a.name.clone(),
            id,
            budget_us,
            period_us,
            priority,
            members,
            may_exceed_when_idle: a.may_exceed_when_idle.unwrap_or(false),
        });
    }
    let total: f64 = out.iter().map(Activity::percent).sum();
    if total > f64::from(ACTIVITY_LIMIT_PERCENT) + 1e-9 {
        let list: Vec<String> = out
            .iter()
            .map(|a| format!("{} {:.2}%", a.name, a.percent()))
            .collect();
        bail!(
            "{f}: the activities' entitlements add up to {total:.2}% of a core ({}), more than \
             the {ACTIVITY_LIMIT_PERCENT}% activities may have ({RESERVED_PERCENT}% is kept back \
             for the kernel and the servers that run on budgets of their own); lower some \
             share_percent or budget_us",
            list.join(", ")
        );
    }
    Ok(out)
}

/// `(budget_us, period_us)` from a share or a budget, and a period.
fn entitlement(a: &parse::Activity) -> Result<(u32, u32)> {
    let max_period = u32::try_from(MAX_PERIOD_US).unwrap_or(u32::MAX);
    let min_budget = u32::try_from(MIN_BUDGET_US).unwrap_or(1);
    let period_us = match a.period_us {
        Some(v) => in_range(v, min_budget, max_period, "period_us")?,
        None => DEFAULT_ACTIVITY_PERIOD_US,
    };
    let budget_us = match (a.share_percent, a.budget_us) {
        (Some(_), Some(_)) | (None, None) => bail!(
            "give its entitlement either as share_percent (of one core) or as budget_us \
             (every period_us), exactly one of them"
        ),
        (Some(share), None) => {
            let share = share.value();
            if !(share > 0.0 && share <= f64::from(ACTIVITY_LIMIT_PERCENT)) {
                bail!(
                    "share_percent = {share} is out of range; use more than 0 and at most \
                     {ACTIVITY_LIMIT_PERCENT} ({RESERVED_PERCENT}% of a core is kept back for \
                     the kernel and servers)"
                );
            }
            (share * f64::from(period_us) / 100.0).round() as u32
        }
        (None, Some(b)) => in_range(b, 1u32, u32::MAX, "budget_us")?,
    };
    if budget_us < min_budget || budget_us > period_us {
        bail!(
            "its budget is {budget_us} us every {period_us} us; it must be {min_budget} us to \
             the whole period: raise the share or budget, or lengthen period_us"
        );
    }
    Ok((budget_us, period_us))
}

/// The scheduler server (`sched_control = true`): at most one, an active
/// server (timeout faults come from threads with no budget left to lend)
/// on a round-robin context, above every activity's priority, so that it
/// takes their faults at once.
///
/// # Errors
/// Naming the program and the fix.
pub fn check_scheduler(f: &str, programs: &[Program], activities: &[Activity]) -> Result<()> {
    let schedulers: Vec<&Program> = programs.iter().filter(|p| p.sched_control).collect();
    if schedulers.len() > 1 {
        let names: Vec<&str> = schedulers.iter().map(|p| p.name.as_str()).collect();
        bail!(
            "{f}: {} programs have sched_control = true ({}); SchedControl goes to one \
             scheduler server: keep it on one",
            names.len(),
            names.join(", ")
        );
    }
    let Some(p) = schedulers.first() else {
        return Ok(());
    };
    let entry = format!("{f}: program \"{}\"", p.name);
    let Some(sched) = p.sched.filter(|_| p.role == Role::Server) else {
        bail!("{entry}: sched_control = true is for a server (role = \"server\"); change its role or remove the key");
    };
    if sched.passive {
        bail!(
            "{entry}: the scheduler server takes timeout faults, which come from threads \
             without budget to lend it, so it cannot be passive; remove passive"
        );
    }
    if sched.budget_us != sched.period_us {
        bail!(
            "{entry}: budget_us = {} below period_us = {} makes its context sporadic: its many \
             short runs split its refills and it would answer timeout faults late, taking \
             whole periods from the activities; give it a round-robin context (budget_us = \
             period_us)",
            sched.budget_us,
            sched.period_us
        );
    }
    if let Some(a) = activities.iter().find(|a| a.priority >= sched.priority) {
        bail!(
            "{entry}: its priority {} is not above activity \"{}\" (priority {}); the \
             scheduler server must preempt the threads whose faults it takes: raise its priority",
            sched.priority,
            a.name,
            a.priority
        );
    }
    Ok(())
}

/// Servers that keep consumption records (`accounting = true`): servers,
/// in a system with a scheduler server, which init adds them to.
///
/// # Errors
/// Naming the program and the fix.
pub fn check_accounting(f: &str, programs: &[Program]) -> Result<()> {
    let has_scheduler = programs.iter().any(|p| p.sched_control);
    for p in programs.iter().filter(|p| p.accounting) {
        let entry = format!("{f}: program \"{}\"", p.name);
        if p.role != Role::Server {
            bail!(
                "{entry}: accounting = true is for a server that keeps consumption records \
                 (it answers the Accounting protocol); change its role or remove the key"
            );
        }
        if p.sched_control {
            bail!(
                "{entry}: the scheduler server reads records, it does not keep them; remove \
                 accounting"
            );
        }
        if !has_scheduler {
            bail!(
                "{entry}: accounting = true tells init to add it to the scheduler server, \
                 and the system has none; add a program with sched_control = true or remove \
                 the key"
            );
        }
    }
    if programs.iter().filter(|p| p.accounting).count() > MAX_SERVERS {
        bail!(
            "{f}: more than {MAX_SERVERS} servers have accounting = true; the scheduler \
             server reads the records of {MAX_SERVERS} at most: remove the key from some"
        );
    }
    Ok(())
}
