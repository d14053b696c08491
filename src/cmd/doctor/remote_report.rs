//! `azml-ssh doctor --remote`: what breaks VS Code's server on an instance, seen from a shell there. The check is
//! one read-only POSIX sh script sent over the user's own ssh; its output is parsed here into a [`Report`], and
//! [`findings`] judges it — each finding with its fix. Nothing here runs anything: the command does.

use std::fmt::Write as _;

/// Where the instance must be able to download VS Code's server from (unless VS Code downloads it locally).
pub(crate) const VSCODE_UPDATE_URL: &str = "https://update.code.visualstudio.com/";
/// Another download address (a mirror, or a test's loopback server).
pub(crate) const VSCODE_UPDATE_URL_ENV: &str = "AZML_SSH_VSCODE_UPDATE_URL";

/// The markers around the script's own output: anything before the first is what the shell's start-up files
/// printed.
const BEGIN: &str = "@@azml-ssh-checkup-begin@@";
const END: &str = "@@azml-ssh-checkup-end@@";
/// Below this much free space VS Code's server (about 200 MB unpacked, plus extensions) cannot be installed.
const FREE_FAIL_KIB: u64 = 512 * 1024;
/// Below this, a server update or a few extensions fill the disk.
const FREE_WARN_KIB: u64 = 2 * 1024 * 1024;
/// At most this many lines of one kind are reported: the rest says nothing new.
const MAX_LINES: usize = 10;

/// Why the download address cannot go into the script.
#[derive(Debug, thiserror::Error)]
#[error("{url:?} (from {VSCODE_UPDATE_URL_ENV}) is not an http(s) URL of plain characters; set it to one, or unset it")]
pub(crate) struct BadUpdateUrl {
    url: String,
}

/// The script to run on the instance with `sh -s`, reading nothing but the files it names, writing nothing.
pub(crate) fn script(update_url: &str) -> Result<String, BadUpdateUrl> {
    // The URL lands inside the script: only characters that need no quoting in sh get in.
    let plain = |c: char| c.is_ascii_alphanumeric() || "-._~:/?=&%+".contains(c);
    if !(update_url.starts_with("https://") || update_url.starts_with("http://")) || !update_url.chars().all(plain) {
        return Err(BadUpdateUrl { url: update_url.to_owned() });
    }
    let mut s = String::new();
    let _ = writeln!(s, "echo '{BEGIN}'");
    s.push_str(
        r#"df -Pk "$HOME" 2>/dev/null | awk 'NR==2 {print "free home " $4}'
df -Pk /tmp 2>/dev/null | awk 'NR==2 {print "free /tmp " $4}'
for f in .bashrc .bash_profile .bash_login .profile .zshenv .zshrc .zprofile; do
  [ -f "$HOME/$f" ] && grep -nE '^[[:space:]]*exec[[:space:]]+("?\$SHELL|([^[:space:]]*/)?(bash|zsh|fish|sh|ksh|tcsh|csh|tmux|screen))([[:space:]]|$)' "$HOME/$f" 2>/dev/null | head -n 3 | sed "s|^|exec $f:|"
done
for d in "$HOME"/.vscode-server/bin/*/ "$HOME"/.vscode-server/cli/servers/*/server/; do
  [ -d "$d" ] && [ ! -s "$d/node" ] && echo "broken $d"
done
find "$HOME/.vscode-server" "$HOME/.vscode-server/bin" "$HOME/.vscode-server/cli/servers" -maxdepth 1 -name '*.tar.gz' 2>/dev/null | head -n 10 | sed 's|^|leftover |'
"#,
    );
    let _ = writeln!(
        s,
        r#"if command -v curl >/dev/null 2>&1; then echo "download curl $(curl -s -o /dev/null -m 10 -w '%{{http_code}}' '{update_url}' 2>/dev/null)"
elif command -v wget >/dev/null 2>&1; then wget -q -T 10 -O /dev/null '{update_url}' >/dev/null 2>&1; echo "download wget $?"
else echo "download none"; fi"#
    );
    let _ = writeln!(s, "echo '{END}'");
    Ok(s)
}

/// Whether the instance reached the download server.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Download {
    /// It answered (any HTTP status: the server was reached).
    Reached,
    /// No answer: no route, no DNS, a firewall.
    Unreachable,
    /// Neither curl nor wget is there to tell.
    Unknown,
}

/// What the script saw.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// What the start-up files printed before the script ran (it breaks scp, rsync and VS Code).
    pub(crate) noise: String,
    /// Whether the script ran to its end (a start-up file may exec another shell, or wait for input).
    pub(crate) complete: bool,
    /// Free KiB in the home directory and in /tmp.
    pub(crate) free_home_kib: Option<u64>,
    pub(crate) free_tmp_kib: Option<u64>,
    /// `file:line:text` of start-up lines that exec another shell.
    pub(crate) execs: Vec<String>,
    /// Server directories whose `node` is missing or empty: a download or unpack that did not finish.
    pub(crate) broken: Vec<String>,
    /// Server archives left behind beside the servers (extensions' own files are not looked at).
    pub(crate) leftovers: Vec<String>,
    pub(crate) download: Option<Download>,
}

/// Reads what the script printed on stdout.
pub(crate) fn parse(stdout: &str) -> Report {
    let mut report = Report::default();
    let Some((noise, rest)) = stdout.split_once(&format!("{BEGIN}\n")) else {
        report.noise = stdout.to_owned();
        return report;
    };
    report.noise = noise.to_owned();
    for line in rest.lines() {
        let bounded = |list: &mut Vec<String>, item: &str| {
            if list.len() < MAX_LINES {
                list.push(crate::util::text::one_line_max(item, 200));
            }
        };
        let kib = |n: &str| n.trim().parse::<u64>().ok();
        match line.split_once(' ') {
            _ if line == END => report.complete = true,
            Some(("free", rest)) => match rest.split_once(' ') {
                Some(("home", n)) => report.free_home_kib = kib(n),
                Some(("/tmp", n)) => report.free_tmp_kib = kib(n),
                _ => {}
            },
            Some(("exec", what)) => bounded(&mut report.execs, what),
            Some(("broken", dir)) => bounded(&mut report.broken, dir),
            Some(("leftover", file)) => bounded(&mut report.leftovers, file),
            Some(("download", how)) => report.download = Some(download(how)),
            _ => {}
        }
    }
    report
}

fn download(how: &str) -> Download {
    match how.split_once(' ') {
        // curl prints 000 when nothing answered; any real status means the server was reached.
        Some(("curl", code)) if code.trim().len() == 3 && code.trim() != "000" => Download::Reached,
        // wget: 0 is success, 8 an HTTP error status (reached); others are network, DNS or TLS failures.
        Some(("wget", "0" | "8")) => Download::Reached,
        Some(("curl" | "wget", _)) => Download::Unreachable,
        _ => Download::Unknown,
    }
}

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Severity {
    Pass,
    Warn,
    Fail,
}

/// One thing found, with its fix.
#[derive(Debug)]
pub(crate) struct Finding {
    pub(crate) item: &'static str,
    pub(crate) severity: Severity,
    pub(crate) detail: String,
    pub(crate) fix: Option<String>,
}

fn finding(item: &'static str, severity: Severity, detail: String, fix: Option<String>) -> Finding {
    Finding { item, severity, detail, fix }
}

/// Judges `report` for `alias`. `local_download` is VS Code's `remote.SSH.localServerDownload` here, if set.
pub(crate) fn findings(alias: &str, report: &Report, local_download: Option<&str>) -> Vec<Finding> {
    let mut found = vec![shell_output(report)];
    if !report.complete {
        found.push(finding(
            "remote shell",
            Severity::Fail,
            "the check did not run to its end: a start-up file execs another shell or waits for input".into(),
            Some("start other shells only in interactive sessions: `[[ $- == *i* ]] && exec zsh`".into()),
        ));
    }
    found.push(match report.execs.as_slice() {
        [] => finding("shell start-up", Severity::Pass, "no start-up file execs another shell".into(), None),
        execs => finding(
            "shell start-up",
            Severity::Fail,
            format!("a start-up file execs another shell even when not interactive: {}", execs.join("; ")),
            Some("guard it: `[[ $- == *i* ]] && exec …` (VS Code, scp and rsync need the shell they asked for)".into()),
        ),
    });
    found.extend(free_space("free space in ~", report.free_home_kib));
    found.extend(free_space("free space in /tmp", report.free_tmp_kib));
    found.push(servers(alias, report));
    found.push(download_finding(report.download.as_ref(), local_download));
    found
}

fn shell_output(report: &Report) -> Finding {
    match report.noise.trim() {
        "" => finding("shell output", Severity::Pass, "start-up files print nothing in non-interactive sessions".into(), None),
        noise => finding(
            "shell output",
            Severity::Fail,
            format!(
                "start-up files print {} byte(s) in non-interactive sessions (\"{}\"); scp, rsync and VS Code's server break on it",
                report.noise.len(),
                crate::util::text::one_line_max(noise, 60)
            ),
            Some("print only in interactive shells: put `case $- in *i*) ;; *) return;; esac` before any output in ~/.bashrc".into()),
        ),
    }
}

fn free_space(item: &'static str, kib: Option<u64>) -> Option<Finding> {
    let kib = kib?;
    let shown = format!("{:.1} GiB free", kib as f64 / (1024.0 * 1024.0));
    let fix = || {
        Some(
            "free some space (old conda environments, checkpoints, ~/.cache): VS Code's server needs about 500 MB"
                .into(),
        )
    };
    Some(match kib {
        k if k < FREE_FAIL_KIB => finding(item, Severity::Fail, shown, fix()),
        k if k < FREE_WARN_KIB => finding(item, Severity::Warn, shown, fix()),
        _ => finding(item, Severity::Pass, shown, None),
    })
}

fn servers(alias: &str, report: &Report) -> Finding {
    let mut bad: Vec<&str> = report.broken.iter().chain(&report.leftovers).map(String::as_str).collect();
    bad.dedup();
    match bad.as_slice() {
        [] => finding("VS Code server", Severity::Pass, "no half-downloaded server in ~/.vscode-server".into(), None),
        bad => finding(
            "VS Code server",
            Severity::Warn,
            format!("half-downloaded or broken server files: {}", bad.join(", ")),
            Some(format!("remove them (`ssh {alias} rm -rf PATH`): VS Code downloads the server again")),
        ),
    }
}

fn download_finding(download: Option<&Download>, local_download: Option<&str>) -> Finding {
    let local = local_download == Some("always");
    let fix = "set \"remote.SSH.localServerDownload\": \"always\" in VS Code's settings.json: VS Code then downloads the server here and copies it over ssh";
    match (download, local) {
        (Some(Download::Reached), _) => {
            finding("VS Code download", Severity::Pass, "the instance reaches VS Code's download server".into(), None)
        }
        (Some(Download::Unreachable), true) => finding(
            "VS Code download",
            Severity::Pass,
            "the instance cannot reach VS Code's download server, but remote.SSH.localServerDownload is \"always\" here".into(),
            None,
        ),
        (Some(Download::Unreachable), false) => finding(
            "VS Code download",
            Severity::Fail,
            "the instance cannot reach VS Code's download server (no outbound internet, as in many VNets)".into(),
            Some(fix.into()),
        ),
        (Some(Download::Unknown) | None, _) => finding(
            "VS Code download",
            Severity::Warn,
            "could not tell whether the instance reaches VS Code's download server (no curl or wget there)".into(),
            (!local).then(|| fix.into()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn severity(found: &[Finding], item: &str) -> Severity {
        found.iter().find(|f| f.item == item).map(|f| f.severity).unwrap_or_else(|| panic!("no {item}"))
    }

    #[test]
    fn the_script_takes_only_plain_urls() {
        assert!(script("https://update.code.visualstudio.com/").is_ok());
        assert!(script("http://127.0.0.1:8080/api?x=1").is_ok());
        for bad in ["ftp://x/", "https://x/'; rm -rf ~ #", "https://x/$(id)", "https://x/ y", "https://x/`id`"] {
            assert!(script(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_report_is_read_and_judged() {
        let out = format!(
            "Welcome!\n{BEGIN}\nfree home 300000\nfree /tmp 99999999\nexec .bashrc:12:exec zsh\nbroken /h/.vscode-server/bin/abc/\nleftover /h/.vscode-server/vscode-server.tar.gz\ndownload curl 000\n{END}\n"
        );
        let report = parse(&out);
        assert_eq!(report.noise, "Welcome!\n");
        assert!(report.complete);
        assert_eq!((report.free_home_kib, report.free_tmp_kib), (Some(300_000), Some(99_999_999)));
        assert_eq!(report.download, Some(Download::Unreachable));
        let found = findings("ci1", &report, None);
        assert_eq!(severity(&found, "shell output"), Severity::Fail);
        assert_eq!(severity(&found, "shell start-up"), Severity::Fail);
        assert_eq!(severity(&found, "free space in ~"), Severity::Fail);
        assert_eq!(severity(&found, "free space in /tmp"), Severity::Pass);
        assert_eq!(severity(&found, "VS Code server"), Severity::Warn);
        assert_eq!(severity(&found, "VS Code download"), Severity::Fail);
        assert!(found.iter().all(|f| f.item != "remote shell"), "it ran to its end");
        let with_local = findings("ci1", &report, Some("always"));
        assert_eq!(severity(&with_local, "VS Code download"), Severity::Pass);
    }

    #[test]
    fn a_check_that_did_not_finish_says_so_and_downloads_are_read_by_tool() {
        let report = parse(&format!("{BEGIN}\nfree home 9999999\n"));
        assert!(!report.complete && report.noise.is_empty());
        assert_eq!(severity(&findings("ci1", &report, None), "remote shell"), Severity::Fail);
        assert_eq!(download("curl 404"), Download::Reached);
        assert_eq!(download("wget 8"), Download::Reached);
        assert_eq!(download("wget 4"), Download::Unreachable);
        assert_eq!(download("none"), Download::Unknown);
    }
}
