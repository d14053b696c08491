//! Shared test harness: a temporary HOME with a fake `az`, keys and ssh config; a mock ARM; a real sshd; and a
//! helper that runs a command with a hard deadline so no test can hang.

pub mod instance;
pub mod schema;
pub mod wine;

pub use azml_ssh_testkit::{connect_proxy, gateway, mock_arm, mock_jobs, sshd, tls};

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use mock_arm::MockArm;
use sshd::Sshd;

pub const SUB: &str = "00000000-1111-2222-3333-444444444444";
/// A JWT-shaped token (unsigned) whose `oid` is [`MY_OID`], as the real CLI's tokens carry the user's object ID.
pub const TOKEN: &str = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJvaWQiOiIxMTExMTExMS0yMjIyLTMzMzMtNDQ0NC01NTU1NTU1NTU1NTUiLCJ0aWQiOiI5OTk5OTk5OS04ODg4LTc3NzctNjY2Ni01NTU1NTU1NTU1NTUiLCJuYW1lIjoiVGVzdCBVc2VyIiwidXBuIjoidGVzdC51c2VyQGNvbnRvc28uY29tIn0.c2lnbmF0dXJl";
/// The signed-in user's object ID inside [`TOKEN`].
pub const MY_OID: &str = "11111111-2222-3333-4444-555555555555";
pub const BIN: &str = env!("CARGO_BIN_EXE_azml-ssh");

pub fn compute_id(name: &str) -> String {
    compute_id_in(SUB, "rg-test", "ws-test", name)
}

pub fn compute_id_in(sub: &str, rg: &str, ws: &str, name: &str) -> String {
    format!(
        "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices/workspaces/{ws}/computes/{name}"
    )
}

pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub arm: MockArm,
    pub user_key: PathBuf,
    pub known_hosts: PathBuf,
    pub az_dir: PathBuf,
    /// Extra environment for every command (on top of the clean base).
    pub extra_env: Vec<(String, String)>,
}

impl TestEnv {
    pub fn new() -> Self {
        Self::with_arm(MockArm::start(TOKEN))
    }

    pub fn with_arm(arm: MockArm) -> Self {
        let dir = tempfile::Builder::new().prefix("azml-ssh-test").tempdir().unwrap();
        let root = dir.path();
        for sub in ["home", "cache", "az", "sshd"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        let user_key = root.join("home/id_azmlcitest");
        sshd::keygen(&user_key);
        let az_dir = root.join("az");
        write_fake_az(&az_dir, TOKEN);
        // What `az login` leaves behind; azml-ssh trusts a cached token only while these files stay as they were.
        std::fs::create_dir_all(root.join("home/.azure")).unwrap();
        std::fs::write(root.join("home/.azure/azureProfile.json"), r#"{"subscriptions": [{"id": "signed-in"}]}"#)
            .unwrap();
        std::fs::write(root.join("home/.azure/msal_token_cache.json"), r#"{"AccessToken": {}}"#).unwrap();
        let env =
            TestEnv { known_hosts: root.join("home/known_hosts"), dir, arm, user_key, az_dir, extra_env: Vec::new() };
        // Host key made now, so known_hosts can name it before any sshd runs.
        sshd::keygen(&env.sshd_dir().join("host_key"));
        env
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn sshd_dir(&self) -> PathBuf {
        self.path("sshd")
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.path("cache")
    }

    pub fn start_sshd(&self) -> Sshd {
        Sshd::start(&self.sshd_dir(), &self.user_key.with_extension("pub"))
    }

    /// Registers compute `name` in the mock as a running instance with public SSH at `port`.
    pub fn put_running(&self, name: &str, port: u16) {
        self.arm.put_compute(
            &compute_id(name),
            mock_arm::compute_instance(&compute_id(name), "Running", true, Some("127.0.0.1"), Some(port)),
        );
    }

    /// Runs `n` `ssh <alias> echo n<i>` at once and checks each one succeeded with its own answer.
    pub fn concurrent_echoes(&self, config: &Path, alias: &str, n: usize, limit: Duration) {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let mut cmd = self.ssh(config, alias, &["echo", &format!("n{i}")]);
                std::thread::spawn(move || (i, run(&mut cmd, None, limit)))
            })
            .collect();
        for handle in handles {
            let (i, out) = handle.join().unwrap();
            assert!(out.status.success(), "connection {i}: {}", out.stderr);
            assert_eq!(out.stdout_text(), format!("n{i}\n"));
        }
    }

    /// Registers compute `name` as a running instance whose "SSH port" is a TCP echo server; returns its ID.
    pub fn put_echo_instance(&self, name: &str) -> String {
        let echo = echo_server();
        let id = compute_id(name);
        self.arm
            .put_compute(&id, mock_arm::compute_instance(&id, "Running", true, Some("127.0.0.1"), Some(echo.port())));
        id
    }

    /// Registers compute `name` as a running instance without public SSH whose Jupyter endpoint is a mock Azure ML
    /// gateway (TLS from a test CA, trusted through SSL_CERT_FILE) in front of `target`; returns the gateway and ID.
    pub fn put_tunnel_instance(&mut self, name: &str, target: std::net::SocketAddr) -> (gateway::Gateway, String) {
        let ca = tls::TestCa::new(&self.path(""));
        self.extra_env.push(("SSL_CERT_FILE".into(), ca.pem_path.display().to_string()));
        let gateway = gateway::Gateway::start(&ca, TOKEN, target);
        let id = compute_id(name);
        let mut doc = mock_arm::compute_instance(&id, "Running", false, None, None);
        doc["properties"]["properties"]["applications"] =
            serde_json::json!([{"displayName": "Jupyter", "endpointUri": gateway.jupyter_uri()}]);
        self.arm.put_compute(&id, doc);
        (gateway, id)
    }

    /// An ssh config whose `alias` uses `azml-ssh proxy <id>` as its ProxyCommand, with host-key checking on.
    pub fn ssh_config(&self, alias: &str, id: &str, proxy_args: &str) -> PathBuf {
        std::fs::write(&self.known_hosts, format!("{alias} {}\n", Sshd::host_public_key(&self.sshd_dir()))).unwrap();
        let config = self.path(&format!("home/ssh_config.{alias}"));
        std::fs::write(
            &config,
            format!(
                "Host {alias}\n\
                 \x20   User {user}\n\
                 \x20   IdentityFile {key}\n\
                 \x20   IdentitiesOnly yes\n\
                 \x20   BatchMode yes\n\
                 \x20   UserKnownHostsFile {kh}\n\
                 \x20   GlobalKnownHostsFile /dev/null\n\
                 \x20   StrictHostKeyChecking yes\n\
                 \x20   ConnectTimeout 20\n\
                 \x20   LogLevel ERROR\n\
                 {fdpass}\
                 \x20   ProxyCommand {bin} proxy {proxy_args}{id}\n",
                fdpass = if proxy_args.contains("--fdpass") { "    ProxyUseFdpass yes\n" } else { "" },
                user = sshd::current_user(),
                key = self.user_key.display(),
                kh = self.known_hosts.display(),
                bin = BIN,
            ),
        )
        .unwrap();
        config
    }

    /// Applies a clean, loopback-only environment: nothing from the developer's shell (AZURE_*, proxies, a real
    /// az login) leaks in, and the fake `az` is first on PATH.
    pub fn apply_env(&self, cmd: &mut Command) {
        let path = format!("{}:{}", self.az_dir.display(), std::env::var("PATH").unwrap_or_default());
        cmd.env_clear()
            .env("PATH", path)
            .env("HOME", self.path("home"))
            .env("XDG_CACHE_HOME", self.cache_dir())
            .env("AZML_SSH_ARM_ENDPOINT", &self.arm.url)
            // The mock gateways listen on localhost, not under Azure ML's instance domain.
            .env("AZML_SSH_GATEWAY_DOMAINS", "localhost")
            .env("LANG", "C.UTF-8");
        for (k, v) in &self.extra_env {
            cmd.env(k, v);
        }
    }

    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        self.apply_env(&mut cmd);
        cmd
    }

    /// `ssh -F <config> <alias> <remote command...>`.
    pub fn ssh(&self, config: &Path, alias: &str, remote: &[&str]) -> Command {
        let mut cmd = self.command("ssh");
        cmd.arg("-F").arg(config).arg(alias).args(remote);
        cmd
    }

    /// `scp -F <config> FROM TO` succeeds.
    pub fn scp(&self, config: &Path, from: &str, to: &str) {
        let mut scp = self.command("scp");
        scp.arg("-F").arg(config).arg(from).arg(to);
        let out = run(&mut scp, None, Duration::from_secs(90));
        assert!(out.status.success(), "scp {from} {to}: {}", out.stderr);
    }

    /// `len` random bytes copied to `ALIAS` and back with [`Self::scp`] arrive byte for byte both ways: the bulk
    /// transfer check of every transport (direct, fd passing, the tunnel).
    pub fn scp_round_trip(&self, config: &Path, alias: &str, len: usize, seed: u64) {
        let local = self.path("local.bin");
        std::fs::write(&local, random_bytes(len, seed)).unwrap();
        let (remote, back) = (self.path("remote.bin"), self.path("back.bin"));
        self.scp(config, &local.display().to_string(), &format!("{alias}:{}", remote.display()));
        self.scp(config, &format!("{alias}:{}", remote.display()), &back.display().to_string());
        let expected = sha256_file(&local);
        assert_eq!(sha256_file(&remote), expected, "scp up");
        assert_eq!(sha256_file(&back), expected, "scp down");
    }

    /// `git clone ALIAS:<a bare repository on the "instance">` over `ssh -F <config>` succeeds.
    pub fn git_clone_works(&self, config: &Path, alias: &str) {
        let limit = Duration::from_secs(90);
        let repo = self.path("repo.git");
        let mut init = self.command("git");
        init.args(["init", "-q", "--bare"]).arg(&repo);
        assert!(run(&mut init, None, limit).status.success());
        let mut clone = self.command("git");
        clone
            .current_dir(self.dir.path())
            .args(["clone", "-q", &format!("{alias}:{}", repo.display()), "cloned"])
            .env("GIT_SSH_COMMAND", format!("ssh -F {}", config.display()));
        let out = run(&mut clone, None, limit);
        assert!(out.status.success(), "{}", out.stderr);
        assert!(self.path("cloned/.git").is_dir());
    }

    /// `azml-ssh proxy <args...>` run directly.
    pub fn proxy(&self, args: &[&str]) -> Command {
        let mut cmd = self.command(BIN);
        cmd.arg("proxy").args(args);
        cmd
    }

    pub fn az_calls(&self) -> usize {
        std::fs::read_to_string(self.az_dir.join("calls.log")).map(|s| s.lines().count()).unwrap_or(0)
    }

    /// Makes the fake `az` take `seconds` before answering (a real one takes about a second).
    pub fn az_delay(&self, seconds: f64) {
        std::fs::write(self.az_dir.join("delay"), seconds.to_string()).unwrap();
    }

    /// Makes the fake `az` answer like a CLI with no login.
    pub fn az_logged_out(&self) {
        std::fs::write(self.az_dir.join("logged-out"), "").unwrap();
    }

    /// What `az logout` does: the profile is rewritten without accounts, the MSAL token cache removed, and the
    /// CLI has no login any more.
    pub fn az_logout(&self) {
        std::fs::write(self.path("home/.azure/azureProfile.json"), r#"{"subscriptions": []}"#).unwrap();
        std::fs::remove_file(self.path("home/.azure/msal_token_cache.json")).unwrap();
        self.az_logged_out();
    }

    /// Lets the fake `az` hand out `token` for `az account get-access-token --tenant <tenant>`.
    pub fn az_tenant_token(&self, tenant: &str, token: &str) {
        std::fs::create_dir_all(self.az_dir.join("tenants")).unwrap();
        std::fs::write(self.az_dir.join(format!("tenants/{tenant}.token")), token).unwrap();
    }

    /// Makes `--tenant <tenant>` fail as a tenant with multi-factor authentication required does.
    pub fn az_tenant_needs_mfa(&self, tenant: &str) {
        std::fs::create_dir_all(self.az_dir.join("tenants")).unwrap();
        std::fs::write(self.az_dir.join(format!("tenants/{tenant}.mfa")), "").unwrap();
    }

    /// Puts a fake Azure Developer CLI on PATH, signed in: `azd auth token -o json …` answers as the real one
    /// does (`{"token", "expiresOn"}`) and logs each call; `~/.azd` holds what `azd auth login` leaves.
    pub fn azd_signed_in(&self) {
        std::fs::create_dir_all(self.path("home/.azd/auth/msal")).unwrap();
        std::fs::write(
            self.path("home/.azd/config.json"),
            r#"{"auth":{"account":{"currentUser":{"homeAccountId":"u"}}}}"#,
        )
        .unwrap();
        std::fs::write(self.path("home/.azd/auth/msal/cache.json"), "{}").unwrap();
        let dir = self.az_dir.display();
        let script = format!(
            r#"#!/bin/sh
echo "$*" >> "{dir}/azd-calls.log"
if [ -e "{dir}/azd-logged-out" ]; then
    echo '{{"type":"consoleMessage","timestamp":"2038-01-18T00:00:00Z","data":{{"message":"\nERROR: not logged in, run `azd auth login` to login\n"}}}}' >&2
    exit 1
fi
case "$*" in
    "auth token -o json --no-prompt"*) ;;
    *) echo "fake azd: unsupported: $*" >&2; exit 2 ;;
esac
printf '{{"token":"{TOKEN}","expiresOn":"%s"}}\n' "$(date -u -d @$(($(date +%s) + 3600)) +%Y-%m-%dT%H:%M:%SZ)"
"#
        );
        write_script(&self.az_dir.join("azd"), &script);
    }

    /// What `azd auth logout` does: the current user leaves `~/.azd/config.json`, and azd has no login any more.
    pub fn azd_logout(&self) {
        std::fs::write(self.path("home/.azd/config.json"), r#"{"auth":{}}"#).unwrap();
        std::fs::write(self.az_dir.join("azd-logged-out"), "").unwrap();
    }

    pub fn azd_calls(&self) -> usize {
        std::fs::read_to_string(self.az_dir.join("azd-calls.log")).map(|s| s.lines().count()).unwrap_or(0)
    }

    /// The `az` command lines run so far.
    pub fn az_call_lines(&self) -> Vec<String> {
        std::fs::read_to_string(self.az_dir.join("calls.log")).unwrap_or_default().lines().map(str::to_owned).collect()
    }
}

pub use mock_arm::jwt;

/// A fake `az` that answers `az account get-access-token` exactly as the real CLI does (JSON with accessToken,
/// expiresOn, expires_on, tokenType) and logs each call. azure_identity's real AzureCliCredential runs it.
fn write_fake_az(dir: &Path, token: &str) {
    let script = format!(
        r#"#!/bin/sh
echo "$*" >> "{dir}/calls.log"
[ ! -e "{dir}/delay" ] || sleep "$(cat "{dir}/delay")"
if [ -e "{dir}/logged-out" ]; then
    echo "ERROR: Please run 'az login' to setup account." >&2
    exit 1
fi
case "$*" in
    "account get-access-token"*) ;;
    *) echo "fake az: unsupported: $*" >&2; exit 2 ;;
esac
token="{token}"
tenant=99999999-8888-7777-6666-555555555555
case "$*" in
    *"--tenant "*)
        tenant=$(echo "$*" | sed 's/.*--tenant \([^ ]*\).*/\1/')
        if [ -e "{dir}/tenants/$tenant.mfa" ]; then
            echo "ERROR: AADSTS50076: Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '797f4846-ba00-4fd7-ba43-dac1f8f63013'. Run the command below to authenticate interactively: az login --tenant $tenant" >&2
            exit 1
        fi
        if [ ! -e "{dir}/tenants/$tenant.token" ]; then
            echo "ERROR: AADSTS90002: Tenant '$tenant' not found." >&2
            exit 1
        fi
        token=$(cat "{dir}/tenants/$tenant.token")
        ;;
esac
now=$(date +%s)
exp=$((now + 3600))
cat <<JSON
{{
  "accessToken": "$token",
  "expiresOn": "$(date -d @$exp '+%Y-%m-%d %H:%M:%S.000000')",
  "expires_on": $exp,
  "subscription": "{SUB}",
  "tenant": "$tenant",
  "tokenType": "Bearer"
}}
JSON
"#,
        dir = dir.display(),
    );
    write_script(&dir.join("az"), &script);
}

/// Writes an executable script (a fake program the tests put on PATH).
pub fn write_script(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

pub struct Outcome {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Outcome {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// Runs `cmd` feeding `input` to stdin (closed after), collecting output, and kills it — failing the test — if
/// it is still running after `limit`.
pub fn run(cmd: &mut Command, input: Option<Vec<u8>>, limit: Duration) -> Outcome {
    let start = Instant::now();
    cmd.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let writer = input.map(|data| {
        let mut stdin = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        })
    });
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let err = err_reader.join().unwrap();
            panic!("{cmd:?} still running after {limit:?}; stderr: {}", String::from_utf8_lossy(&err));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = start.elapsed();
    if let Some(w) = writer {
        let _ = w.join();
    }
    Outcome {
        status,
        stdout: out_reader.join().unwrap(),
        stderr: String::from_utf8_lossy(&err_reader.join().unwrap()).into_owned(),
        elapsed,
    }
}

/// Deterministic pseudo-random bytes (xorshift), so large transfers are not trivially compressible.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

pub fn sha256_file(path: &Path) -> String {
    use sha2::Digest;
    let data = std::fs::read(path).unwrap();
    format!("{:x}", sha2::Sha256::digest(&data))
}

/// A TCP echo server on 127.0.0.1: echoes each connection until the client half-closes, then closes.
pub fn echo_server() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut reader = stream.try_clone().unwrap();
                let _ = std::io::copy(&mut reader, &mut stream);
            });
        }
    });
    addr
}

/// The file-name key azml-ssh uses for a compute in its cache directory.
pub fn cache_key(id: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(id.to_ascii_lowercase().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
