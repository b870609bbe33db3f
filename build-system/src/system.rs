//! The system description, `system.toml` at the repository root: the system's
//! name and its programs (which crate, which role). This module reads and
//! validates it; turning it into a boot archive and manifest is `build.rs`'s job.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// Longest program name (the boot archive's entry-name limit).
pub const MAX_NAME_LEN: usize = keel_abi::archive::NAME_LEN;

/// What a program is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// The first user program, started by the kernel.
    RootTask,
    /// An application, started by the root task (or, for now, in its place).
    App,
}

impl Role {
    /// The role as written in system.toml and in the boot manifest.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::RootTask => "root-task",
            Role::App => "app",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `[[program]]` table.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Program {
    /// Name of the program, also its boot-archive entry name.
    pub name: String,
    /// Cargo package in this workspace that builds it.
    #[serde(rename = "crate")]
    pub crate_name: String,
    /// What it is for.
    pub role: Role,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SystemTable {
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SystemFile {
    system: SystemTable,
    #[serde(default)]
    program: Vec<Program>,
}

/// A validated system description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct System {
    /// The system's name (goes into the boot manifest).
    pub name: String,
    /// Every program, in file order.
    pub programs: Vec<Program>,
}

impl System {
    /// Reads and validates `path`.
    ///
    /// # Errors
    /// If the file cannot be read or fails validation (see [`System::parse`]).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "could not read the system description {}; create it (see the [system] and \
                 [[program]] tables in the README)",
                path.display()
            )
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates system.toml text; `path` is used in error messages.
    ///
    /// # Errors
    /// Unknown keys, a missing or duplicate root task, bad or duplicate names.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let file: SystemFile = toml::from_str(text)
            .with_context(|| format!("{} is not a valid system description", path.display()))?;
        let system = System {
            name: file.system.name,
            programs: file.program,
        };
        system.validate(path)?;
        Ok(system)
    }

    fn validate(&self, path: &Path) -> Result<()> {
        let file = path.display();
        if self.name.trim().is_empty() {
            bail!("{file}: [system] name is empty; give the system a name");
        }
        let mut seen = HashSet::new();
        for p in &self.programs {
            check_name(&p.name).with_context(|| format!("{file}: program `{}`", p.name))?;
            if !seen.insert(p.name.as_str()) {
                bail!(
                    "{file}: two programs are named `{}`; program names must be unique",
                    p.name
                );
            }
            if p.crate_name.trim().is_empty() {
                bail!(
                    "{file}: program `{}` has an empty `crate`; name its cargo package",
                    p.name
                );
            }
        }
        let roots: Vec<&str> = self
            .programs
            .iter()
            .filter(|p| p.role == Role::RootTask)
            .map(|p| p.name.as_str())
            .collect();
        match roots.len() {
            1 => Ok(()),
            0 => bail!(
                "{file}: no program has role = \"root-task\"; add exactly one [[program]] with \
                 role = \"root-task\" (e.g. crate = \"keel-root-task\")"
            ),
            _ => bail!(
                "{file}: {} programs have role = \"root-task\" ({}); keep exactly one",
                roots.len(),
                roots.join(", ")
            ),
        }
    }

    /// The root task.
    pub fn root_task(&self) -> &Program {
        self.programs
            .iter()
            .find(|p| p.role == Role::RootTask)
            .expect("invariant: validate() checked there is exactly one root task")
    }

    /// Every program with role `app`.
    pub fn apps(&self) -> impl Iterator<Item = &Program> {
        self.programs.iter().filter(|p| p.role == Role::App)
    }

    /// The app called `name`.
    ///
    /// # Errors
    /// If no program with role `app` has that name; the message lists the apps.
    pub fn app(&self, name: &str) -> Result<&Program> {
        if let Some(p) = self.apps().find(|p| p.name == name) {
            return Ok(p);
        }
        let available: Vec<&str> = self.apps().map(|p| p.name.as_str()).collect();
        if available.is_empty() {
            bail!(
                "--app {name}: system.toml has no program with role = \"app\"; add one \
                 ([[program]] name = \"{name}\", crate = \"...\", role = \"app\") or use --app-crate PATH"
            );
        }
        bail!(
            "--app {name}: no program with role = \"app\" is called `{name}`; available apps: {}",
            available.join(", ")
        )
    }
}

/// Checks a program name: 1..=48 bytes of `[a-z0-9-]`.
///
/// # Errors
/// Naming what is wrong and what is allowed.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        bail!(
            "name `{name}` is {} bytes long; use 1 to {MAX_NAME_LEN} bytes",
            name.len()
        );
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        bail!("name `{name}` contains {c:?}; use only a-z, 0-9 and '-'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: &str = r#"
[system]
name = "keel-default"
[[program]]
name = "root-task"
crate = "keel-root-task"
role = "root-task"
"#;

    fn parse(text: &str) -> Result<System> {
        System::parse(text, Path::new("system.toml"))
    }

    fn error(text: &str) -> String {
        format!("{:#}", parse(text).unwrap_err())
    }

    #[test]
    fn default_system_parses() {
        let s = parse(DEFAULT).unwrap();
        assert_eq!(s.name, "keel-default");
        assert_eq!(s.root_task().crate_name, "keel-root-task");
        assert_eq!(s.apps().count(), 0);
    }

    #[test]
    fn the_repository_system_toml_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../system.toml");
        System::load(&path).unwrap();
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let e = error(&format!("{DEFAULT}priority = 3\n"));
        assert!(e.contains("system.toml") && e.contains("priority"), "{e}");
        let e = error("[system]\nname = \"x\"\ncolour = \"red\"\n");
        assert!(e.contains("colour"), "{e}");
        let e = error(&format!("{DEFAULT}[extra]\n"));
        assert!(e.contains("extra"), "{e}");
    }

    #[test]
    fn unknown_role_is_rejected() {
        let e = error(&format!(
            "{DEFAULT}[[program]]\nname = \"x\"\ncrate = \"x\"\nrole = \"driver\"\n"
        ));
        assert!(e.contains("driver"), "{e}");
    }

    #[test]
    fn exactly_one_root_task() {
        let e = error("[system]\nname = \"x\"\n");
        assert!(
            e.contains("no program has role") && e.contains("system.toml"),
            "{e}"
        );
        let e = error(&format!(
            "{DEFAULT}[[program]]\nname = \"second\"\ncrate = \"k\"\nrole = \"root-task\"\n"
        ));
        assert!(
            e.contains("keep exactly one") && e.contains("second"),
            "{e}"
        );
    }

    #[test]
    fn names_are_checked() {
        let e = error(&format!(
            "{DEFAULT}[[program]]\nname = \"root-task\"\ncrate = \"a\"\nrole = \"app\"\n"
        ));
        assert!(e.contains("unique"), "{e}");
        let e = error(&format!(
            "{DEFAULT}[[program]]\nname = \"Hello\"\ncrate = \"a\"\nrole = \"app\"\n"
        ));
        assert!(e.contains("'H'") && e.contains("a-z"), "{e}");
        let e = error(&format!(
            "{DEFAULT}[[program]]\nname = \"\"\ncrate = \"a\"\nrole = \"app\"\n"
        ));
        assert!(e.contains("1 to 48"), "{e}");
        assert!(check_name(&"a".repeat(48)).is_ok());
        assert!(check_name(&"a".repeat(49)).is_err());
        assert!(check_name("hello_world").is_err());
        assert!(check_name("hello-world-2").is_ok());
    }

    #[test]
    fn app_lookup_lists_available_apps() {
        let s = parse(&format!(
            "{DEFAULT}[[program]]\nname = \"hello\"\ncrate = \"keel-hello\"\nrole = \"app\"\n"
        ))
        .unwrap();
        assert_eq!(s.app("hello").unwrap().crate_name, "keel-hello");
        let e = format!("{:#}", s.app("nope").unwrap_err());
        assert!(e.contains("available apps: hello"), "{e}");
        let e = format!("{:#}", s.app("root-task").unwrap_err());
        assert!(e.contains("available apps: hello"), "{e}");
        let e = format!("{:#}", parse(DEFAULT).unwrap().app("x").unwrap_err());
        assert!(e.contains("no program with role = \"app\""), "{e}");
    }
}
