//! Running the Windows build (`azml-ssh.exe`, x86_64-pc-windows-gnu) under Wine as a black box, driven by the
//! same mocks, sshd and Linux OpenSSH client as the Linux suite.
//!
//! The exe and a prepared Wine prefix come from the environment: `AZML_SSH_WINDOWS_EXE` and
//! `AZML_SSH_WINE_PREFIX` (`contrib/test.sh` builds the one and prepares the other with
//! `contrib/windows/wine-prefix.sh`). Wine forces USERPROFILE, LOCALAPPDATA, APPDATA and PATH to the prefix's
//! own and drops HOME, so every test shares one Windows profile: tests that write into it take
//! [`Wine::profile_ssh`] (one at a time, starting empty); the others give the program their own
//! `XDG_CACHE_HOME` (which azml-ssh honours on Windows when set), use ssh configs of their own, and put their
//! fake `az.cmd` on the path with `WINEPATH`. Every path handed to the program is a Windows path (`Z:\…`),
//! never a Unix one that Wine would quietly accept.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::TestEnv;

pub const WINE: &str = "/usr/lib/wine/wine64";

pub struct Wine {
    pub exe: PathBuf,
    pub prefix: PathBuf,
}

impl Wine {
    /// The Windows build and the prefix to run it in; a test that needs them and does not get them fails.
    pub fn get() -> Wine {
        let var = |name: &str| {
            std::env::var_os(name).map(PathBuf::from).unwrap_or_else(|| {
                panic!("{name} is not set: run the Windows suite through contrib/test.sh (it builds azml-ssh.exe and a Wine prefix)")
            })
        };
        let wine = Wine { exe: var("AZML_SSH_WINDOWS_EXE"), prefix: var("AZML_SSH_WINE_PREFIX") };
        assert!(wine.exe.is_file(), "no Windows build at {}", wine.exe.display());
        assert!(wine.prefix.join("drive_c").is_dir(), "no Wine prefix at {}", wine.prefix.display());
        wine
    }

    /// The environment the program gets (on top of Wine's own), as `NAME=value` pairs.
    pub fn env_pairs(&self, env: &TestEnv) -> Vec<(String, String)> {
        let mut pairs = vec![
            ("WINEPREFIX".to_owned(), self.prefix.display().to_string()),
            ("WINEDEBUG".to_owned(), "-all".to_owned()),
            ("XDG_CACHE_HOME".to_owned(), win(&env.cache_dir())),
            ("WINEPATH".to_owned(), win(&env.az_dir)),
            ("AZURE_CONFIG_DIR".to_owned(), win(&env.path("home/.azure"))),
            ("AZD_CONFIG_DIR".to_owned(), win(&env.path("home/.azd"))),
            ("AZML_SSH_ARM_ENDPOINT".to_owned(), env.arm.url.clone()),
            ("AZML_SSH_GATEWAY_DOMAINS".to_owned(), "localhost".to_owned()),
        ];
        pairs.extend(env.extra_env.iter().filter(|(k, _)| k != "SSL_CERT_FILE").cloned());
        pairs
    }

    /// `azml-ssh.exe ARGS` under Wine, with only the environment [`Wine::env_pairs`] gives.
    pub fn command(&self, env: &TestEnv, args: &[&str]) -> Command {
        self.command_of(&self.exe, env, args)
    }

    /// `EXE ARGS` under Wine (the program or its twin), with only the environment [`Wine::env_pairs`] gives.
    pub fn command_of(&self, exe: &Path, env: &TestEnv, args: &[&str]) -> Command {
        self.command_at(&win(exe), env, args)
    }

    /// `PROGRAM ARGS` under Wine, the program named by its Windows path.
    pub fn command_at(&self, program: &str, env: &TestEnv, args: &[&str]) -> Command {
        let mut cmd = Command::new(WINE);
        cmd.env_clear().envs(self.env_pairs(env)).arg(program).args(args);
        cmd
    }

    /// The console-less twin `azml-sshw.exe` beside the program: what the ssh config names on Windows.
    pub fn twin(&self) -> PathBuf {
        self.exe.with_file_name("azml-sshw.exe")
    }

    /// The ProxyCommand line that runs `azml-sshw.exe proxy ARGS` under Wine, for ssh's `/bin/sh -c`: the twin,
    /// as the ssh config on Windows names it, so every connection test shows it relays as the program does.
    pub fn proxy_command(&self, env: &TestEnv, args: &str) -> String {
        let vars: Vec<String> = self.env_pairs(env).iter().map(|(k, v)| format!("{k}={}", sh_quote(v))).collect();
        format!("env -i {} {WINE} {} proxy {args}", vars.join(" "), sh_quote(&win(&self.twin())))
    }

    /// An ssh config whose `alias` connects through `azml-ssh.exe proxy [args] ID` under Wine, host-key
    /// checking on (the same client settings as [`TestEnv::ssh_config`]).
    pub fn ssh_config(&self, env: &TestEnv, alias: &str, id: &str, proxy_args: &str) -> PathBuf {
        let config = env.ssh_config(alias, id, proxy_args);
        let text = std::fs::read_to_string(&config).unwrap();
        let line = text.lines().find(|l| l.trim_start().starts_with("ProxyCommand ")).unwrap();
        let ours = format!("    ProxyCommand {}", self.proxy_command(env, &format!("{proxy_args}{id}")));
        std::fs::write(&config, text.replace(line, &ours)).unwrap();
        config
    }

    /// Runs a Windows helper program of the prefix (`azml-tools/NAME.exe`, built by wine-prefix.sh).
    pub fn tool(&self, name: &str) -> Command {
        let mut cmd = Command::new(WINE);
        cmd.env_clear()
            .env("WINEPREFIX", &self.prefix)
            .env("WINEDEBUG", "-all")
            .arg(win(&self.prefix.join("azml-tools").join(format!("{name}.exe"))));
        cmd
    }

    /// The profile's `.ssh` folder, emptied, for a test that writes there; others wait until the guard drops.
    pub fn profile_ssh(&self) -> (std::sync::MutexGuard<'static, ()>, PathBuf) {
        static PROFILE: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let guard = PROFILE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let ssh = self.profile().join(".ssh");
        let _ = std::fs::remove_dir_all(&ssh);
        (guard, ssh)
    }

    /// Where the prefix keeps the Windows user's profile (`%USERPROFILE%`).
    pub fn profile(&self) -> PathBuf {
        let users = self.prefix.join("drive_c/users");
        let name = std::fs::read_dir(&users)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .find(|n| n != "Public")
            .expect("a user profile in the prefix");
        users.join(name)
    }
}

/// A Unix path as the Windows program sees it through Wine's drive Z:.
pub fn win(path: &Path) -> String {
    format!("Z:{}", path.display().to_string().replace('/', "\\"))
}

fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The fake Azure CLI for Windows: `az.cmd`, which azure_identity runs through `cmd /C`. It logs each call to the
/// same `calls.log` the Unix fake uses and answers with a token that expires in an hour (written now, since a
/// batch file cannot do date arithmetic), or fails as a CLI without a login does.
pub fn write_fake_az_cmd(env: &TestEnv, token: &str) {
    let dir = &env.az_dir;
    let expires = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 3600;
    let answer = serde_json::json!({
        "accessToken": token,
        "expiresOn": "2099-01-01 00:00:00.000000",
        "expires_on": expires,
        "subscription": super::SUB,
        "tenant": super::mock_arm::HOME_TENANT,
        "tokenType": "Bearer",
    });
    std::fs::write(dir.join("token.json"), answer.to_string()).unwrap();
    let (log, logged_out, json) =
        (win(&dir.join("calls.log")), win(&dir.join("logged-out")), win(&dir.join("token.json")));
    let script = format!(
        "@echo off\r\n\
         echo %*>> \"{log}\"\r\n\
         if exist \"{logged_out}\" (\r\n\
         echo ERROR: Please run 'az login' to setup account. 1>&2\r\n\
         exit /b 1\r\n\
         )\r\n\
         type \"{json}\"\r\n"
    );
    std::fs::write(dir.join("az.cmd"), script).unwrap();
}

/// Pids of the Wine processes running azml-ssh whose environment mentions `marker` (a path unique to one test).
pub fn processes_mentioning(marker: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().filter_map(Result::ok) {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else { continue };
        let text = String::from_utf8_lossy(&cmdline);
        if text.contains("azml-ssh") && String::from_utf8_lossy(&environ).contains(marker) {
            pids.push(pid);
        }
    }
    pids
}

/// The fake Azure Developer CLI for Windows, `azd.cmd` (`azd auth token -o json --no-prompt …`, answered as the
/// real one does), logging to `azd-calls.log`; with `~/.azd` as `azd auth login` leaves it.
pub fn write_fake_azd_cmd(env: &TestEnv, token: &str) {
    env.azd_signed_in();
    let dir = &env.az_dir;
    let answer = serde_json::json!({"token": token, "expiresOn": "2099-01-01T00:00:00Z"});
    std::fs::write(dir.join("azd-token.json"), answer.to_string()).unwrap();
    let (log, json) = (win(&dir.join("azd-calls.log")), win(&dir.join("azd-token.json")));
    let script = format!("@echo off\r\necho %*>> \"{log}\"\r\ntype \"{json}\"\r\n");
    std::fs::write(dir.join("azd.cmd"), script).unwrap();
}
