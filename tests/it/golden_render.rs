//! The rendered include file, compared byte for byte with reviewed copies in tests/golden/. A change to the
//! rendering shows up as a failure here; after reading the difference, rewrite the copies with
//! `AZML_SSH_BLESS=1 cargo test --test it golden_render` and review them in `git diff`.

use std::path::{Path, PathBuf};

use azml_ssh::sshconf::hosts::{Flavor, HostEntry, HostsFile, Launcher, Source, render};
use azml_ssh::sshconf::wildcard::{Wildcard, WildcardState};

fn entries() -> Vec<HostEntry> {
    let id = |rg: &str, name: &str| {
        format!("/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices/workspaces/ws1/computes/{name}")
            .parse()
            .unwrap()
    };
    vec![
        HostEntry {
            alias: "azmlci1".into(),
            id: id("rg1", "ci1"),
            user: "azureuser".into(),
            identity_file: Some(PathBuf::from("/home/me/.ssh/id_azmlcitest_rsa")),
            options: vec![("LocalForward".into(), "8888 localhost:8888".into())],
            source: Source::Added,
        },
        HostEntry {
            alias: "ml-gpu-box".into(),
            id: id("rg.(prod)", "gpu-box"),
            user: "azureuser".into(),
            identity_file: Some(PathBuf::from("/home/me/My Keys/id 100%")),
            options: vec![],
            source: Source::Discovered,
        },
        HostEntry {
            alias: "bare".into(),
            id: id("rg1", "bare"),
            user: "alice".into(),
            identity_file: None,
            options: vec![],
            source: Source::Discovered,
        },
    ]
}

fn check(golden: &str, program: &Path, flavor: Flavor) {
    // The wildcard block as `config --identity-file` leaves it, yielding to a host of the user's own.
    let wildcard = Wildcard {
        suffix: "azml".parse().unwrap(),
        user: "azureuser".into(),
        identity_file: Some(PathBuf::from("/home/me/.ssh/id_azmlcitest_rsa")),
        options: vec![],
        yields_to: vec!["build.azml".into()],
    };
    let file = HostsFile { entries: entries(), wildcard: WildcardState::On(wildcard) };
    let rendered = render(&file, &Launcher::new(program, flavor).unwrap());
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(golden);
    if std::env::var_os("AZML_SSH_BLESS").is_some() {
        std::fs::write(&path, &rendered).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap();
    assert_eq!(rendered, expected, "rendering differs from {}", path.display());
}

#[test]
fn posix_rendering_matches_the_golden_file() {
    check("posix.config", Path::new("/home/me/.cargo/bin/azml-ssh"), Flavor::Posix);
}

#[test]
fn posix_rendering_of_an_awkward_program_path() {
    check("posix-awkward.config", Path::new("/Users/Me Too/bin/$x`y\"z%/azml-ssh"), Flavor::Posix);
}

#[test]
fn windows_rendering_matches_the_golden_file() {
    check("windows.config", Path::new(r"C:\Users\Me Too\.cargo\bin\azml-ssh.exe"), Flavor::Windows);
}

#[test]
fn windows_rendering_of_a_program_without_spaces() {
    // What pipx and uv install: unquoted, which every Windows ssh can start (7.7 cannot start a quoted one).
    check("windows-plain.config", Path::new(r"C:\Users\me\.local\bin\azml-sshw.exe"), Flavor::Windows);
}

/// The guide shows what `azml-ssh config` writes; it is a block of the golden file, so it cannot drift.
#[test]
fn the_guides_example_is_what_is_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let golden = std::fs::read_to_string(root.join("tests/golden/posix.config")).unwrap();
    let block = golden.split("\n\n").find(|b| b.starts_with("Host bare\n")).expect("a block for host bare");
    let indented: String = block.lines().map(|l| format!("   {l}\n")).collect();
    let config = std::fs::read_to_string(root.join("docs/guide/config.md")).unwrap();
    assert!(
        config.contains(&format!("   ```\n{indented}   ```\n")),
        "docs/guide/config.md's example differs from:\n{indented}"
    );
    let wildcard = golden.split("\n\n").find(|b| b.starts_with("Host *.azml")).expect("the wildcard block");
    let names = std::fs::read_to_string(root.join("docs/guide/names.md")).unwrap();
    assert!(
        names.contains(&format!("```\n{wildcard}```\n")),
        "docs/guide/names.md's example differs from:\n{wildcard}"
    );
}
