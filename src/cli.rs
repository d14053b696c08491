//! Command-line definitions: the clap types, and their conversion into the library's plain option structs — and
//! back, for the one command line the library needs made (the detached relay of `--fdpass`). Nothing below this
//! file sees a clap type or builds our command line.

use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::Duration;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};

use azml_ssh::azure::cloud::Cloud;
use azml_ssh::azure::credential::{AUTH_ENV, AuthMethod};
use azml_ssh::azure::lifecycle::StartOptions;
use azml_ssh::azure::session::AzureOptions;
use azml_ssh::cmd::config::{Discover, WriteOptions};
use azml_ssh::cmd::jobs::JobsOptions;
use azml_ssh::cmd::open::plan::PortSpec;
use azml_ssh::cmd::open::{CodeOptions, ForwardOptions, JupyterOptions};
use azml_ssh::cmd::proxy::Role;
use azml_ssh::cmd::status::StateChange;
use azml_ssh::connect::cache::MAX_AGE_ENV;
use azml_ssh::connect::endpoint::Transport;
use azml_ssh::connect::proxy::{DIRECT_TIMEOUT_ENV, DetachedRelay, ProxyOptions};
use azml_ssh::sshconf::merge::HostSettings;
use azml_ssh::sshconf::wildcard::{Suffix, WildcardChoice};
use azml_ssh::util::deadline::{Budget, Limit};
use azml_ssh::util::state::StateDir;
use azml_ssh::util::text;

/// What `--version` prints after the name: the version, the commit and the target it was built for (see build.rs),
/// e.g. `0.1.0 (commit 1a2b3c4d5e6f, x86_64-unknown-linux-gnu)`, so a bug report names the exact build.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    include_str!(concat!(env!("OUT_DIR"), "/commit.txt")),
    ", ",
    env!("AZML_SSH_BUILD_TARGET"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "azml-ssh",
    version = VERSION,
    about = "ssh to Azure Machine Learning compute instances by name",
    long_about = "ssh to Azure Machine Learning compute instances by name.\n\n\
        azml-ssh is used as an ssh ProxyCommand: at connect time it finds the instance's current SSH endpoint \
        through Azure Resource Manager and relays the SSH stream, so ~/.ssh/config never holds an IP address."
)]
pub struct Cli {
    /// More diagnostics on stderr (-v debug, -vv trace, -vvv include HTTP libraries); see also AZML_SSH_LOG.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Also append diagnostics (at debug level, or as -v/AZML_SSH_LOG say) and errors to this file — useful where a
    /// ProxyCommand's stderr is hard to see, as in some VS Code setups.
    #[arg(long, value_name = "PATH", env = "AZML_SSH_LOG_FILE", global = true)]
    pub log_file: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Connect stdin/stdout to a compute instance's SSH port (for ProxyCommand).
    #[command(after_help = "Example ~/.ssh/config entry:\n\n  \
        Host ci1\n      \
        User azureuser\n      \
        IdentityFile ~/.ssh/id_azmlcitest_rsa\n      \
        ProxyCommand azml-ssh proxy /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.MachineLearningServices/workspaces/<ws>/computes/<ci>")]
    Proxy(ProxyArgs),

    /// Find your compute instances and write an ssh host for each (~/.ssh/azml-ssh/config, included from
    /// ~/.ssh/config).
    #[command(after_help = "Examples:\n  \
        azml-ssh config                          # every instance assigned to you, in every subscription\n  \
        azml-ssh config --subscription <id> --workspace ws1 --prefix ml-\n  \
        azml-ssh config --identity-file ~/.ssh/id_azml --dry-run\n  \
        azml-ssh config --remove                 # undo everything azml-ssh added")]
    // Searching every subscription and workspace takes longer than one lookup.
    #[command(mut_arg("timeout", |arg| arg.default_value("120")))]
    Config(ConfigArgs),

    /// Add or update one host by resource ID, with no discovery.
    #[command(after_help = "Example:\n  \
        azml-ssh add ci1 /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.MachineLearningServices/workspaces/<ws>/computes/<ci> \\\n      \
        --identity-file ~/.ssh/id_azmlcitest_rsa")]
    Add(AddArgs),

    /// Remove one host written by azml-ssh.
    #[command(after_help = "Example:\n  azml-ssh remove ci1 --dry-run")]
    Remove(RemoveArgs),

    /// Show the hosts azml-ssh has configured.
    #[command(after_help = "Example:\n  azml-ssh list")]
    List(ListArgs),

    /// List your queued and running training jobs that have an SSH service, with the ssh name of each node.
    #[command(after_help = "Examples:\n  \
        azml-ssh jobs\n  \
        azml-ssh jobs --workspace ws1 --json\n\n\
        Then: ssh myjob.job.azml (node 0), ssh 1.myjob.job.azml (node 1), azml-ssh code myjob.job.azml.")]
    Jobs(JobsArgs),

    /// Show instances' state, why they are stopped, endpoint and transport.
    #[command(
        after_help = "Examples:\n  azml-ssh status              # every configured host\n  azml-ssh status ci1 --json"
    )]
    Status(StatusArgs),

    /// Start an instance (once, even if connections are starting it too).
    #[command(
        after_help = "Examples:\n  azml-ssh start ci1 --wait\n  azml-ssh start /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.MachineLearningServices/workspaces/<ws>/computes/<ci>"
    )]
    Start(LifecycleArgs),

    /// Stop an instance.
    #[command(after_help = "Example:\n  azml-ssh stop ci1 --wait")]
    Stop(LifecycleArgs),

    /// Change how long an instance may be idle before Azure stops it (15m to 3d), or turn idle shutdown off.
    #[command(after_help = "Examples:\n  \
        azml-ssh idle ci1 30m\n  \
        azml-ssh idle ci1 1h30m\n  \
        azml-ssh idle ci1 off\n\n\
        `azml-ssh status` shows the setting and the next scheduled start or stop.")]
    Idle(IdleArgs),

    /// Check that `ssh <alias>` will work, item by item, with the fix for anything that will not.
    #[command(
        after_help = "Examples:\n  azml-ssh doctor             # every configured host\n  azml-ssh doctor ci1 --json"
    )]
    Doctor(DoctorArgs),

    /// Open VS Code on an instance (starting the instance first, so VS Code's connect timeout never matters).
    #[command(after_help = "Examples:\n  \
        azml-ssh code ci1                      # the login user's home\n  \
        azml-ssh code ci1 cloudfiles/code      # relative to the home directory\n  \
        azml-ssh code ci1 --editor cursor")]
    Code(CodeArgs),

    /// Forward an instance's Jupyter server to 127.0.0.1 and print its URL, until Ctrl-C.
    #[command(after_help = "Example:\n  azml-ssh jupyter ci1 --open")]
    Jupyter(JupyterArgs),

    /// Forward ports of an instance to 127.0.0.1 (TensorBoard, MLflow, a web app) and print their URLs, until
    /// Ctrl-C.
    #[command(after_help = "Examples:\n  \
        azml-ssh forward ci1 6006                # TensorBoard at http://127.0.0.1:6006/\n  \
        azml-ssh forward ci1 5000:15000 8050     # MLflow on local port 15000, and a Dash app")]
    Forward(ForwardArgs),

    /// Print a shell completion script.
    #[command(after_help = "Install, for example:\n  \
        bash:       azml-ssh completions bash > ~/.local/share/bash-completion/completions/azml-ssh\n  \
        zsh:        azml-ssh completions zsh > ~/.zfunc/_azml-ssh   (with fpath+=(~/.zfunc) before compinit)\n  \
        fish:       azml-ssh completions fish > ~/.config/fish/completions/azml-ssh.fish\n  \
        PowerShell: azml-ssh completions powershell >> $PROFILE")]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },

    /// Write a man page for the program and each command into DIR (azml-ssh.1, azml-ssh-config.1, …).
    #[command(after_help = "Example:\n  azml-ssh man ~/.local/share/man/man1")]
    Man {
        /// Where to write them (created if missing).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

/// The command tree as the man pages and the reference show it: what is generated depends on neither the terminal
/// nor the environment it is made in (no values of the variables an option reads).
pub fn command_tree() -> clap::Command {
    use clap::CommandFactory;
    fn without_env_values(command: clap::Command) -> clap::Command {
        let names: Vec<String> = command.get_subcommands().map(|c| c.get_name().to_owned()).collect();
        let command = command.mut_args(|arg| arg.hide_env_values(true));
        names.iter().fold(command, |command, name| command.mut_subcommand(name, without_env_values))
    }
    let mut command = without_env_values(Cli::command());
    command.build();
    command
}

/// The commands users see, each with the name its man page and reference section go by (`azml-ssh config`).
fn visible_commands(root: &clap::Command) -> Vec<(String, &clap::Command)> {
    let subs = root.get_subcommands().filter(|c| !c.is_hide_set() && c.get_name() != "help");
    std::iter::once(("azml-ssh".to_owned(), root))
        .chain(subs.map(|c| (format!("azml-ssh {}", c.get_name()), c)))
        .collect()
}

/// Writes `azml-ssh.1` and one `azml-ssh-COMMAND.1` per command into `dir`; returns the files written.
pub fn write_man_pages(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let root = command_tree();
    let mut written = Vec::new();
    for (name, command) in visible_commands(&root) {
        let page = name.replace(' ', "-");
        let command = command.clone().name(page.clone()).bin_name(name).version(env!("CARGO_PKG_VERSION"));
        let mut text = Vec::new();
        clap_mangen::Man::new(command)
            .section("1")
            .source(concat!("azml-ssh ", env!("CARGO_PKG_VERSION")))
            .render(&mut text)?;
        let path = dir.join(format!("{page}.1"));
        std::fs::write(&path, text)?;
        written.push(path);
    }
    Ok(written)
}

/// `docs/reference.md`: every command's full help, as `azml-ssh help COMMAND` prints it.
#[cfg(test)]
pub fn reference_markdown() -> String {
    let root = command_tree();
    let mut text = String::from(
        "# Command reference\n\n\
         Every command and option, as `azml-ssh help COMMAND` prints them. This page is generated from the program \
         (`cli.rs`); a test fails when it is not current (`AZML_SSH_BLESS=1 cargo test --bin azml-ssh reference` \
         rewrites it). Man pages with the same text come with each release ([Install](install.md)).\n",
    );
    for (name, command) in visible_commands(&root) {
        let mut command = command.clone().bin_name(name.clone());
        let help = command.render_long_help().to_string();
        let help: String = help.lines().map(|l| format!("{}\n", l.trim_end())).collect();
        text.push_str(&format!("\n## `{name}`\n\n```text\n{help}```\n"));
    }
    text
}

#[derive(Debug, Args)]
pub struct CodeArgs {
    /// A host configured by azml-ssh.
    pub alias: String,

    /// The folder to open (default: the login user's home; a relative path is relative to it).
    pub remote_path: Option<String>,

    /// The VS Code-compatible command to run (code, code-insiders, cursor, ...).
    #[arg(long, value_name = "CMD", default_value = "code")]
    pub editor: String,

    #[command(flatten)]
    pub ssh_config: SshConfigArg,

    /// Print the editor command instead of running it.
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub start: StartWaitArgs,

    #[command(flatten)]
    pub azure: AzureArgs,
}

/// How `jupyter` and `forward` reach the instance: with the user's own ssh, once it runs.
#[derive(Debug, Args)]
pub struct OverSshArgs {
    #[command(flatten)]
    pub ssh_config: SshConfigArg,

    #[command(flatten)]
    pub start: StartWaitArgs,
}

/// How long `proxy`, `code`, `jupyter` and `forward` wait for a stopped instance they start.
#[derive(Debug, Args)]
pub struct StartWaitArgs {
    /// How long to wait for a starting instance to run (e.g. 10m, 600).
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = text::parse_duration)]
    pub start_timeout: Duration,
}

impl StartWaitArgs {
    fn limit(&self) -> Limit {
        Limit { duration: self.start_timeout, budget: Budget::Start }
    }
}

#[derive(Debug, Args)]
pub struct JupyterArgs {
    /// A host configured by azml-ssh.
    pub alias: String,

    /// The local port (default: the remote one, or the next free one).
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub local_port: Option<u16>,

    /// Also open the URL in a browser.
    #[arg(long)]
    pub open: bool,

    #[command(flatten)]
    pub ssh: OverSshArgs,

    #[command(flatten)]
    pub azure: AzureArgs,
}

#[derive(Debug, Args)]
pub struct ForwardArgs {
    /// A host configured by azml-ssh.
    pub alias: String,

    /// A port on the instance, and the local port to reach it on (default: the same one, or the next free one).
    #[arg(value_name = "PORT[:LOCAL_PORT]", required = true)]
    pub ports: Vec<PortSpec>,

    #[command(flatten)]
    pub ssh: OverSshArgs,

    #[command(flatten)]
    pub azure: AzureArgs,
}

impl ForwardArgs {
    pub fn options(&self) -> ForwardOptions {
        ForwardOptions {
            alias: self.alias.clone(),
            ports: self.ports.clone(),
            ssh_config: self.ssh.ssh_config.path.clone(),
            start_wait: self.ssh.start.limit(),
        }
    }
}

impl CodeArgs {
    pub fn options(&self) -> CodeOptions {
        CodeOptions {
            alias: self.alias.clone(),
            remote_path: self.remote_path.clone(),
            editor: self.editor.clone(),
            ssh_config: self.ssh_config.path.clone(),
            dry_run: self.dry_run,
            start_wait: self.start.limit(),
        }
    }
}

impl JupyterArgs {
    pub fn options(&self) -> JupyterOptions {
        JupyterOptions {
            alias: self.alias.clone(),
            local_port: self.local_port,
            open: self.open,
            ssh_config: self.ssh.ssh_config.path.clone(),
            start_wait: self.ssh.start.limit(),
        }
    }
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// A configured host alias (default: every configured host).
    pub alias: Option<String>,

    /// Print JSON instead of a checklist.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub ssh_config: SshConfigArg,

    /// Check the instance itself, over ssh (read-only): what breaks VS Code's server there — no outbound
    /// internet, noisy or shell-switching start-up files, a full disk, half-downloaded servers.
    #[arg(long, value_name = "ALIAS", conflicts_with = "alias")]
    pub remote: Option<String>,

    #[command(flatten)]
    pub azure: AzureArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// A configured host alias or a compute resource ID (default: every configured host).
    #[arg(value_name = "ALIAS|RESOURCE_ID", allow_hyphen_values = true)]
    pub target: Option<String>,

    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub azure: AzureArgs,
}

#[derive(Debug, Args)]
pub struct JobsArgs {
    /// Only the jobs of workspaces of this name.
    #[arg(long, value_name = "NAME")]
    pub workspace: Option<String>,

    /// Everyone's jobs, not only yours.
    #[arg(long)]
    pub all: bool,

    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub azure: AzureArgs,
}

impl JobsArgs {
    pub fn options(&self) -> JobsOptions {
        JobsOptions { workspace: self.workspace.clone(), all: self.all, json: self.json }
    }
}

#[derive(Debug, Args)]
pub struct IdleArgs {
    /// A configured host alias or a compute resource ID.
    #[arg(value_name = "ALIAS|RESOURCE_ID", allow_hyphen_values = true)]
    pub target: String,

    /// How long without activity before Azure stops the instance: 30m, 2h, 1h30m, 1d (15m to 3d), or off.
    #[arg(value_name = "TIME|off")]
    pub value: String,

    /// Print the setting Azure reports afterwards as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub azure: AzureArgs,
}

#[derive(Debug, Args)]
pub struct LifecycleArgs {
    /// A configured host alias or a compute resource ID.
    #[arg(value_name = "ALIAS|RESOURCE_ID", allow_hyphen_values = true)]
    pub target: String,

    /// Wait until the operation has finished.
    #[arg(long)]
    pub wait: bool,

    /// With --wait, give up after this long (e.g. 10m).
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = text::parse_duration)]
    pub wait_timeout: Duration,

    #[command(flatten)]
    pub azure: AzureArgs,
}

/// Where the ssh configuration lives and how it is written.
#[derive(Debug, Args)]
pub struct WriteArgs {
    #[command(flatten)]
    pub ssh_config: SshConfigArg,

    /// Show what would change, as a unified diff, and write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Per-host settings.
#[derive(Debug, Args)]
pub struct HostArgs {
    /// The login user (default: the instance's admin user, normally azureuser).
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,

    /// The private key to log in with (it must not be readable by others: chmod 600).
    #[arg(long, value_name = "FILE")]
    pub identity_file: Option<PathBuf>,

    /// An extra ssh option for the host, e.g. --ssh-option LocalForward="8888 localhost:8888" (repeatable).
    #[arg(long = "ssh-option", value_name = "KEY=VALUE")]
    pub ssh_options: Vec<String>,

    /// The azml-ssh program to write into ProxyCommand (default: this one, as found on PATH).
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Search only this subscription (repeatable; default: every subscription you can see).
    #[arg(long = "subscription", value_name = "ID")]
    pub subscriptions: Vec<String>,

    /// Search only this resource group.
    #[arg(long, value_name = "GROUP")]
    pub resource_group: Option<String>,

    /// Search only workspaces with this name.
    #[arg(long, value_name = "NAME")]
    pub workspace: Option<String>,

    /// Include instances assigned to other users, not only yours.
    #[arg(long)]
    pub all: bool,

    /// Put this before each compute name to make its host alias.
    #[arg(long, value_name = "PREFIX", default_value = "")]
    pub prefix: String,

    /// Take out the Include line and azml-ssh's file, leaving ~/.ssh/config as it was.
    #[arg(long)]
    pub remove: bool,

    /// Exit 0 even when some subscriptions or workspaces could not be listed (their hosts are kept either way).
    #[arg(long)]
    pub keep_going: bool,

    /// Also write the wildcard host `Host *.SUFFIX`, so `ssh NAME.SUFFIX` or `ssh NAME.WORKSPACE.SUFFIX` reaches an
    /// instance created since [default: azml, or what the last run chose].
    #[arg(long, value_name = "SUFFIX", conflicts_with = "no_wildcard")]
    pub wildcard: Option<Suffix>,

    /// Write no wildcard host (and keep it off in later runs, until --wildcard).
    #[arg(long)]
    pub no_wildcard: bool,

    #[command(flatten)]
    pub host: HostArgs,

    #[command(flatten)]
    pub write: WriteArgs,

    #[command(flatten)]
    pub azure: AzureArgs,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The host name to use with ssh, e.g. azmlci1.
    pub alias: String,

    /// Use the alias even if your own ssh config already has a `Host` of that name (azml-ssh's comes first).
    #[arg(long)]
    pub force: bool,

    /// The compute instance's full ARM resource ID.
    #[arg(value_name = "RESOURCE_ID", allow_hyphen_values = true)]
    pub resource_id: String,

    #[command(flatten)]
    pub host: HostArgs,

    #[command(flatten)]
    pub write: WriteArgs,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// The host to remove.
    pub alias: String,

    #[command(flatten)]
    pub write: WriteArgs,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub ssh_config: SshConfigArg,
}

/// The user's ssh config: the one that includes azml-ssh's file, and the one `jupyter` and `forward` run ssh with.
#[derive(Debug, Args)]
pub struct SshConfigArg {
    /// The ssh config that includes azml-ssh's file (ssh runs with -F FILE where azml-ssh runs ssh)
    /// [default: ~/.ssh/config].
    #[arg(long = "ssh-config", value_name = "FILE")]
    pub path: Option<PathBuf>,
}

/// How to reach Azure; shared by every command that talks to it.
#[derive(Debug, Args)]
pub struct AzureArgs {
    /// The Azure cloud (the ARM URL can be overridden with AZML_SSH_ARM_ENDPOINT).
    #[arg(long, default_value = Cloud::AzureCloud.name(), value_parser = named(&Cloud::ALL, Cloud::name))]
    pub cloud: Cloud,

    /// Which credential to use: `env` a service principal (AZURE_TENANT_ID, AZURE_CLIENT_ID,
    /// AZURE_CLIENT_SECRET), `workload-identity` (AZURE_FEDERATED_TOKEN_FILE), `cli` the Azure CLI's login, `azd`
    /// the Azure Developer CLI's, `managed-identity` the Azure machine's own; `auto` tries the first four in that
    /// order. Managed identity is used only when chosen here.
    #[arg(long, env = AUTH_ENV, default_value = AuthMethod::Auto.name(),
          value_parser = named(&AuthMethod::ALL, AuthMethod::name))]
    pub auth: AuthMethod,

    /// Give up on Azure (sign-in and lookup, retries included) after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// The compute instance's full ARM resource ID:
    /// /subscriptions/<guid>/resourceGroups/<rg>/providers/Microsoft.MachineLearningServices/workspaces/<ws>/computes/<name>
    /// — or, with --wildcard, the host name ssh was given (NAME.SUFFIX or NAME.WORKSPACE.SUFFIX).
    #[arg(value_name = "COMPUTE_RESOURCE_ID", allow_hyphen_values = true)]
    pub resource_id: String,

    /// Find the instance by the host name ssh was given (`%n`), which ends in .SUFFIX: what the wildcard host
    /// `Host *.SUFFIX` runs.
    #[arg(long, value_name = "SUFFIX", conflicts_with = "relay_gateway")]
    pub wildcard: Option<Suffix>,

    // An endpoint only changes when the instance is stopped and started again, and a wrong one costs a failed
    // connect plus a fresh lookup. An hour covers the bursts of connections VS Code, scp and git make, while a
    // stale address is not tried for long.
    /// Use a cached endpoint younger than this without asking Azure (e.g. 90s, 15m, 1h; 0 disables the cache).
    #[arg(long, value_name = "AGE", env = MAX_AGE_ENV, default_value = "1h", value_parser = text::parse_duration)]
    pub cache_max_age: Duration,

    /// How to reach the instance: directly when it has public SSH and a public IP, else through the Azure ML
    /// WebSocket tunnel (auto); or force one.
    #[arg(long, default_value = Transport::Auto.name(), value_parser = named(&Transport::ALL, Transport::name))]
    pub transport: Transport,

    /// Hand ssh the connected socket and exit (for `ProxyUseFdpass yes`): nothing relays the session.
    #[arg(long)]
    pub fdpass: bool,

    /// With --transport auto: give a direct connection this long, then use the tunnel (over port 443) instead —
    /// for networks whose firewall blocks the instance's SSH port.
    #[arg(long, value_name = "DURATION", env = DIRECT_TIMEOUT_ENV, default_value = "3s", value_parser = text::parse_duration)]
    pub direct_timeout: Duration,

    /// Internal: relay stdin/stdout through this tunnel gateway (started by --fdpass for tunnel connections).
    #[arg(long, value_name = "HOST:PORT", hide = true)]
    pub relay_gateway: Option<String>,

    /// Fail instead of starting a stopped instance.
    #[arg(long)]
    pub no_start: bool,

    #[command(flatten)]
    pub start: StartWaitArgs,

    #[command(flatten)]
    pub azure: AzureArgs,
}

/// The value parser of an option whose values are a library type's names (`--cloud`, `--auth`, `--transport`):
/// clap lists and checks the names, and the name given is turned back into the value.
fn named<T: Copy + Send + Sync + 'static>(
    all: &'static [T],
    name: fn(T) -> &'static str,
) -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(all.iter().map(|value| name(*value))).map(move |given| {
        let found = all.iter().copied().find(|value| name(*value) == given);
        found.expect("clap lets through only the names it was given")
    })
}

impl AzureArgs {
    pub fn options(&self) -> AzureOptions {
        AzureOptions { cloud: self.cloud, auth: self.auth, timeout: Duration::from_secs(self.timeout) }
    }
}

impl WriteArgs {
    pub fn options(&self, binary: Option<&Path>) -> WriteOptions {
        WriteOptions {
            ssh_config: self.ssh_config.path.clone(),
            binary: binary.map(Path::to_owned),
            dry_run: self.dry_run,
            force: false,
        }
    }
}

impl HostArgs {
    pub fn settings(&self) -> HostSettings {
        HostSettings {
            user: self.user.clone(),
            identity_file: self.identity_file.clone(),
            ssh_options: self.ssh_options.clone(),
        }
    }
}

impl ConfigArgs {
    pub fn discover(&self) -> Discover {
        let wildcard = match (&self.wildcard, self.no_wildcard) {
            (_, true) => WildcardChoice::Off,
            (Some(suffix), false) => WildcardChoice::Suffix(suffix.clone()),
            (None, false) => WildcardChoice::Keep,
        };
        Discover {
            subscriptions: self.subscriptions.clone(),
            resource_group: self.resource_group.clone(),
            workspace: self.workspace.clone(),
            all: self.all,
            prefix: self.prefix.clone(),
            keep_going: self.keep_going,
            wildcard,
        }
    }
}

impl LifecycleArgs {
    pub fn change(&self) -> StateChange {
        StateChange { target: self.target.clone(), wait: self.wait.then_some(self.wait_timeout) }
    }
}

impl ProxyArgs {
    pub fn options(&self) -> ProxyOptions {
        ProxyOptions {
            azure: self.azure.options(),
            cache_max_age: self.cache_max_age,
            transport: self.transport,
            fdpass: self.fdpass,
            direct_timeout: self.direct_timeout,
            start: StartOptions {
                allow_start: !self.no_start,
                wait: self.start.limit(),
                state: StateDir::open_default(),
            },
            detached_relay: detached_relay_command,
        }
    }

    /// The ProxyCommand, or (with the internal `--relay-gateway`) the detached relay of one.
    pub fn role(&self) -> Role {
        match (&self.relay_gateway, &self.wildcard) {
            (Some(gateway), _) => Role::DetachedRelay { gateway: gateway.clone(), compute: self.resource_id.clone() },
            (None, Some(suffix)) => Role::ByName { host: self.resource_id.clone(), suffix: suffix.clone() },
            (None, None) => Role::ProxyCommand(self.resource_id.clone()),
        }
    }
}

/// Starts the detached relay of a tunnel handed over under `--fdpass`: this program again, told in its own flags
/// (the ones [`ProxyArgs`] reads back) what the library's [`DetachedRelay`] says.
fn detached_relay_command(child: &DetachedRelay) -> std::io::Result<Process> {
    let mut command = Process::new(std::env::current_exe()?);
    command.args(detached_relay_args(child));
    Ok(command)
}

/// `proxy --relay-gateway HOST:PORT --auth NAME --cloud NAME --timeout SECONDS ID`.
fn detached_relay_args(child: &DetachedRelay) -> Vec<String> {
    let flags = [
        ("--relay-gateway", format!("{}:{}", child.gateway.host, child.gateway.port)),
        ("--auth", child.auth.name().to_owned()),
        ("--cloud", child.cloud.name().to_owned()),
        ("--timeout", child.timeout.as_secs().to_string()),
    ];
    let flags = flags.into_iter().flat_map(|(flag, value)| [flag.to_owned(), value]);
    std::iter::once("proxy".to_owned()).chain(flags).chain([child.target.to_string()]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(path: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
    }

    /// The README and every page of `docs/` (not the built book).
    fn doc_pages() -> Vec<PathBuf> {
        let mut pages = vec![repo("README.md")];
        let mut dirs = vec![repo("docs")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
                match entry.path() {
                    p if p.is_dir() && !p.ends_with("book") => dirs.push(p),
                    p if p.extension().is_some_and(|e| e == "md") => pages.push(p),
                    _ => {}
                }
            }
        }
        pages
    }

    /// `docs/reference.md` is what the program says about itself; `AZML_SSH_BLESS=1` rewrites it.
    #[test]
    fn the_reference_is_current() {
        let path = repo("docs/reference.md");
        let wanted = reference_markdown();
        if std::env::var_os("AZML_SSH_BLESS").is_some() {
            std::fs::write(&path, &wanted).unwrap();
        }
        let written = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            written == wanted,
            "docs/reference.md is not current: run `AZML_SSH_BLESS=1 cargo test --bin azml-ssh reference`"
        );
    }

    #[test]
    fn a_man_page_is_written_for_the_program_and_every_command() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_man_pages(dir.path()).unwrap();
        let root = command_tree();
        assert_eq!(written.len(), visible_commands(&root).len());
        for name in ["azml-ssh.1", "azml-ssh-config.1", "azml-ssh-jobs.1", "azml-ssh-proxy.1"] {
            let page = std::fs::read_to_string(dir.path().join(name)).unwrap();
            let title = name.trim_end_matches(".1");
            assert!(page.contains(&format!(".TH {title} 1")), "{name}:\n{page}");
        }
        let jobs = std::fs::read_to_string(dir.path().join("azml-ssh-jobs.1")).unwrap();
        assert!(jobs.contains(r"azml\-ssh jobs \-\-workspace ws1 \-\-json"), "the examples are in the page:\n{jobs}");
    }

    /// Every `azml-ssh …` line of the docs' shell examples, and of every command's `--help` examples, parses with
    /// the real command line: an option renamed without its examples fails here.
    #[test]
    fn every_example_in_the_docs_and_the_help_parses() {
        let mut examples: Vec<(String, String)> = Vec::new();
        for file in doc_pages().iter().chain([&repo("CONTRIBUTING.md")]) {
            let text = std::fs::read_to_string(file).unwrap();
            examples.extend(shell_examples(&text).into_iter().map(|e| (file.display().to_string(), e)));
        }
        let root = command_tree();
        for (name, command) in visible_commands(&root) {
            examples.extend(help_examples(command).into_iter().map(|l| (format!("`{name} --help`"), l)));
        }
        assert!(examples.len() > 40, "only {} examples found", examples.len());
        for (source, line) in examples {
            let words = words_of(&line);
            if let Err(e) = Cli::try_parse_from(&words) {
                panic!("{source}: `{line}` does not parse: {e}");
            }
        }
    }

    /// Every command's `--help` examples are the docs' own: each appears, word for word, in a page of the docs other
    /// than the generated reference (or the README).
    #[test]
    fn every_help_example_is_in_the_docs() {
        let pages = doc_pages().into_iter().filter(|p| !p.ends_with("reference.md"));
        let docs: String = pages.map(|p| std::fs::read_to_string(p).unwrap()).collect::<Vec<_>>().join("\n");
        let squeeze = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
        let docs_lines: Vec<String> = docs.lines().map(|l| squeeze(&command_part(l.trim()))).collect();
        let root = command_tree();
        for (name, command) in visible_commands(&root) {
            for line in help_examples(command) {
                let example = squeeze(&line);
                assert!(
                    docs_lines.iter().any(|d| d.contains(&example)),
                    "`{name} --help` shows `{example}`, which no page of the docs does"
                );
            }
        }
    }

    /// A command's `--help` examples: its after-help lines that start with `azml-ssh` (after a label such as
    /// `bash:`), continuation lines joined, without comments or redirections.
    fn help_examples(command: &clap::Command) -> Vec<String> {
        let help = command.get_after_help().map(|h| h.to_string()).unwrap_or_default().replace("\\\n", " ");
        let lines = help.lines().filter_map(|l| l.find("azml-ssh ").map(|at| (l, at)));
        let lines = lines.filter(|(l, at)| l[..*at].trim().is_empty() || l[..*at].trim_end().ends_with(':'));
        lines.map(|(l, at)| command_part(&l[at..])).collect()
    }

    /// The `azml-ssh …` command lines of a Markdown text's `sh` blocks, without comments or what follows a pipe or
    /// a redirection.
    fn shell_examples(text: &str) -> Vec<String> {
        let mut examples = Vec::new();
        let (mut in_fence, mut in_sh) = (false, false);
        for line in text.lines() {
            match line.trim_start().strip_prefix("```") {
                Some(lang) => {
                    (in_fence, in_sh) =
                        (!in_fence, !in_fence && matches!(lang.trim(), "sh" | "console" | "bash" | "powershell"))
                }
                // In a shell block every `azml-ssh` line; in any other block the ones after a `$ ` prompt.
                None if in_fence => {
                    let prompted = line.trim().strip_prefix("$ ").or_else(|| line.trim().strip_prefix("PS> "));
                    let line = prompted.or(in_sh.then_some(line.trim())).unwrap_or_default();
                    if line.starts_with("azml-ssh ") {
                        examples.push(command_part(line));
                    }
                }
                None => {}
            }
        }
        examples
    }

    /// An example line without its comment, or what follows a pipe, a redirection or another command.
    fn command_part(line: &str) -> String {
        let ends = [" #", "|", ">", ";", "&&"];
        let end = ends.iter().filter_map(|e| line.find(e)).min().unwrap_or(line.len());
        line[..end].trim().to_owned()
    }

    /// Words as a POSIX shell splits a line without expansions: quotes kept together.
    fn words_of(line: &str) -> Vec<String> {
        let (mut words, mut word, mut quote, mut started) = (Vec::new(), String::new(), None, false);
        for c in line.chars() {
            match (quote, c) {
                (None, '\'' | '"') => (quote, started) = (Some(c), true),
                (Some(q), c) if c == q => quote = None,
                (None, c) if c.is_whitespace() => {
                    if started {
                        words.push(std::mem::take(&mut word));
                    }
                    started = false;
                }
                (_, c) => (word, started) = (format!("{word}{c}"), true),
            }
        }
        if started {
            words.push(word);
        }
        words
    }

    /// The detached relay's command line, parsed by the real [`Cli`] and read as the relay reads it, says what the
    /// library asked for: every auth method and cloud, a gateway and port, the timeout.
    #[test]
    fn a_detached_relay_survives_its_command_line() {
        use azml_ssh::connect::target::Target;
        use azml_ssh::transport::tunnel::Gateway;

        let ws = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg1/providers/Microsoft.MachineLearningServices/workspaces/ws1";
        let targets = [format!("{ws}/computes/ci1"), format!("{ws}/jobs/Train_1/nodes/1")];
        for (target, auth, cloud) in targets
            .iter()
            .flat_map(|t| AuthMethod::ALL.into_iter().flat_map(move |a| Cloud::ALL.into_iter().map(move |c| (t, a, c))))
        {
            let target: Target = target.parse().unwrap();
            let kind = match target {
                Target::Instance(_) => "instances",
                Target::JobNode(_) => "nodes",
            };
            let domain = match cloud {
                Cloud::AzureCloud => format!("{kind}.azureml.ms"),
                Cloud::AzureChinaCloud => format!("{kind}.azureml.cn"),
                Cloud::AzureUsGovernment => format!("{kind}.azureml.us"),
            };
            let gateway = Gateway { host: format!("ci1.region1.{domain}"), port: 8443, service: target.service() };
            let child = DetachedRelay { target, gateway, auth, cloud, timeout: Duration::from_secs(45) };
            let argv = std::iter::once("azml-ssh".to_owned()).chain(detached_relay_args(&child));
            let Command::Proxy(args) = Cli::try_parse_from(argv).unwrap().command else { panic!("not proxy") };
            let options = args.options();
            let Role::DetachedRelay { gateway, compute } = args.role() else { panic!("not a relay") };
            let (target, gateway) = azml_ssh::cmd::proxy::read_detached_relay(&gateway, &compute, &options).unwrap();
            let back = DetachedRelay {
                target,
                gateway: gateway.gateway().clone(),
                auth: options.azure.auth,
                cloud: options.azure.cloud,
                timeout: options.azure.timeout,
            };
            assert_eq!(back, child);
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    /// The library's messages name the fix on the command line (`--prefix`, `` `azml-ssh start NAME` ``), though it
    /// is this file that defines it. So every flag and command a message or a written file names must exist here:
    /// renaming one without the messages fails this test. Flags of other programs a message names are listed.
    #[test]
    fn every_flag_and_command_the_code_names_exists() {
        use clap::CommandFactory;
        use std::collections::BTreeSet;
        // Other programs' flags: `az login --tenant`, `azd auth login --tenant-id`, `cargo install --locked --path`
        // and `--features`, `git config --get`, `jupyter … list --json` and `--no-browser`, `code --folder-uri`.
        const FOREIGN: &[&str] =
            &["tenant", "tenant-id", "locked", "path", "features", "get", "json", "no-browser", "folder-uri"];
        fn walk(command: &clap::Command, flags: &mut BTreeSet<String>, commands: &mut BTreeSet<String>) {
            flags.extend(command.get_arguments().filter_map(|a| a.get_long().map(str::to_owned)));
            for sub in command.get_subcommands() {
                commands.insert(sub.get_name().to_owned());
                walk(sub, flags, commands);
            }
        }
        let (mut flags, mut commands) = (BTreeSet::from(["help".to_owned(), "version".to_owned()]), BTreeSet::new());
        walk(&Cli::command(), &mut flags, &mut commands);

        let mut unknown = Vec::new();
        let mut files = vec![std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))];
        while let Some(path) = files.pop() {
            if path.is_dir() {
                files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // The shipped code: up to its unit tests.
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            for line in code.lines().filter(|l| l.contains('"') && !l.trim_start().starts_with("//")) {
                let chars: Vec<char> = line.chars().collect();
                for (at, _) in line.match_indices("--") {
                    let at = line[..at].chars().count();
                    let starts = at == 0 || matches!(chars[at - 1], ' ' | '`' | '(' | '"');
                    let word: String =
                        chars[at + 2..].iter().take_while(|c| c.is_ascii_lowercase() || **c == '-').collect();
                    let named = word.starts_with(|c: char| c.is_ascii_lowercase());
                    if starts && named && !flags.contains(&word) && !FOREIGN.contains(&word.as_str()) {
                        unknown.push(format!("{}: --{word}", path.display()));
                    }
                }
                for (at, _) in line.match_indices("`azml-ssh ") {
                    let word: String = line[at + 10..].chars().take_while(char::is_ascii_lowercase).collect();
                    if !commands.contains(&word) {
                        unknown.push(format!("{}: `azml-ssh {word}`", path.display()));
                    }
                }
            }
        }
        assert!(unknown.is_empty(), "named but not on the command line:\n{}", unknown.join("\n"));
        assert!(flags.contains("fdpass") && commands.contains("start"), "the walk finds what is there");
    }
}
