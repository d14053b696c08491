//! A small Azure Resource Manager client: one base URL, one bearer token, and the retry rules ARM documents
//! (429 with `Retry-After`; 5xx and connection failures with capped exponential backoff and jitter), all inside a
//! deadline so a ProxyCommand never hangs.

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;

use crate::azure::cloud::ApiBase;
use crate::azure::compute::ComputeResource;
use crate::azure::credential::{TenantId, Token};
use crate::azure::http::{self, ClientError};
use crate::azure::resource_id::ComputeId;
use crate::util::deadline::{Deadline, TimedOut};
use crate::util::text::{error_chain, one_line_max};

pub(crate) const API_VERSION: &str = "2025-12-01";

/// Five tries with backoff 0.4, 0.8, 1.6 and 3.2 s (each jittered down to half) ride out a short ARM hiccup and
/// still give up within about ten seconds — what a user staring at ssh will wait for.
const MAX_TRIES: u32 = 5;
const FIRST_BACKOFF: Duration = Duration::from_millis(400);
const MAX_BACKOFF: Duration = Duration::from_secs(4);
/// No ARM page comes near this; a server sending more is broken or hostile, and memory stays bounded.
const MAX_BODY: usize = 8 << 20;
/// A `Retry-After` longer than this is treated as this (a day): the wait is never taken anyway, since it passes
/// any deadline, but the arithmetic on it must not overflow.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(86_400);

/// `error.code` and `error.message` from an ARM error body, rendered as ": Code: message" (or nothing).
#[derive(Debug, Default)]
pub(crate) struct Detail {
    pub code: Option<String>,
    pub message: Option<String>,
}

impl Detail {
    fn from_body(body: &str) -> Self {
        #[derive(serde::Deserialize)]
        struct Envelope {
            error: Inner,
        }
        #[derive(serde::Deserialize)]
        struct Inner {
            code: Option<String>,
            message: Option<String>,
        }
        match serde_json::from_str::<Envelope>(body) {
            Ok(Envelope { error }) => Detail { code: error.code, message: error.message },
            Err(_) if body.trim().is_empty() => Detail::default(),
            Err(_) => Detail { code: None, message: Some(body.to_owned()) },
        }
    }
}

impl fmt::Display for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(code) = self.code.as_deref().filter(|c| !c.is_empty()) {
            write!(f, " {}", one_line_max(code, 80))?;
        }
        if let Some(message) = self.message.as_deref().filter(|m| !m.trim().is_empty()) {
            write!(f, ": {}", one_line_max(message, 300))?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ArmError {
    #[error(
        "Azure Resource Manager rejected the sign-in trying to {verb} {what} (HTTP 401{detail}); run `az login` again"
    )]
    Unauthorized { verb: Verb, what: String, detail: Detail },
    /// The token is from another tenant than the resource's; the challenge names the right one.
    #[error(
        "{what} belongs to tenant {tenant}, not the signed-in one (HTTP 401{detail}); run `az login --tenant {tenant}`"
    )]
    WrongTenant { what: String, tenant: TenantId, detail: Detail },
    #[error("no permission to {verb} {what} (HTTP 403{detail}); {}", forbidden_remedy(*verb))]
    Forbidden { verb: Verb, what: String, detail: Detail },
    #[error(
        "cannot {verb} {what} now: another operation is in progress (HTTP 409{detail}); wait for it to finish (`azml-ssh status` shows the state) and try again"
    )]
    Conflict { verb: Verb, what: String, detail: Detail },
    #[error(
        "{what} was not found (HTTP 404{detail}); check the subscription, resource group, workspace and compute names"
    )]
    NotFound { what: String, detail: Detail },
    #[error(
        "Azure Resource Manager kept throttling requests for {what} (HTTP 429{detail}); try again in {retry_after} s"
    )]
    Throttled { what: String, detail: Detail, retry_after: u64 },
    #[error(
        "Azure Resource Manager failed while reading {what} after {tries} tries (HTTP {status}{detail}); try again later"
    )]
    Server { what: String, status: u16, detail: Detail, tries: u32 },
    #[error(
        "Azure Resource Manager refused the request for {what} (HTTP {status}{detail}); if it persists, run with -v and report it with the output"
    )]
    Rejected { what: String, status: u16, detail: Detail },
    #[error("cannot reach {} at {base} after {tries} tries: {reason}; check the network, and HTTPS_PROXY if you are behind a proxy", service.name())]
    Unreachable { service: Service, base: String, tries: u32, reason: String },
    #[error(
        "Azure sent an unreadable answer for {what}: {reason}; try again, and if it persists run with -v and report it"
    )]
    BadResponse { what: String, reason: String },
    #[error(transparent)]
    TimedOut(#[from] TimedOut),
    #[error("cannot set up the HTTPS client: {0}")]
    Client(#[from] ClientError),
}

/// Which Azure service a request went to, for the message that says it cannot be reached.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Service {
    Arm,
    /// The Azure ML data plane: a workspace's discovery document, run history.
    AzureMl,
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::Arm => "Azure Resource Manager",
            Service::AzureMl => "the Azure ML service",
        }
    }
}

fn forbidden_remedy(verb: Verb) -> &'static str {
    match verb {
        Verb::Read | Verb::List => "you need at least Reader access to the workspace",
        Verb::Start | Verb::Stop => {
            "starting and stopping needs Contributor access to the workspace (or ask the instance's owner to do it in Azure ML studio)"
        }
        Verb::SetIdle => {
            "changing idle shutdown needs Contributor access to the workspace (or ask the instance's owner to do it in Azure ML studio)"
        }
    }
}

/// A failed try: either final, or worth another try after `wait`.
enum Failure {
    Final(ArmError),
    Retry { error: ArmError, wait: Option<Duration> },
}

pub(crate) struct ArmClient {
    http: reqwest::Client,
    base: Url,
    token: Token,
    /// The failure behind the latest retry, so a caller whose own deadline cuts the retries short can still say
    /// what was going wrong.
    last_failure: std::sync::Mutex<Option<String>>,
}

/// One call: what it does, for requests and messages, and the deadline its tries share.
struct Request<'a> {
    method: Method,
    verb: Verb,
    what: &'a str,
    deadline: &'a Deadline,
    /// A JSON body; `None` for GETs and the bodiless POSTs.
    body: Option<&'a [u8]>,
    /// Whether the bearer token goes along: not to a document anyone may read (the workspace's discovery).
    bearer: bool,
}

/// What a request does, for messages: "read compute ci1", "start compute ci1".
#[derive(Clone, Copy, Debug)]
pub(crate) enum Verb {
    Read,
    List,
    Start,
    Stop,
    /// `updateIdleShutdownSetting`.
    SetIdle,
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verb::Read => "read",
            Verb::List => "list",
            Verb::Start => "start",
            Verb::Stop => "stop",
            Verb::SetIdle => "change the idle shutdown of",
        })
    }
}

impl Verb {
    /// "reading", for "reading compute ci1 took longer than …".
    fn doing(self) -> &'static str {
        match self {
            Verb::Read => "reading",
            Verb::List => "listing",
            Verb::Start => "starting",
            Verb::Stop => "stopping",
            Verb::SetIdle => "changing the idle shutdown of",
        }
    }
}

impl ArmClient {
    pub fn new(base: Url, token: Token) -> Result<Self, ArmError> {
        // Plain http is allowed only to loopback (see `cloud::arm_base_url`), and never through a proxy, which
        // would see the bearer token in the clear.
        let http = http::client(base.scheme() == "http")?;
        Ok(ArmClient { http, base, token, last_failure: Default::default() })
    }

    /// What made this client's latest retry necessary, if any.
    pub(crate) fn last_failure(&self) -> Option<String> {
        self.last_failure.lock().ok().and_then(|last| last.clone())
    }

    /// The token this client sends.
    pub fn token(&self) -> &Token {
        &self.token
    }

    /// The tenant this client was signed in to: the one asked for, else the one the token names.
    pub(crate) fn tenant(&self) -> Option<TenantId> {
        self.token.tenant.clone().or_else(|| self.token.tenant_id())
    }

    /// The signed-in identity's object ID, from the token.
    pub(crate) fn signed_in_object_id(&self) -> Option<String> {
        self.token.object_id()
    }

    /// `POST .../computes/{name}/start` (or `/stop`). ARM answers 202 (sometimes 200) and works in the background;
    /// callers poll the compute's state.
    pub(crate) async fn compute_action(&self, id: &ComputeId, verb: Verb, deadline: &Deadline) -> Result<(), ArmError> {
        let url = self.url(&format!("{id}/{verb}"), API_VERSION);
        let request = Request {
            method: Method::POST,
            verb,
            what: &format!("compute {}", id.compute),
            deadline,
            body: None,
            bearer: true,
        };
        self.send(url, &request).await.map(|_| ())
    }

    /// `POST .../computes/{name}/updateIdleShutdownSetting` with `{"idleTimeBeforeShutdown": ...}`. ARM answers
    /// 200 with no body (the spec's example); the new setting shows in the compute document.
    pub(crate) async fn update_idle_shutdown(
        &self,
        id: &ComputeId,
        body: &serde_json::Value,
        deadline: &Deadline,
    ) -> Result<(), ArmError> {
        let url = self.url(&format!("{id}/updateIdleShutdownSetting"), API_VERSION);
        let body = body.to_string().into_bytes();
        let what = format!("compute {}", id.compute);
        let request = Request {
            method: Method::POST,
            verb: Verb::SetIdle,
            what: &what,
            deadline,
            body: Some(&body),
            bearer: true,
        };
        self.send(url, &request).await.map(|_| ())
    }

    /// `GET .../computes/{name}`.
    pub(crate) async fn get_compute(&self, id: &ComputeId, deadline: &Deadline) -> Result<ComputeResource, ArmError> {
        let url = self.url(&id.to_string(), API_VERSION);
        self.get_json(
            url,
            &Request {
                method: Method::GET,
                verb: Verb::Read,
                what: &format!("compute {}", id.compute),
                deadline,
                body: None,
                bearer: true,
            },
        )
        .await
    }

    /// `GET {path}` on ARM, for documents other than a compute's (a workspace, a job). `what` names it in
    /// messages.
    pub(crate) async fn get_resource<T: DeserializeOwned>(
        &self,
        path: &str,
        what: &str,
        deadline: &Deadline,
    ) -> Result<T, ArmError> {
        let request = Request { method: Method::GET, verb: Verb::Read, what, deadline, body: None, bearer: true };
        self.get_json(self.url(path, API_VERSION), &request).await
    }

    /// `GET url` outside ARM, with ARM's retry rules and bounds. The token goes only to an [`ApiBase`] (a host
    /// the cloud's allow-list passed); `None` sends none.
    pub(crate) async fn get_outside<T: DeserializeOwned>(
        &self,
        url: Url,
        api: Option<&ApiBase>,
        what: &str,
        deadline: &Deadline,
    ) -> Result<T, ArmError> {
        let bearer = api.is_some_and(|api| api.holds(&url));
        let request = Request { method: Method::GET, verb: Verb::Read, what, deadline, body: None, bearer };
        self.get_json(url, &request).await
    }

    /// Every item of a list operation, following `nextLink` page by page. `what` names the list in messages.
    pub async fn list<T: DeserializeOwned>(
        &self,
        path: &str,
        api_version: &str,
        what: &str,
        deadline: &Deadline,
    ) -> Result<Vec<T>, ArmError> {
        let (items, _) = self.list_at_most(path, api_version, what, deadline, usize::MAX).await?;
        Ok(items)
    }

    /// The first items of a list operation, page by page until `most` are had (lists that grow without bound,
    /// such as a workspace's jobs); also whether there were more.
    pub(crate) async fn list_at_most<T: DeserializeOwned>(
        &self,
        path: &str,
        api_version: &str,
        what: &str,
        deadline: &Deadline,
        most: usize,
    ) -> Result<(Vec<T>, bool), ArmError> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Page<T> {
            #[serde(default = "Vec::new")]
            value: Vec<T>,
            next_link: Option<String>,
        }
        let mut items = Vec::new();
        let mut url = self.url(path, api_version);
        let request = Request { method: Method::GET, verb: Verb::List, what, deadline, body: None, bearer: true };
        // A broken server could hand out links forever; no real listing here is anywhere near this long.
        for _ in 0..1000 {
            let page: Page<T> = self.get_json(url, &request).await?;
            items.extend(page.value);
            let next = page.next_link.filter(|link| !link.is_empty());
            if items.len() >= most {
                items.truncate(most);
                return Ok((items, next.is_some()));
            }
            match next {
                None => return Ok((items, false)),
                Some(link) => url = self.next_link(&link, what)?,
            }
        }
        Err(ArmError::BadResponse { what: what.to_owned(), reason: "more than 1000 pages".into() })
    }

    /// `nextLink` is followed verbatim (it carries its own api-version and skip token), but only on the origin we
    /// were configured with: the bearer token must never be sent anywhere else.
    fn next_link(&self, link: &str, what: &str) -> Result<Url, ArmError> {
        let bad = |reason: String| ArmError::BadResponse { what: what.to_owned(), reason };
        let url = Url::parse(link).map_err(|e| bad(format!("nextLink {link:?} is not a URL: {e}")))?;
        if url.origin() != self.base.origin() {
            return Err(bad(format!("nextLink {link:?} points away from {}", self.base)));
        }
        Ok(url)
    }

    /// `{base}{path}?api-version=...`, keeping any path prefix the base URL has (Azure Stack, test mocks).
    fn url(&self, path: &str, api_version: &str) -> Url {
        let mut url = self.base.clone();
        let prefix = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{prefix}{path}"));
        url.query_pairs_mut().append_pair("api-version", api_version);
        url
    }

    async fn get_json<T: DeserializeOwned>(&self, url: Url, request: &Request<'_>) -> Result<T, ArmError> {
        let body = self.send(url, request).await?;
        serde_json::from_slice(&body).map_err(|e| ArmError::BadResponse {
            what: request.what.to_owned(),
            reason: format!("{e} (not the JSON document the API describes)"),
        })
    }

    /// Sends with retries until success, a final error, `MAX_TRIES`, or the deadline.
    async fn send(&self, url: Url, request: &Request<'_>) -> Result<Vec<u8>, ArmError> {
        let mut tries = 0;
        loop {
            tries += 1;
            let failure = match self.try_once(url.clone(), request, tries).await {
                Ok(body) => return Ok(body),
                Err(failure) => failure,
            };
            let (error, wait) = match failure {
                Failure::Final(error) => return Err(error),
                Failure::Retry { error, wait } => (error, wait.unwrap_or_else(|| backoff(tries))),
            };
            if tries >= MAX_TRIES || !request.deadline.allows(wait) {
                return Err(error);
            }
            tracing::debug!("{}: try {tries} failed ({error}); retrying in {wait:?}", request.what);
            if let Ok(mut last) = self.last_failure.lock() {
                *last = Some(error.to_string());
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// One try: the body of a successful answer, or what failed and whether it is worth another try.
    async fn try_once(&self, url: Url, request: &Request<'_>, tries: u32) -> Result<Vec<u8>, Failure> {
        let answer = self.exchange(url, request, tries).await?;
        match answer.status.is_success() {
            true => Ok(answer.body),
            false => Err(answer.failure(request, tries)),
        }
    }

    /// Sends the request and reads the whole answer, within the deadline and `MAX_BODY`.
    async fn exchange(&self, url: Url, request: &Request<'_>, tries: u32) -> Result<Answer, Failure> {
        let Request { method, verb, what, deadline, body, bearer } = request;
        tracing::debug!(%method, %url, "ARM request");
        // A call outside ARM (a workspace's discovery document, run history) names its own host when it fails.
        let (service, base) = match url.origin() == self.base.origin() {
            true => (Service::Arm, self.base.to_string()),
            false => (Service::AzureMl, format!("{}/", url.origin().ascii_serialization())),
        };
        let unreachable = |e: reqwest::Error| match e.is_timeout() && !e.is_connect() {
            true => {
                let timed_out = deadline.timed_out(format!("{} {what}", verb.doing()));
                Failure::Final(timed_out.after_failure(self.last_failure()).into())
            }
            false => Failure::Retry {
                error: ArmError::Unreachable { service, base: base.clone(), tries, reason: error_chain(&e) },
                wait: None,
            },
        };
        // Every request ends by the call's deadline, headers and body included: a server that accepts and then
        // says nothing must not hold a ProxyCommand forever.
        let remaining = deadline.remaining().max(Duration::from_millis(100));
        let mut builder = self
            .http
            .request(method.clone(), url)
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(remaining);
        if *bearer {
            builder = builder.bearer_auth(self.token.secret());
        }
        if let Some(body) = body {
            builder = builder.header(reqwest::header::CONTENT_TYPE, "application/json").body(body.to_vec());
        } else if *method == Method::POST {
            // Start and stop have no body. HTTP/1.1 front ends (and TLS-inspecting proxies that downgrade to it)
            // answer 411 Length Required unless the empty body is declared.
            builder = builder.header(reqwest::header::CONTENT_LENGTH, "0").body(Vec::new());
        }
        let mut response = builder.send().await.map_err(unreachable)?;
        let status = response.status();
        tracing::debug!(%status, "ARM response");
        let too_large = || {
            let reason = format!("the answer is larger than {} MiB", MAX_BODY >> 20);
            Failure::Final(ArmError::BadResponse { what: what.to_string(), reason })
        };
        if response.content_length().is_some_and(|n| n > MAX_BODY as u64) {
            return Err(too_large());
        }
        let (retry_after, challenge) = (retry_after(response.headers()), challenged_tenant(response.headers()));
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer { status, retry_after, challenge, body })
    }
}

/// What ARM answered to one try.
struct Answer {
    status: StatusCode,
    retry_after: Option<Duration>,
    /// The tenant a 401's challenge names.
    challenge: Option<TenantId>,
    body: Vec<u8>,
}

impl Answer {
    /// An unsuccessful answer as ARM's documents describe it: final, or worth a retry (throttling, 5xx).
    fn failure(self, request: &Request<'_>, tries: u32) -> Failure {
        let detail = Detail::from_body(&String::from_utf8_lossy(&self.body));
        let (verb, what) = (request.verb, request.what.to_owned());
        match self.status {
            StatusCode::UNAUTHORIZED => match wrong_tenant(&detail, self.challenge) {
                Some(tenant) => Failure::Final(ArmError::WrongTenant { what, tenant, detail }),
                None => Failure::Final(ArmError::Unauthorized { verb, what, detail }),
            },
            StatusCode::FORBIDDEN => Failure::Final(ArmError::Forbidden { verb, what, detail }),
            StatusCode::CONFLICT => Failure::Final(ArmError::Conflict { verb, what, detail }),
            StatusCode::NOT_FOUND => Failure::Final(ArmError::NotFound { what, detail }),
            StatusCode::TOO_MANY_REQUESTS => {
                let retry_after = self.retry_after.map_or(0, |d| d.as_secs().max(1));
                Failure::Retry { error: ArmError::Throttled { what, detail, retry_after }, wait: self.retry_after }
            }
            s if s.is_server_error() => Failure::Retry {
                error: ArmError::Server { what, status: s.as_u16(), detail, tries },
                wait: self.retry_after,
            },
            s => Failure::Final(ArmError::Rejected { what, status: s.as_u16(), detail }),
        }
    }
}

/// The tenant named by a `WWW-Authenticate: Bearer authorization_uri="https://login.windows.net/<tenant>", ...`
/// challenge.
fn challenged_tenant(headers: &reqwest::header::HeaderMap) -> Option<TenantId> {
    headers.get_all(reqwest::header::WWW_AUTHENTICATE).iter().find_map(|value| {
        let text = value.to_str().ok()?;
        let (_, rest) = text.split_once("authorization_uri=\"")?;
        let uri = rest.split('"').next()?;
        tenant_of_authority(uri)
    })
}

/// `https://login.windows.net/<tenant>` (any authority host, an optional trailing path) → the tenant.
fn tenant_of_authority(uri: &str) -> Option<TenantId> {
    let url = Url::parse(uri).ok()?;
    url.path_segments()?.find(|s| !s.is_empty())?.parse().ok()
}

/// A 401 that says the token is from the wrong tenant, and which tenant is right: from the challenge header, or
/// else from the authority the message names.
fn wrong_tenant(detail: &Detail, challenge: Option<TenantId>) -> Option<TenantId> {
    if detail.code.as_deref() != Some("InvalidAuthenticationTokenTenant") {
        return None;
    }
    challenge.or_else(|| {
        let message = detail.message.as_deref()?;
        let (_, rest) = message.split_once("authority (URL) '")?;
        tenant_of_authority(rest.split('\'').next()?)
    })
}

/// `Retry-After` in seconds (ARM's form). HTTP dates are rare here and fall back to our own backoff.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(|secs| Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

/// Exponential backoff, capped, with "equal jitter" (half fixed, half random) so concurrent proxies that failed
/// together do not retry together.
fn backoff(tries: u32) -> Duration {
    let exponential = FIRST_BACKOFF.saturating_mul(1 << tries.saturating_sub(1).min(16));
    let capped = exponential.min(MAX_BACKOFF);
    let half = capped / 2;
    half + half.mul_f64(random_fraction())
}

/// A random number in [0, 1) from the standard library's per-process random hash keys; no RNG crate needed for
/// jitter.
fn random_fraction() -> f64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(Instant::now().elapsed().as_nanos() as u64);
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        for tries in 1..20 {
            let d = backoff(tries);
            let ceiling = FIRST_BACKOFF.saturating_mul(1 << (tries - 1).min(16)).min(MAX_BACKOFF);
            assert!(d >= ceiling / 2 && d <= ceiling, "try {tries}: {d:?}");
        }
    }

    #[test]
    fn error_bodies_become_one_line_details() {
        let d = Detail::from_body(
            r#"{"error":{"code":"ResourceNotFound","message":"The Resource\n'ci9' was not found."}}"#,
        );
        assert_eq!(d.to_string(), " ResourceNotFound: The Resource 'ci9' was not found.");
        assert_eq!(Detail::from_body("").to_string(), "");
        assert_eq!(Detail::from_body("<html>bad gateway</html>").to_string(), ": <html>bad gateway</html>");
    }

    #[test]
    fn a_wrong_tenant_answer_names_the_right_tenant() {
        let body = r#"{"error":{"code":"InvalidAuthenticationTokenTenant","message":"The access token is from the wrong issuer 'https://sts.windows.net/t1/'. It must match the tenant 'https://sts.windows.net/22222222-0000-0000-0000-000000000002/' associated with this subscription. Please use the authority (URL) 'https://login.windows.net/22222222-0000-0000-0000-000000000002' to get the token. Note, if the subscription is transferred to another tenant there is no impact to the services, but information about new tenant could take time to propagate (up to an hour). If you just transferred your subscription and see this error message, please try back later."}}"#;
        let detail = Detail::from_body(body);
        let expected: TenantId = "22222222-0000-0000-0000-000000000002".parse().unwrap();
        assert_eq!(wrong_tenant(&detail, None), Some(expected.clone()), "from the message");
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::WWW_AUTHENTICATE,
            r#"Bearer authorization_uri="https://login.windows.net/22222222-0000-0000-0000-000000000002", error="invalid_token", error_description="The access token is from the wrong issuer.""#.parse().unwrap(),
        );
        assert_eq!(wrong_tenant(&detail, challenged_tenant(&headers)), Some(expected));
        let other = Detail::from_body(r#"{"error":{"code":"InvalidAuthenticationToken","message":"expired"}}"#);
        assert_eq!(wrong_tenant(&other, challenged_tenant(&headers)), None, "only that error code switches tenants");
        headers.insert(
            reqwest::header::WWW_AUTHENTICATE,
            r#"Bearer authorization_uri="https://login.windows.net/$(id)""#.parse().unwrap(),
        );
        assert_eq!(challenged_tenant(&headers), None, "a hostile tenant never reaches a command line");
    }

    #[test]
    fn retry_after_reads_seconds_only() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(reqwest::header::RETRY_AFTER, "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
        headers.insert(reqwest::header::RETRY_AFTER, "18446744073709551615".parse().unwrap());
        let wait = retry_after(&headers).unwrap();
        assert_eq!(wait, MAX_RETRY_AFTER, "capped");
        assert!(Instant::now().checked_add(wait).is_some());
    }
}
