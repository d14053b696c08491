//! Build script: records which commit and which target this build is, for `azml-ssh --version` (bug reports name
//! the exact build). Sets, for the crate's own code:
//!
//! - `$OUT_DIR/commit.txt`: the commit, abbreviated to 12 hex digits. Taken from the `AZML_SSH_COMMIT`
//!   environment variable when set (release builds pass it; so can a build from a tarball), else from
//!   `git rev-parse HEAD` when this crate is the top of a git work tree, else from the `.cargo_vcs_info.json` that
//!   `cargo package` writes into a `.crate` (so `cargo install azml-ssh` knows its commit), else `unknown`.
//! - `AZML_SSH_BUILD_TARGET`: the target triple cargo builds for (`TARGET`).
//!
//! It reruns only when HEAD or the branch it points to moves (or `AZML_SSH_COMMIT` changes), so a commit does not
//! rebuild anything but this crate, and an edit rebuilds nothing more than it did before. The commit goes through a
//! file that the code `include_str!`s, not `rustc-env`: cargo shares one run of this script between `check`,
//! `clippy` and `build`, and only a changed input file makes a `cargo build` after a `cargo clippy` (which reran the
//! script when HEAD moved) compile the program again; a changed `rustc-env` value does not.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".to_owned());
    println!("cargo:rustc-env=AZML_SSH_BUILD_TARGET={target}");
    println!("cargo:rerun-if-env-changed=AZML_SSH_COMMIT");
    println!("cargo:rerun-if-changed=build.rs");
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let commit = std::env::var("AZML_SSH_COMMIT")
        .ok()
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .or_else(|| from_git(&dir))
        .or_else(|| from_cargo_vcs_info(&dir))
        .unwrap_or_else(|| "unknown".to_owned());
    let short: String = commit.chars().take(12).collect();
    let file = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("commit.txt");
    // Rewritten only when it changes, so that an unchanged commit compiles nothing again.
    if std::fs::read_to_string(&file).ok().as_deref() != Some(short.as_str()) {
        std::fs::write(&file, &short).expect("writing commit.txt in OUT_DIR");
    }
}

/// HEAD's commit, when `dir` is the top of a git work tree (not a crate unpacked somewhere inside another
/// repository, as `cargo package` does under `target/package/`). Watches the files that say where HEAD is, in the
/// unpacked case too: `cargo package` verifies the crate in the checkout's own target directory, where its run of
/// this script stands in for the checkout's until HEAD moves.
fn from_git(dir: &Path) -> Option<String> {
    let top = git(dir, &["rev-parse", "--show-toplevel"])?;
    watch_head(dir);
    if Path::new(&top).canonicalize().ok()? != dir.canonicalize().ok()? {
        return None;
    }
    git(dir, &["rev-parse", "HEAD"]).filter(|c| is_hex(c))
}

/// HEAD (in a linked work tree: the work tree's own), the branch it names if any, and packed-refs, where the branch
/// is once `git gc` packs it. `--git-path` answers for plain clones and linked work trees alike.
fn watch_head(dir: &Path) {
    let mut watch = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        watch.push(branch);
    }
    for name in watch {
        if let Some(path) = git(dir, &["rev-parse", "--git-path", &name]) {
            let path = dir.join(path);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
}

/// The commit `cargo package` recorded in the `.crate` (`{"git": {"sha1": "…"}, …}`).
fn from_cargo_vcs_info(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(".cargo_vcs_info.json")).ok()?;
    let after = &text[text.find("\"sha1\"")? + "\"sha1\"".len()..];
    let start = after.find('"')? + 1;
    let sha = &after[start..start + after[start..].find('"')?];
    is_hex(sha).then(|| sha.to_owned())
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git").current_dir(dir).args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn is_hex(s: &str) -> bool {
    s.len() >= 7 && s.bytes().all(|b| b.is_ascii_hexdigit())
}
