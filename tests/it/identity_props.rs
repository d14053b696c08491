//! Property test: whatever path a user gives as `--identity-file`, the include file either refuses it with a
//! message or is one that the real `ssh -G` parses, reading back exactly that path — a broken include file would
//! break ssh for every host.

use std::path::{Path, PathBuf};

use azml_ssh::sshconf::hosts::{Flavor, HostEntry, HostsFile, Launcher, Source, render};
use azml_ssh::sshconf::values::check_path_text;
use proptest::prelude::*;

/// Paths built from the characters that trouble ssh_config: quotes, backslashes, `#`, `%`, spaces, tabs and a
/// few non-ASCII ones, plus a newline now and then and `${` (which must be refused).
fn awkward_path() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![
            "a", "Z", "0", "-", ".", "/", " ", "\t", "\"", "'", "\\", "#", "%", "%%", "=", "é", "😀", "\n", "~", "$",
            "{", "}", "${",
        ]),
        1..16,
    )
    .prop_map(|parts| format!("/home/u/{}", parts.concat()))
}

fn parsed_identity_file(dir: &Path, entry: &HostEntry) -> String {
    let launcher = Launcher::new(Path::new("/usr/bin/azml-ssh"), Flavor::Posix).unwrap();
    let config = dir.join("config");
    std::fs::write(&config, render(&HostsFile { entries: vec![entry.clone()], ..HostsFile::default() }, &launcher))
        .unwrap();
    let out = std::process::Command::new("ssh").arg("-G").arg("-F").arg(&config).arg(&entry.alias).output().unwrap();
    assert!(out.status.success(), "ssh -G rejected the file: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text.lines().find(|l| l.starts_with("identityfile ")).expect("an identityfile line");
    line["identityfile ".len()..].to_owned()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn identity_files_are_refused_or_read_back_exactly(path in awkward_path()) {
        let dir = tempfile::tempdir().unwrap();
        let entry = HostEntry {
            alias: "ci1".into(),
            id: "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/computes/ci1".parse().unwrap(),
            user: "azureuser".into(),
            identity_file: Some(PathBuf::from(&path)),
            options: vec![],
            source: Source::Added,
        };
        match check_path_text(Path::new(&path)) {
            // `${NAME}` is expanded by ssh itself, so such a path is refused too.
            Err(_) => prop_assert!(
                path.chars().any(char::is_control) || path.contains("${"),
                "refused a printable path {path:?}"
            ),
            // ssh -G shows the value as read, `%` tokens unexpanded (so `%%` stays doubled).
            Ok(()) => prop_assert_eq!(parsed_identity_file(dir.path(), &entry), path.replace('%', "%%")),
        }
    }
}

/// `${` is refused: since OpenSSH 8.4, ssh expands `${NAME}` in IdentityFile from its own environment when it
/// loads the key (`ssh -G` still shows it as written), so the key it reads would not be the one given.
#[test]
fn environment_variable_references_in_identity_files_are_refused() {
    assert!(check_path_text(Path::new("/home/u/${HOME}/key")).is_err());
    assert!(check_path_text(Path::new("/home/u/$HOME/{key}")).is_ok(), "a lone $ or brace is just a character");
}
