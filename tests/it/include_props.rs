//! Property tests: whatever the user's ssh config looks like, adding our Include inserts only our lines, is a
//! no-op the second time, and removing it gives back the original bytes exactly.

use std::path::Path;

use azml_ssh::sshconf::include::{IncludeState, add_include, include_state, remove_include};
use proptest::prelude::*;

const HOME: &str = "/home/u";
const TARGET: &str = "/home/u/.ssh/azml-ssh/config";

/// Lines people really write: comments, global options (space, tab or `=` separated), Host and Match blocks with
/// indented options, and Includes of other files — and sometimes of ours, in another spelling.
fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("# a comment".to_string()),
        Just("   # indented comment with trailing spaces   ".to_string()),
        Just("ServerAliveInterval 60".to_string()),
        Just("AddKeysToAgent=yes".to_string()),
        Just("\tForwardAgent\tno".to_string()),
        Just("Host *".to_string()),
        Just("Host github.com gitlab.com".to_string()),
        Just("Match host *.corp exec \"test -f /x\"".to_string()),
        Just("Match all".to_string()),
        Just("    User someone".to_string()),
        Just("\tProxyCommand nc %h %p".to_string()),
        Just("  IdentityFile ~/.ssh/id_ed25519".to_string()),
        Just("Include ~/.orbstack/ssh/config".to_string()),
        Just("Include config.d/*".to_string()),
        Just("    Include azml-ssh/config".to_string()),
        "[a-zA-Z]{1,12}( [a-z0-9.:%-]{1,10}){0,2}",
    ]
}

fn config() -> impl Strategy<Value = Vec<u8>> {
    (prop::collection::vec(line(), 0..25), any::<bool>(), any::<bool>()).prop_map(|(lines, crlf, final_newline)| {
        let eol = if crlf { "\r\n" } else { "\n" };
        let mut text = lines.join(eol);
        if final_newline && !lines.is_empty() {
            text.push_str(eol);
        }
        text.into_bytes()
    })
}

/// `added` is `original` with one contiguous run of whole lines inserted, all of them ours.
fn only_our_lines_inserted(original: &[u8], added: &[u8]) -> bool {
    let lines = |b: &[u8]| b.split_inclusive(|&c| c == b'\n').map(<[u8]>::to_vec).collect::<Vec<_>>();
    let (old, new) = (lines(original), lines(added));
    let prefix = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
    let suffix = old[prefix..].iter().rev().zip(new[prefix..].iter().rev()).take_while(|(a, b)| a == b).count();
    if prefix + suffix != old.len() {
        return false;
    }
    new[prefix..new.len() - suffix].iter().all(|l| {
        let l = String::from_utf8_lossy(l);
        let l = l.trim_end_matches(['\r', '\n']);
        l.is_empty() || l == azml_ssh::sshconf::include::MARKER || l == format!("Include {TARGET}")
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn add_is_minimal_idempotent_and_reversible(original in config()) {
        let (home, target) = (Path::new(HOME), Path::new(TARGET));
        match add_include(&original, target, home) {
            None => {
                // Only when the user already includes it for every host.
                let effective = matches!(include_state(&original, target, home), IncludeState::Effective { .. });
                prop_assert!(effective);
            }
            Some(added) => {
                prop_assert!(only_our_lines_inserted(&original, &added));
                let effective = matches!(include_state(&added, target, home), IncludeState::Effective { .. });
                prop_assert!(effective);
                prop_assert_eq!(add_include(&added, target, home), None);
                prop_assert_eq!(remove_include(&added, target, home), Some(original.clone()));
                // Our line comes before every Host/Match line, so nothing can shadow our blocks.
                let text = String::from_utf8_lossy(&added).into_owned();
                let ours = text.find(&format!("Include {TARGET}")).unwrap();
                let first_block = text
                    .split_inclusive('\n')
                    .scan(0, |pos, l| { let at = *pos; *pos += l.len(); Some((at, l)) })
                    .find(|(_, l)| {
                        let t = l.trim_start().to_ascii_lowercase();
                        t.starts_with("host ") || t.starts_with("match ")
                    })
                    .map(|(at, _)| at);
                prop_assert!(first_block.is_none_or(|at| ours < at));
            }
        }
    }

    #[test]
    fn remove_leaves_files_without_our_lines_alone(original in config()) {
        prop_assert_eq!(remove_include(&original, Path::new(TARGET), Path::new(HOME)), None);
    }
}
