//! Checks of the source tree's own rules, run by `cargo test`: architecture
//! conditionals only under the two `arch/` directories, and no `todo!` or
//! `unimplemented!` anywhere. (STYLE.md: "A CI check greps for it".)

use std::path::{Path, PathBuf};

/// The only directories where architecture conditionals may appear.
const ARCH_DIRS: [&str; 2] = ["kernel/src/arch/", "user/sys/src/arch/"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == "target" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every line of every Rust file in the repository that matches `pred`,
/// as `path:line: text`, relative to the root.
fn offending_lines(pred: impl Fn(&str, &str) -> bool) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("invariant: build-system has a parent");
    let mut files = Vec::new();
    rust_files(root, &mut files);
    let mut found = Vec::new();
    for file in files {
        let rel = file
            .strip_prefix(root)
            .unwrap_or(&file)
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for (n, line) in text.lines().enumerate() {
            if pred(&rel, line) {
                found.push(format!("{rel}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn target_arch_only_in_arch_directories() {
    let needle = ["cfg(target", "_arch"].concat();
    let found = offending_lines(|rel, line| {
        line.contains(&needle) && !ARCH_DIRS.iter().any(|d| rel.starts_with(d))
    });
    assert!(
        found.is_empty(),
        "architecture conditionals outside {ARCH_DIRS:?}:\n{}",
        found.join("\n")
    );
}

#[test]
fn no_stubs_on_any_path() {
    let needles = [["todo", "!("].concat(), ["unimplemented", "!("].concat()];
    let found = offending_lines(|_, line| needles.iter().any(|n| line.contains(n.as_str())));
    assert!(
        found.is_empty(),
        "stubs left in the tree:\n{}",
        found.join("\n")
    );
}
