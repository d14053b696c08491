//! `azml-ssh idle ALIAS 30m|2h|1h30m|off`: changes an instance's idle shutdown, then reads it back from Azure and
//! prints what Azure now says, so the line on stdout is the instance's setting, not our request.

use crate::azure::idle::{IdleRequest, IdleShutdown};
use crate::azure::session::{AzureOptions, Session};
use crate::cmd::json::IdleJson;
use crate::cmd::{Console, Error, block_on_within, target};
use crate::connect::cache::EndpointCache;
use crate::connect::endpoint;
use crate::sshconf::store::{Layout, Target};

/// What `idle --json` prints: the instance and the setting Azure reports after the change.
#[derive(Debug, serde::Serialize)]
struct IdleReadBack {
    name: String,
    resource_id: String,
    idle_shutdown: IdleJson,
}

/// `azml-ssh idle TARGET VALUE`.
pub fn idle(
    target_text: &str,
    value: &str,
    azure: &AzureOptions,
    json: bool,
    console: &mut Console,
) -> Result<(), Error> {
    // Checked before anything else: a wrong value costs no sign-in and no request.
    let request = IdleRequest::parse(value)?;
    let Target { id, .. } = target::target(&Layout::new(None)?, target_text, azure)?;
    let session = Session::new(azure, azure.deadline())?;
    let tenant = EndpointCache::open_default().and_then(|c| c.tenant(&id));
    let body = request.body();
    let instance = block_on_within(session.deadline(), "changing idle shutdown", async {
        let deadline = *session.deadline();
        let (arm, ()) = session
            .call(tenant.as_ref(), |arm| {
                let (id, body) = (id.clone(), body.clone());
                async move { arm.update_idle_shutdown(&id, &body, &deadline).await }
            })
            .await?;
        let compute = arm.get_compute(&id, &deadline).await?;
        Ok(endpoint::instance_of(&id, &compute)?)
    })?;
    let expected = match request {
        IdleRequest::After(time) => IdleShutdown::After { seconds: u64::from(time.minutes()) * 60 },
        IdleRequest::Off => IdleShutdown::Off,
    };
    if instance.idle_shutdown != expected {
        console.warn(format_args!(
            "Azure accepted the change but still reports idle shutdown {}; `azml-ssh status {}` shows it later",
            instance.idle_shutdown, target_text
        ));
    }
    if json {
        let idle_shutdown = IdleJson::from(&instance.idle_shutdown);
        return console.say_versioned(&IdleReadBack {
            name: id.compute.clone(),
            resource_id: id.to_string(),
            idle_shutdown,
        });
    }
    console.say(format_args!("{}: idle shutdown {}", id.compute, instance.idle_shutdown))
}
