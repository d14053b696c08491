//! `azml-ssh proxy`: wires the ProxyCommand together — ssh's stream taken over first, progress lines to stderr —
//! and runs [`crate::connect::proxy`] on a runtime of its own.

use std::io::Write;

use crate::azure::resource_id::ComputeId;
use crate::cmd::progress::Renderer;
use crate::cmd::{Error, UsageError, block_on};
use crate::connect::job::JobQuery;
use crate::connect::names::NameQuery;
use crate::connect::proxy::{self, Event, ProxyError, ProxyOptions, SshSide};
use crate::connect::target::Target;
use crate::sshconf::store::{self, ConfigError, Layout};
use crate::sshconf::wildcard::Suffix;
use crate::transport::stdio;
use crate::transport::tunnel::{AllowedGateway, Gateway};

/// Which part this process plays: the ProxyCommand ssh started for an instance (by ID), or the detached relay
/// such a ProxyCommand started under `--fdpass` for a tunnel, given the instance's gateway, already resolved.
pub enum Role {
    /// The ProxyCommand of this compute resource ID (as written in the ssh config).
    ProxyCommand(String),
    /// The wildcard host's ProxyCommand: the instance the host name ssh was given names.
    ByName {
        /// ssh's `%n`: `NAME.SUFFIX` or `NAME.WORKSPACE.SUFFIX`.
        host: String,
        /// The wildcard host's suffix.
        suffix: Suffix,
    },
    /// The detached relay of a tunnel handed over under `--fdpass`.
    DetachedRelay {
        /// The gateway's `HOST:PORT`, from `--relay-gateway`.
        gateway: String,
        /// The compute resource ID.
        compute: String,
    },
}

/// `--relay-gateway HOST:PORT` of `target`, checked as a gateway from Azure is.
fn relay_gateway(text: &str, target: &Target, options: &ProxyOptions) -> Result<AllowedGateway, UsageError> {
    let mut gateway = Gateway::from_url(&format!("https://{text}/")).ok_or(UsageError::RelayGateway)?;
    gateway.service = target.service();
    options.azure.cloud.allow(&gateway).ok_or(UsageError::RelayGateway)
}

/// The detached relay's gateway and instance (or job node), from the text of its command line: a gateway outside
/// the cloud's domains never gets a token, whoever named it.
pub fn read_detached_relay(
    gateway: &str,
    target: &str,
    options: &ProxyOptions,
) -> Result<(Target, AllowedGateway), Error> {
    let target: Target = target.parse().map_err(UsageError::RelayTarget)?;
    let gateway = relay_gateway(gateway, &target, options)?;
    Ok((target, gateway))
}

/// Runs the proxy. Progress goes to `err` (ssh shows it in the terminal or VS Code's log); stdout belongs to the
/// SSH stream alone.
pub fn run(role: &Role, options: &ProxyOptions, err: &mut dyn Write, err_is_terminal: bool) -> Result<(), Error> {
    match role {
        Role::ProxyCommand(text) => {
            let id = Target::Instance(text.parse::<ComputeId>()?);
            with_ssh_side(&id.name(), err, err_is_terminal, |ssh| block_on(proxy::run(&id, options, ssh)))
        }
        Role::ByName { host, suffix } => by_name(host, suffix, options, err, err_is_terminal),
        Role::DetachedRelay { gateway, compute } => {
            let (target, gateway) = read_detached_relay(gateway, compute, options)?;
            with_ssh_side(&target.name(), err, err_is_terminal, |ssh| {
                block_on(proxy::run_detached_relay(&target, gateway, options, ssh))
            })
        }
    }
}

/// What a name under the wildcard suffix names.
enum Named {
    Job(JobQuery),
    Instance(NameQuery),
}

/// The wildcard host's ProxyCommand: `….job.SUFFIX` names a job's node, anything else under the suffix an
/// instance.
fn by_name(
    host: &str,
    suffix: &Suffix,
    options: &ProxyOptions,
    err: &mut dyn Write,
    err_is_terminal: bool,
) -> Result<(), Error> {
    // The wildcard block single-quotes the name for the shells that read the line; Windows' own ssh runs no shell
    // and passes the quotes on. A name never holds a `'`, so one enclosing pair is only that.
    let host = &unquoted(host);
    let named = match JobQuery::parse(host, suffix.as_str()).map_err(ProxyError::from)? {
        Some(job) => Named::Job(job),
        None => Named::Instance(NameQuery::parse(host, suffix.as_str()).map_err(ProxyError::from)?),
    };
    let layout = Layout::new(None).ok();
    if let Some(found) = layout.as_ref().and_then(|l| store::users_host_under(l, suffix, host).ok().flatten()) {
        return Err(ConfigError::WildcardShadows { host: host.clone(), found }.into());
    }
    let query = match named {
        Named::Instance(query) => query,
        Named::Job(job) => {
            return with_ssh_side(host, err, err_is_terminal, |ssh| {
                block_on(proxy::run_job_by_name(&job, options, ssh))
            });
        }
    };
    // The configured hosts count as known names too; a file that cannot be read only means fewer of them.
    let known: Vec<ComputeId> = layout
        .and_then(|layout| store::read_entries(&layout).ok())
        .map(|entries| entries.into_iter().map(|e| e.id).collect())
        .unwrap_or_default();
    with_ssh_side(host, err, err_is_terminal, |ssh| block_on(proxy::run_by_name(&query, &known, options, ssh)))
}

/// `text` without one pair of enclosing single quotes, if it has them.
fn unquoted(text: &str) -> String {
    text.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')).unwrap_or(text).to_owned()
}

/// Takes over ssh's stream and runs `work` on it.
fn with_ssh_side(
    name: &str,
    err: &mut dyn Write,
    err_is_terminal: bool,
    work: impl FnOnce(&mut SshSide<'_>) -> Result<Result<(), ProxyError>, Error>,
) -> Result<(), Error> {
    let stdio = stdio::take_stdio().map_err(ProxyError::Stdio)?;
    let mut renderer = Renderer::new(name, err, err_is_terminal, true);
    let mut report = |event: Event<'_>| match event {
        Event::Lifecycle(progress) => renderer.report(progress),
        Event::DirectUnreachable { name, address, error } => renderer.note(&format!(
            "{name} does not answer at {address} ({error}); using the Azure ML tunnel over port 443 instead, \
             and for the next connections (direct is tried again after --cache-max-age)"
        )),
        Event::WaitingForLookup { name } => {
            renderer.note(&format!("another connection is looking up {name} (or starting it); waiting for its answer"))
        }
    };
    let mut ssh = SshSide { stdio: Some(stdio), events: &mut report };
    let result = work(&mut ssh)?;
    if result.is_err() {
        // Keep ssh's end of the stream open until the process exits, which happens right after the error is
        // printed. Closing it first lets ssh see EOF, give up, and SIGHUP us before our message is written — and
        // that one line is all the user gets.
        std::mem::forget(ssh.stdio.take());
    }
    Ok(result?)
}
