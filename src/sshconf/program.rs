//! Which azml-ssh path goes into ProxyCommand. It must be absolute (ssh runs it from anywhere) and should
//! survive upgrades: a PATH entry such as `~/.cargo/bin/azml-ssh` or a package manager's symlink stays valid when
//! the program behind it is replaced, while the resolved, versioned target would not.

use std::path::{Path, PathBuf};

use crate::sshconf::flavor::Flavor;

pub(crate) struct Choice {
    pub path: PathBuf,
    /// Things the user should know about the choice (the command shows them as warnings).
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ProgramError {
    #[error("--binary {path}: {source}; give the path of the installed azml-ssh (`which azml-ssh`)")]
    Unusable { path: String, source: std::io::Error },
    #[error("--binary {path}: no such file; give the path of the installed azml-ssh (`which azml-ssh`)")]
    Missing { path: String },
    #[error("cannot find this program's own path: {0}; name it with --binary")]
    OwnPath(std::io::Error),
}

/// `explicit` is `--binary`; otherwise the `azml-ssh` on PATH when it is this very program, else this program. On
/// Windows, the console-less twin beside it is named instead (see [`windowless`]).
pub(crate) fn choose(explicit: Option<&Path>) -> Result<Choice, ProgramError> {
    let mut choice = choose_program(explicit)?;
    if Flavor::native() == Flavor::Windows {
        choice.path = windowless(&choice.path, &mut choice.warnings);
    }
    Ok(choice)
}

/// The name of the Windows program's GUI-subsystem twin (src/bin/azml-sshw.rs), installed beside it.
pub(crate) const WINDOWLESS: &str = "azml-sshw.exe";

/// What ssh's ProxyCommand names on Windows: `azml-sshw.exe` beside `azml-ssh.exe`, which never gets a console
/// window of its own (ssh.exe started without a console, as VS Code forks start it, would otherwise open one for
/// every connection, and closing it drops the session). Where the twin is missing, the program itself, with a
/// warning.
fn windowless(program: &Path, warnings: &mut Vec<String>) -> PathBuf {
    let named = |name: &str| program.file_name().is_some_and(|n| n.to_string_lossy().eq_ignore_ascii_case(name));
    if named(WINDOWLESS) {
        return program.to_owned();
    }
    let twin = program.with_file_name(WINDOWLESS);
    if named("azml-ssh.exe") && twin.is_file() {
        return twin;
    }
    warnings.push(format!(
        "there is no {WINDOWLESS} beside {}, so ssh will start that console program, and ssh run without a console (Cursor, Windsurf and other VS Code forks) opens a console window for each connection; install with `pipx install azml-ssh` or `uv tool install azml-ssh`, which bring both (`cargo install` builds it with `--features windowless`)",
        program.display()
    ));
    program.to_owned()
}

fn choose_program(explicit: Option<&Path>) -> Result<Choice, ProgramError> {
    if let Some(path) = explicit {
        let absolute = std::path::absolute(path)
            .map_err(|source| ProgramError::Unusable { path: path.display().to_string(), source })?;
        if !absolute.is_file() {
            return Err(ProgramError::Missing { path: absolute.display().to_string() });
        }
        return Ok(Choice { path: absolute, warnings: Vec::new() });
    }
    let exe = std::env::current_exe().map_err(ProgramError::OwnPath)?;
    let real = std::fs::canonicalize(&exe).unwrap_or_else(|_| exe.clone());
    let mut warnings = Vec::new();
    match which::which("azml-ssh") {
        Ok(on_path) if std::fs::canonicalize(&on_path).ok().as_deref() == Some(real.as_path()) => {
            let path = std::path::absolute(&on_path).unwrap_or(on_path);
            if let Some(venv) = virtual_env(&path) {
                warnings.push(format!(
                    "{} is inside the Python virtual environment {}; if that is deleted, the ssh config breaks: `pipx install azml-ssh` or `uv tool install azml-ssh` keep it in a stable place",
                    path.display(),
                    venv.display()
                ));
            }
            return Ok(Choice { path, warnings });
        }
        Ok(other) => warnings.push(format!(
            "the azml-ssh on PATH ({}) is a different program from this one; the ssh config will use {}",
            other.display(),
            real.display()
        )),
        Err(_) => {}
    }
    if let Some(why) = fragile(&real) {
        warnings.push(format!(
            "{} is {why}, so the ssh config breaks when it goes away; install with `cargo install --locked --path .` and run again, or pass --binary",
            real.display()
        ));
    }
    Ok(Choice { path: real, warnings })
}

/// The Python virtual environment `program` is in (`<venv>/bin/azml-ssh`, next to `<venv>/pyvenv.cfg`), if any.
fn virtual_env(program: &Path) -> Option<PathBuf> {
    let venv = program.parent()?.parent()?;
    venv.join("pyvenv.cfg").is_file().then(|| venv.to_owned())
}

/// Why a path is a poor thing to write into a config that outlives this run.
fn fragile(path: &Path) -> Option<&'static str> {
    let temp = std::fs::canonicalize(std::env::temp_dir()).unwrap_or_else(|_| std::env::temp_dir());
    if path.starts_with(&temp) || path.starts_with("/tmp") || path.starts_with("/var/tmp") {
        return Some("in a temporary directory");
    }
    let components: Vec<_> = path.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    let in_build_dir = components.windows(2).any(|w| w[0] == "target" && matches!(w[1].as_str(), "debug" | "release"));
    in_build_dir.then_some("in a cargo build directory")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_and_temporary_directories_are_fragile() {
        assert!(fragile(Path::new("/home/u/src/azml-ssh/target/release/azml-ssh")).is_some());
        assert!(fragile(Path::new("/tmp/x/azml-ssh")).is_some());
        assert!(fragile(Path::new("/home/u/.cargo/bin/azml-ssh")).is_none());
        assert!(fragile(Path::new("/usr/local/bin/azml-ssh")).is_none());
    }

    #[test]
    fn windows_names_the_windowless_twin_beside_the_program() {
        let dir = tempfile::tempdir().unwrap();
        let program = dir.path().join("azml-ssh.exe");
        std::fs::write(&program, "").unwrap();
        let mut warnings = Vec::new();
        assert_eq!(windowless(&program, &mut warnings), program, "no twin: the program itself");
        assert!(warnings[0].contains("opens a console window"), "{warnings:?}");
        std::fs::write(dir.path().join(WINDOWLESS), "").unwrap();
        let mut warnings = Vec::new();
        assert_eq!(windowless(&program, &mut warnings), dir.path().join(WINDOWLESS));
        assert_eq!(windowless(&dir.path().join(WINDOWLESS), &mut warnings), dir.path().join(WINDOWLESS));
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn virtual_environments_are_recognised() {
        let dir = tempfile::tempdir().unwrap();
        let venv = dir.path().join(".venv");
        std::fs::create_dir_all(venv.join("bin")).unwrap();
        assert_eq!(virtual_env(&venv.join("bin/azml-ssh")), None);
        std::fs::write(venv.join("pyvenv.cfg"), "home = /usr/bin\n").unwrap();
        assert_eq!(virtual_env(&venv.join("bin/azml-ssh")), Some(venv));
        assert_eq!(virtual_env(Path::new("/usr/local/bin/azml-ssh")), None);
    }
}
