//! The commands: the only code that talks to the user. Each command takes plain option structs (never clap
//! types) and a [`Console`] to write to, runs the layers below, and returns a typed [`Error`] whose Display is
//! the one line the user gets — `main` prints it, in one place.

use std::io::Write;

pub mod config;
pub mod doctor;
pub mod idle;
pub mod jobs;
pub(crate) mod json;
pub mod open;
pub(crate) mod progress;
pub mod proxy;
pub mod status;
pub(crate) mod target;

use crate::azure::arm::ArmError;
use crate::azure::discover::DiscoverError;
use crate::azure::lifecycle::LifecycleError;
use crate::azure::resource_id::InvalidComputeId;
use crate::azure::session::SessionError;
use crate::connect::endpoint::EndpointError;
use crate::connect::proxy::ProxyError;
use crate::sshconf::program::ProgramError;
use crate::sshconf::store::ConfigError;
use crate::sshconf::values::InvalidValue;
use crate::util::deadline::{Deadline, TimedOut};
use crate::util::text::{must_escape, visible};

/// Where a command writes: results to `out`, notes, warnings and progress to `err`.
pub struct Console<'a> {
    /// The command's result (stdout): what a script reads.
    pub out: &'a mut dyn Write,
    /// Notes, warnings and progress (stderr).
    pub err: &'a mut dyn Write,
    /// Whether `err` is a terminal (a spinner may then redraw a line).
    pub err_is_terminal: bool,
}

/// What is shown: each line through [`visible`], since server text reaches most of them.
fn shown(text: impl std::fmt::Display) -> String {
    text.to_string().split('\n').map(visible).collect::<Vec<_>>().join("\n")
}

impl Console<'_> {
    /// A line of the command's result. A closed stdout (`azml-ssh list | head -1`) ends the command with an error.
    fn say(&mut self, text: impl std::fmt::Display) -> Result<(), Error> {
        writeln!(self.out, "{}", shown(text)).map_err(|e| Kind::Output(e).into())
    }

    /// `body` as a `--json` output: its fields after `schema_version` (see [`json`]).
    fn say_versioned(&mut self, body: &impl serde::Serialize) -> Result<(), Error> {
        self.say_json(&json::Versioned { schema_version: json::SCHEMA_VERSION, body })
    }

    /// `value` as pretty JSON, with what [`visible`] escapes written as JSON escapes (`\u001b`, `\u202e`): the
    /// same value for a program, nothing raw for a terminal.
    fn say_json(&mut self, value: &impl serde::Serialize) -> Result<(), Error> {
        let text = serde_json::to_string_pretty(value).map_err(|e| Error::from(Kind::Output(e.into())))?;
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            // Pretty JSON's lines end in '\n'; serde escapes C0 controls inside strings, so what is left to
            // escape can only be inside a string.
            if c != '\n' && must_escape(c) {
                out.extend(c.encode_utf16(&mut [0; 2]).iter().map(|unit| format!("\\u{unit:04x}")));
            } else {
                out.push(c);
            }
        }
        writeln!(self.out, "{out}").map_err(|e| Kind::Output(e).into())
    }

    fn note(&mut self, text: impl std::fmt::Display) {
        // Nothing useful can be done when stderr itself is gone.
        let _ = writeln!(self.err, "azml-ssh: note: {}", shown(text));
    }

    /// A line for the user that is neither a note nor a warning: what is about to happen to their instance.
    fn tell(&mut self, text: impl std::fmt::Display) {
        let _ = writeln!(self.err, "azml-ssh: {}", shown(text));
    }

    fn warn(&mut self, text: impl std::fmt::Display) {
        let _ = writeln!(self.err, "azml-ssh: warning: {}", shown(text));
    }
}

/// How a command that ran to the end went: `doctor` reports failed checks in its own output and only needs a
/// non-zero exit.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Everything it was asked to do was done.
    Success,
    /// `doctor` found a required item failing (and has said which).
    ChecksFailed,
}

/// Why a command failed. Its Display is the one line the user gets, escaped by [`visible`] (it quotes servers);
/// what it is made of stays inside the crate, so the error types of the layers below are not part of the
/// library's interface.
#[derive(Debug)]
pub struct Error(Kind);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&visible(&self.0.to_string()))
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.0)
    }
}

impl<E> From<E> for Error
where
    Kind: From<E>,
{
    fn from(error: E) -> Self {
        Error(Kind::from(error))
    }
}

impl Error {
    /// Output that could not be written (a file the binary writes itself, such as the man pages).
    pub fn output(error: std::io::Error) -> Error {
        Kind::Output(error).into()
    }

    /// Whether the command's output went to a reader that has gone (`azml-ssh list | head -1`): not a failure.
    pub fn is_closed_output(&self) -> bool {
        matches!(&self.0, Kind::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

/// What a command failure is made of.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Kind {
    #[error(transparent)]
    ComputeId(#[from] InvalidComputeId),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Arm(#[from] ArmError),
    #[error(transparent)]
    Discover(#[from] DiscoverError),
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    #[error(transparent)]
    Proxy(#[from] ProxyError),
    #[error(transparent)]
    Resolve(#[from] crate::connect::resolve::ResolveError),
    #[error(transparent)]
    Name(#[from] crate::connect::names::NameError),
    #[error(transparent)]
    Job(#[from] crate::connect::job::JobConnectError),
    #[error(transparent)]
    Work(#[from] crate::cmd::open::plan::OpenError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Invalid(#[from] InvalidValue),
    #[error(transparent)]
    Program(#[from] ProgramError),
    #[error(transparent)]
    Usage(#[from] UsageError),
    #[error(transparent)]
    UpdateUrl(#[from] crate::cmd::doctor::remote_report::BadUpdateUrl),
    #[error(transparent)]
    TimedOut(#[from] TimedOut),
    #[error(transparent)]
    IdleValue(#[from] crate::azure::idle::IdleValueError),
    #[error(
        "{failed} list(s) could not be read (see the notes above); their hosts were kept as they were: run again, or pass --keep-going to accept a partial result"
    )]
    Incomplete { failed: usize },
    #[error("{failed} of {total} instance(s) could not be looked up; see the output for why and what to do")]
    LookupsFailed { failed: usize, total: usize },
    #[error("cannot start the async runtime: {0}; the system is out of threads or memory: try again")]
    Runtime(std::io::Error),
    #[error("cannot write the output: {0}; check where stdout goes (a full disk, a closed pipe)")]
    Output(std::io::Error),
}

/// Arguments that are well-formed for the command line but wrong for the command.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UsageError {
    #[error("--subscription {0:?} is not a subscription ID: give its GUID (`az account list` shows them)")]
    Subscription(String),
    #[error("--resource-group {0:?} is not a valid resource group name")]
    ResourceGroup(String),
    #[error("--workspace {0:?} is not a valid workspace name")]
    Workspace(String),
    #[error("--prefix {0:?} must be letters, digits, '-', '_' or '.', not starting with '-' or '.'")]
    Prefix(String),
    #[error("no hosts are configured yet; name one (`azml-ssh status <resource-id>`) or run `azml-ssh config`")]
    NoHosts,
    #[error("--relay-gateway takes HOST:PORT of an Azure ML gateway")]
    RelayGateway,
    #[error(
        "the detached relay's target is not usable: {0}; azml-ssh starts that relay itself: run `azml-ssh config` to rewrite the ProxyCommand"
    )]
    RelayTarget(crate::connect::target::InvalidTarget),
}

/// Runs `future` on the command's runtime.
fn block_on<F: std::future::Future>(future: F) -> Result<F::Output, Error> {
    crate::util::runtime::block_on(future).map_err(|e| Kind::Runtime(e).into())
}

/// Runs `future` on the command's runtime within `deadline`. The calls inside end by the same deadline and say
/// which one ran out; this is the net under them, so no command outlives its budget.
fn block_on_within<T, F>(deadline: &Deadline, what: &'static str, future: F) -> Result<T, Error>
where
    F: std::future::Future<Output = Result<T, Error>>,
{
    // The timer is made inside the runtime: outside it there is no clock to attach it to.
    block_on(async move { deadline.net(what, future).await })??
}
