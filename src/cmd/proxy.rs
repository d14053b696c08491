//! `azml-ssh proxy`: wires the ProxyCommand together — ssh's stream taken over first, progress lines to stderr —
//! and runs [`crate::connect::proxy`] on a runtime of its own.

use std::io::Write;

use crate::azure::resource_id::ComputeId;
use crate::cmd::progress::Renderer;
use crate::cmd::{Error, UsageError, block_on};
use crate::connect::proxy::{self, Event, ProxyError, ProxyOptions, Session};
use crate::transport::stdio;
use crate::transport::tunnel::{AllowedGateway, Gateway};

/// What to connect to: an instance by ID, or (internal, for `--fdpass` tunnels) the instance's gateway, already
/// resolved.
pub enum Target {
    Compute(String),
    RelayGateway { gateway: String, compute: String },
}

/// `--relay-gateway HOST:PORT`, checked as a gateway from ARM is.
fn relay_gateway(text: &str, options: &ProxyOptions) -> Result<AllowedGateway, UsageError> {
    let gateway = Gateway::from_url(&format!("https://{text}/")).ok_or(UsageError::RelayGateway)?;
    options.azure.cloud.allow(&gateway).ok_or(UsageError::RelayGateway)
}

/// The detached relay's gateway and instance, read and checked as the relay itself does: a gateway outside the
/// cloud's instance domains never gets a token, whoever named it.
pub fn relay_child_target(
    gateway: &str,
    compute: &str,
    options: &ProxyOptions,
) -> Result<(ComputeId, AllowedGateway), Error> {
    let id: ComputeId = compute.parse()?;
    Ok((id, relay_gateway(gateway, options)?))
}

/// Runs the proxy. Progress goes to `err` (ssh shows it in the terminal or VS Code's log); stdout belongs to the
/// SSH stream alone.
pub fn run(target: &Target, options: &ProxyOptions, err: &mut dyn Write, err_is_terminal: bool) -> Result<(), Error> {
    match target {
        Target::Compute(text) => {
            let id: ComputeId = text.parse()?;
            with_session(&id.compute, err, err_is_terminal, |session| block_on(proxy::run(&id, options, session)))
        }
        Target::RelayGateway { gateway, compute } => {
            let (id, gateway) = relay_child_target(gateway, compute, options)?;
            with_session(&id.compute, err, err_is_terminal, |session| {
                block_on(proxy::relay_tunnel(&id, gateway, options, session))
            })
        }
    }
}

/// Takes over ssh's stream and runs `work` on it.
fn with_session(
    name: &str,
    err: &mut dyn Write,
    err_is_terminal: bool,
    work: impl FnOnce(&mut Session<'_>) -> Result<Result<(), ProxyError>, Error>,
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
    let mut session = Session { stdio: Some(stdio), events: &mut report };
    let result = work(&mut session)?;
    if result.is_err() {
        // Keep ssh's end of the stream open until the process exits, which happens right after the error is
        // printed. Closing it first lets ssh see EOF, give up, and SIGHUP us before our message is written — and
        // that one line is all the user gets.
        std::mem::forget(session.stdio.take());
    }
    Ok(result?)
}
