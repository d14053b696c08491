//! A throwaway OpenSSH server on 127.0.0.1 with its own host key, config and authorized key.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SSHD: &str = "/usr/sbin/sshd";

pub struct Sshd {
    child: Child,
    pub addr: SocketAddr,
}

/// Generates an ed25519 key pair at `path` (and `path.pub`).
pub fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "azml-ssh-test", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen must be installed (openssh-client)");
    assert!(status.success(), "ssh-keygen failed");
}

impl Sshd {
    /// Starts sshd with host key `dir/host_key` (made if missing) accepting `authorized_keys`.
    pub fn start(dir: &Path, authorized_keys: &Path) -> Sshd {
        Self::start_with(dir, authorized_keys, "")
    }

    /// Like [`Sshd::start`], with `extra` lines in its config (e.g. `SetEnv PATH=...` for fake remote programs).
    pub fn start_with(dir: &Path, authorized_keys: &Path, extra: &str) -> Sshd {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: install openssh-server (apt-get install -y openssh-server)"
        );
        if nix_is_root() {
            // The privilege-separation directory sshd insists on when run as root.
            std::fs::create_dir_all("/run/sshd").expect("create /run/sshd");
        }
        let host_key = dir.join("host_key");
        if !host_key.exists() {
            keygen(&host_key);
        }
        // A port can be taken between our probe and sshd's bind; try a few.
        for _ in 0..5 {
            if let Some(sshd) = Self::try_on(dir, authorized_keys, extra, free_port()) {
                return sshd;
            }
        }
        panic!("sshd did not start; see {}/sshd.*.log", dir.display());
    }

    /// Starts sshd again on `port` (as [`Sshd::start`], no extra config), as after a restart of the instance's
    /// sshd: same host key, same address. Retries for a few seconds while the port is still taken.
    pub fn start_on(dir: &Path, authorized_keys: &Path, port: u16) -> Sshd {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(sshd) = Self::try_on(dir, authorized_keys, "", port) {
                return sshd;
            }
            assert!(
                Instant::now() < deadline,
                "sshd did not start again on {port}; see {}/sshd.{port}.log",
                dir.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn try_on(dir: &Path, authorized_keys: &Path, extra: &str, port: u16) -> Option<Sshd> {
        let host_key = dir.join("host_key");
        let config = dir.join(format!("sshd_config.{port}"));
        std::fs::write(&config, sshd_config(dir, port, &host_key, authorized_keys) + extra).unwrap();
        let log = std::fs::File::create(dir.join(format!("sshd.{port}.log"))).unwrap();
        let mut child = Command::new(SSHD)
            .arg("-f")
            .arg(&config)
            .args(["-D", "-e"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start sshd");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        if wait_listening(&mut child, addr) {
            return Some(Sshd { child, addr });
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn host_public_key(dir: &Path) -> String {
        let text = std::fs::read_to_string(dir.join("host_key.pub")).unwrap();
        text.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sshd_config(dir: &Path, port: u16, host_key: &Path, authorized_keys: &Path) -> String {
    format!(
        "Port {port}\n\
         ListenAddress 127.0.0.1\n\
         HostKey {host_key}\n\
         PidFile {pid}\n\
         AuthorizedKeysFile {authorized_keys}\n\
         PubkeyAuthentication yes\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         PermitRootLogin prohibit-password\n\
         UsePAM no\n\
         StrictModes no\n\
         Subsystem sftp internal-sftp\n\
         LogLevel ERROR\n",
        host_key = host_key.display(),
        pid = dir.join(format!("sshd.{port}.pid")).display(),
        authorized_keys = authorized_keys.display(),
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Polls until sshd accepts connections, it exits, or ten seconds pass.
fn wait_listening(child: &mut Child, addr: SocketAddr) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

pub fn nix_is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

pub fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
