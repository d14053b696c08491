//! A mock of the Azure Resource Manager endpoints azml-ssh calls, following the REST spec's paths, JSON shapes
//! and error bodies (`{"error":{"code","message"}}`). It requires the Bearer token the fake `az` hands out and
//! the api-version, records every request, and can serve scripted replies (429, 500, garbage) before the normal
//! ones, or reset the next connections before a byte is read. Optionally it speaks TLS with a certificate from a test CA, and also answers the Entra ID token endpoint
//! so the service-principal credential can be exercised.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::mock_jobs::{JobScript, Jobs};
use crate::tls::TestCa;

pub const API_VERSION: &str = "2025-12-01";
pub const SUBSCRIPTIONS_API_VERSION: &str = "2022-12-01";
/// The tenant of the default token (`tid` of the tests' `TOKEN`).
pub const HOME_TENANT: &str = "99999999-8888-7777-6666-555555555555";
/// The secret the mock expects from an App Service managed identity client.
pub const MI_SECRET: &str = "mi-secret";
/// The client secret the mock Entra endpoint accepts.
pub const SP_SECRET: &str = "sp-secret";

#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// How long the server says nothing before this reply (a server that accepted and hangs).
    pub delay: Option<std::time::Duration>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Self {
        Reply { status, headers: vec![], body: body.to_string(), delay: None }
    }
    pub fn error(status: u16, code: &str, message: &str) -> Self {
        Reply::json(status, json!({"error": {"code": code, "message": message}}))
    }
    pub fn raw(status: u16, body: &str) -> Self {
        Reply { status, headers: vec![], body: body.to_owned(), delay: None }
    }
    /// The same reply, sent only after `delay` of silence.
    pub fn after(mut self, delay: std::time::Duration) -> Self {
        self.delay = Some(delay);
        self
    }
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub authorization: Option<String>,
    pub content_length: Option<String>,
    pub content_type: Option<String>,
    /// The request body, as text.
    pub body: String,
    /// The status the mock answered with.
    pub status: u16,
}

/// A tenant the signed-in account can see besides its home tenant.
#[derive(Clone, Debug)]
struct Tenant {
    id: String,
    name: String,
    /// The token ARM accepts for this tenant.
    token: String,
}

#[derive(Default)]
struct Inner {
    /// Lower-cased ARM path → compute document.
    computes: HashMap<String, Value>,
    /// Lower-cased path → replies served (in order) before the normal behaviour.
    scripts: HashMap<String, VecDeque<Reply>>,
    requests: Vec<Recorded>,
    /// The token ARM accepts.
    token: String,
    /// The client secret the Entra endpoint accepts.
    sp_secret: String,
    /// Subscriptions returned by the subscription list (id, state).
    subscriptions: Vec<(String, String)>,
    /// Items per page for list operations; smaller lists still get a nextLink when this is small.
    page_size: usize,
    /// This server's own base URL, for nextLink.
    base_url: String,
    /// Lower-cased compute path → its lifecycle state machine.
    machines: HashMap<String, Machine>,
    /// A delay before answering the next POST .../start (once).
    start_delay_once: Option<std::time::Duration>,
    /// A delay before answering every GET of this (lower-cased) path.
    get_delays: HashMap<String, std::time::Duration>,
    /// A delay before answering every request (network and service latency, for benchmarks).
    latency: Option<std::time::Duration>,
    /// POST .../start requests that arrived and are being delayed.
    delayed_starts: usize,
    /// Tenants other than the home one.
    tenants: Vec<Tenant>,
    /// Connections still to be reset (RST, no answer) as soon as they are accepted.
    resets: usize,
    /// Connections reset so far.
    resets_done: usize,
    /// Lower-cased subscription ID → its tenant, for subscriptions outside the home tenant.
    subscription_tenants: HashMap<String, String>,
    /// Training jobs and the Azure ML data plane.
    jobs: Jobs,
}

/// A compute instance's lifecycle as the mock plays it: start and stop are accepted with 202 and move the state
/// through Starting or Stopping, which last a given number of GETs.
#[derive(Clone, Debug)]
pub struct Machine {
    /// GETs that see Starting before Running.
    pub polls_to_running: usize,
    /// GETs that see Stopping before Stopped.
    pub polls_to_stopped: usize,
    /// The status POST .../start answers with: 202; 403 to refuse; 409 as when another client's start is under way.
    pub start_status: u16,
    /// The address the instance gets when it runs.
    pub ip: String,
    pub port: u16,
    pub countdown: usize,
    /// Make a start fail as recorded ones do: Starting for `polls_to_running` GETs, then back to Stopped with
    /// `lastOperation` StartFailed and this `{code, message}` in `errors`.
    pub start_fails_with: Option<(String, String)>,
}

impl Machine {
    pub fn new(port: u16) -> Self {
        Machine {
            polls_to_running: 2,
            polls_to_stopped: 1,
            start_status: 202,
            ip: "127.0.0.1".into(),
            port,
            countdown: 0,
            start_fails_with: None,
        }
    }
}

fn set_state(doc: &mut Value, state: &str, machine: &Machine) {
    let props = &mut doc["properties"]["properties"];
    props["state"] = json!(state);
    let running = matches!(state, "Running" | "JobRunning");
    props["connectivityEndpoints"]["publicIpAddress"] = if running { json!(machine.ip) } else { Value::Null };
    props["sshSettings"]["sshPort"] = json!(machine.port);
}

/// One GET's worth of progress for a transitional state.
fn advance(state: &mut Inner, key: &str) {
    let Some(machine) = state.machines.get_mut(key) else { return };
    let current = state.computes[key]["properties"]["properties"]["state"].as_str().unwrap_or("").to_owned();
    let next = match current.as_str() {
        "Starting" | "Stopping" if machine.countdown > 0 => {
            machine.countdown -= 1;
            return;
        }
        "Starting" if machine.start_fails_with.is_some() => "Stopped",
        "Starting" => "Running",
        "Stopping" => "Stopped",
        _ => return,
    };
    let machine = machine.clone();
    let doc = state.computes.get_mut(key).unwrap();
    set_state(doc, next, &machine);
    if let (Some((code, message)), "Stopped", "Starting") = (&machine.start_fails_with, next, current.as_str()) {
        let props = &mut doc["properties"]["properties"];
        props["lastOperation"] = json!({"operationName": "Start", "operationStatus": "StartFailed",
            "operationTrigger": "User", "operationTime": "2026-11-30T09:12:44.123Z"});
        props["errors"] = json!([{"error": {"code": code, "message": message}}]);
    }
}

fn lifecycle_action(state: &mut Inner, key: &str, action: &str) -> Reply {
    let current = state.computes[key]["properties"]["properties"]["state"].as_str().unwrap_or("").to_owned();
    let machine = state.machines.get_mut(key).unwrap();
    if action == "start" && machine.start_status == 403 {
        return Reply::error(
            403,
            "AuthorizationFailed",
            "The client does not have authorization to perform action 'Microsoft.MachineLearningServices/workspaces/computes/start/action'.",
        );
    }
    let (from, to, polls) = match action {
        "start" => ("Stopped", "Starting", machine.polls_to_running),
        _ => ("Running", "Stopping", machine.polls_to_stopped),
    };
    let conflict = Reply::error(
        409,
        "Conflict",
        &format!("Cannot {action} compute in state {current}: an operation is in progress."),
    );
    if current != from {
        return conflict;
    }
    if action == "start" && machine.start_status == 409 {
        // Somebody else's start (the studio, the CLI) got there first: refused, but the instance is starting.
        machine.countdown = polls;
        let machine = machine.clone();
        set_state(state.computes.get_mut(key).unwrap(), to, &machine);
        return conflict;
    }
    machine.countdown = polls;
    let machine = machine.clone();
    let doc = state.computes.get_mut(key).unwrap();
    set_state(doc, to, &machine);
    let name = if action == "start" { "Start" } else { "Stop" };
    doc["properties"]["properties"]["lastOperation"] = json!({"operationName": name, "operationStatus": "InProgress",
        "operationTrigger": "User", "operationTime": "2026-11-30T09:10:02.456Z"});
    // As recorded: an empty body and only an Azure-AsyncOperation header (no Location).
    Reply::raw(202, "").with_header(
        "Azure-AsyncOperation",
        &format!("https://management.azure.com/subscriptions/x/providers/Microsoft.MachineLearningServices/locations/eastus2/computeOperationsStatus/{}?api-version=2025-12-01", key.len()),
    )
}

#[derive(Clone)]
pub struct MockArm {
    inner: Arc<Mutex<Inner>>,
    pub addr: SocketAddr,
    pub url: String,
    _runtime: Arc<RuntimeGuard>,
}

/// Keeps the server's runtime alive as long as any handle to the mock exists.
struct RuntimeGuard(Option<tokio::runtime::Runtime>);

impl Drop for RuntimeGuard {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl MockArm {
    /// Plain HTTP on 127.0.0.1.
    pub fn start(token: &str) -> Self {
        Self::start_inner(token, None)
    }

    /// HTTPS on 127.0.0.1 with a certificate for `localhost` and `127.0.0.1` from `ca`.
    pub fn start_tls(token: &str, ca: &TestCa) -> Self {
        Self::start_inner(token, Some(ca.server_config()))
    }

    fn start_inner(token: &str, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            token: token.to_owned(),
            sp_secret: SP_SECRET.into(),
            page_size: 2,
            ..Default::default()
        }));
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("mock runtime");
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind mock ARM");
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().fallback(handle).with_state(inner.clone());
        let scheme = if tls.is_some() { "https" } else { "http" };
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        let shared = inner.clone();
        runtime.spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                if take_reset(&shared) {
                    // A zero linger makes the close a reset: the client sees ECONNRESET, not an answer.
                    let _ = socket2::SockRef::from(&tcp).set_linger(Some(std::time::Duration::ZERO));
                    drop(tcp);
                    continue;
                }
                let (acceptor, app) = (acceptor.clone(), app.clone());
                tokio::spawn(async move {
                    let service = hyper_util::service::TowerToHyperService::new(app);
                    let http = hyper::server::conn::http1::Builder::new();
                    match acceptor {
                        None => {
                            let _ = http.serve_connection(hyper_util::rt::TokioIo::new(tcp), service).await;
                        }
                        Some(acceptor) => {
                            let Ok(stream) = acceptor.accept(tcp).await else {
                                return;
                            };
                            let _ = http.serve_connection(hyper_util::rt::TokioIo::new(stream), service).await;
                        }
                    }
                });
            }
        });
        let host = if scheme == "https" { "localhost" } else { "127.0.0.1" };
        let url = format!("{scheme}://{host}:{}", addr.port());
        inner.lock().unwrap().base_url = url.clone();
        MockArm { inner, addr, url, _runtime: Arc::new(RuntimeGuard(Some(runtime))) }
    }

    /// Adds a job to `workspace` (its path) whose life follows `script`.
    pub fn put_job(&self, workspace: &str, name: &str, script: JobScript) {
        let key = format!("{}/jobs/{name}", workspace.to_ascii_lowercase());
        self.inner.lock().unwrap().jobs.jobs.insert(key, script);
    }

    /// What the discovery document names as the Azure ML API host (default: this mock).
    pub fn set_discovery_api(&self, url: &str) {
        self.inner.lock().unwrap().jobs.api = Some(url.to_owned());
    }

    pub fn put_compute(&self, path: &str, document: Value) {
        self.inner.lock().unwrap().computes.insert(path.to_ascii_lowercase(), document);
    }

    /// Registers `id` as an instance in `state` whose start/stop follow `machine`.
    pub fn put_machine(&self, id: &str, state: &str, machine: Machine) {
        let mut doc = compute_instance(id, state, true, None, Some(machine.port));
        set_state(&mut doc, state, &machine);
        let mut inner = self.inner.lock().unwrap();
        inner.computes.insert(id.to_ascii_lowercase(), doc);
        inner.machines.insert(id.to_ascii_lowercase(), machine);
    }

    /// Sets a field of a registered compute's instance properties (e.g. lastOperation).
    pub fn patch_instance(&self, id: &str, field: &str, value: Value) {
        let mut inner = self.inner.lock().unwrap();
        inner.computes.get_mut(&id.to_ascii_lowercase()).unwrap()["properties"]["properties"][field] = value;
    }

    /// A field of a registered compute's instance properties (`Value::Null` when absent).
    pub fn instance_field(&self, id: &str, field: &str) -> Value {
        let inner = self.inner.lock().unwrap();
        inner.computes[&id.to_ascii_lowercase()]["properties"]["properties"][field].clone()
    }

    /// The current state of a registered compute.
    pub fn state_of(&self, id: &str) -> String {
        let inner = self.inner.lock().unwrap();
        inner.computes[&id.to_ascii_lowercase()]["properties"]["properties"]["state"].as_str().unwrap_or("").to_owned()
    }

    /// Delays the answer to the next POST .../start.
    pub fn delay_next_start(&self, delay: std::time::Duration) {
        self.inner.lock().unwrap().start_delay_once = Some(delay);
    }

    /// Answers every request after `latency`, as a far-away service does.
    pub fn set_latency(&self, latency: std::time::Duration) {
        self.inner.lock().unwrap().latency = Some(latency);
    }

    /// Answers every request at once again.
    pub fn clear_latency(&self) {
        self.inner.lock().unwrap().latency = None;
    }

    /// Resets the next `n` connections as soon as they are accepted, before reading a request.
    pub fn reset_next(&self, n: usize) {
        self.inner.lock().unwrap().resets = n;
    }

    /// How many connections have been reset (they leave no request behind).
    pub fn resets_done(&self) -> usize {
        self.inner.lock().unwrap().resets_done
    }

    /// Items per page of list operations (ARM's own pages hold up to 100 or so).
    pub fn set_page_size(&self, size: usize) {
        self.inner.lock().unwrap().page_size = size;
    }

    /// Delays every GET of `path` (a server that accepts and then says nothing for that long).
    pub fn delay_gets(&self, path: &str, delay: std::time::Duration) {
        self.inner.lock().unwrap().get_delays.insert(path.to_ascii_lowercase(), delay);
    }

    /// How many delayed start requests have arrived (they are recorded only once answered).
    pub fn delayed_starts(&self) -> usize {
        self.inner.lock().unwrap().delayed_starts
    }

    /// How many requests had this method and path (case-insensitive).
    pub fn count_method(&self, method: &str, path: &str) -> usize {
        self.requests().iter().filter(|r| r.method == method && r.path.eq_ignore_ascii_case(path)).count()
    }

    /// The subscriptions the signed-in identity can see, as `(id, state)`.
    pub fn set_subscriptions(&self, subscriptions: &[(&str, &str)]) {
        self.inner.lock().unwrap().subscriptions =
            subscriptions.iter().map(|(id, state)| (id.to_string(), state.to_string())).collect();
    }

    /// Adds a tenant the account can see, whose ARM token is `token` (a JWT with that `tid`, as the fake `az` hands
    /// out for `--tenant`).
    pub fn add_tenant(&self, id: &str, name: &str, token: &str) {
        self.inner.lock().unwrap().tenants.push(Tenant { id: id.into(), name: name.into(), token: token.into() });
    }

    /// Puts `subscription` in tenant `tenant`, with `state` (Enabled, Warned, PastDue, Disabled, ...).
    pub fn put_subscription(&self, subscription: &str, tenant: &str, state: &str) {
        let mut inner = self.inner.lock().unwrap();
        if tenant != HOME_TENANT {
            inner.subscription_tenants.insert(subscription.to_ascii_lowercase(), tenant.to_owned());
        }
        inner.subscriptions.push((subscription.to_owned(), state.to_owned()));
    }

    /// Replies served for `path` (any method) before the normal behaviour.
    pub fn script(&self, path: &str, replies: Vec<Reply>) {
        self.inner.lock().unwrap().scripts.insert(path.to_ascii_lowercase(), replies.into());
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.lock().unwrap().requests.clone()
    }

    pub fn request_count(&self) -> usize {
        self.inner.lock().unwrap().requests.len()
    }

    /// Requests to `path` (case-insensitive), any method.
    pub fn count(&self, path: &str) -> usize {
        self.requests().iter().filter(|r| r.path.eq_ignore_ascii_case(path)).count()
    }
}

fn take_reset(inner: &Mutex<Inner>) -> bool {
    let mut state = inner.lock().unwrap();
    let reset = state.resets > 0;
    state.resets -= usize::from(reset);
    state.resets_done += usize::from(reset);
    reset
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // A delay is served before the request is looked at, without holding the lock; a client that gives up (or is
    // killed) meanwhile leaves no trace, as with a real slow server.
    let delay = if method == Method::POST && uri.path().to_ascii_lowercase().ends_with("/start") {
        let mut state = inner.lock().unwrap();
        let delay = state.start_delay_once.take();
        state.delayed_starts += usize::from(delay.is_some());
        delay
    } else if method == Method::GET {
        inner.lock().unwrap().get_delays.get(&uri.path().to_ascii_lowercase()).copied()
    } else {
        None
    };
    let latency = inner.lock().unwrap().latency;
    if let Some(latency) = latency {
        tokio::time::sleep(latency).await;
    }
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let answer = respond(&inner, method, uri, headers, body);
    if let Some(delay) = answer.delay {
        tokio::time::sleep(delay).await;
    }
    reply(answer)
}

fn respond(inner: &Mutex<Inner>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Reply {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let recorded = Recorded {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or("").to_owned(),
        authorization: header("authorization"),
        content_length: header("content-length"),
        content_type: header("content-type"),
        body: String::from_utf8_lossy(&body).into_owned(),
        status: 0,
    };
    let mut state = inner.lock().unwrap();
    let answer = answer(&mut state, &recorded, &headers, body);
    state.requests.push(Recorded { status: answer.status, ..recorded });
    answer
}

/// The tenant a token belongs to: the home token's, or that of a tenant whose token it is — checked against the
/// token's own `tid` claim, as ARM does.
fn tenant_of(state: &Inner, authorization: Option<&str>) -> Option<String> {
    let token = authorization?.strip_prefix("Bearer ")?;
    if token == state.token {
        return Some(HOME_TENANT.to_owned());
    }
    let tenant = state.tenants.iter().find(|t| t.token == token)?;
    (claim(token, "tid").as_deref() == Some(tenant.id.as_str())).then(|| tenant.id.clone())
}

/// ARM's answer to a token from the wrong tenant, body and challenge as the real service sends them.
fn wrong_tenant(token_tenant: &str, right: &str) -> Reply {
    Reply::error(
        401,
        "InvalidAuthenticationTokenTenant",
        &format!(
            "The access token is from the wrong issuer 'https://sts.windows.net/{token_tenant}/'. It must match the tenant 'https://sts.windows.net/{right}/' associated with this subscription. Please use the authority (URL) 'https://login.windows.net/{right}' to get the token. Note, if the subscription is transferred to another tenant there is no impact to the services, but information about new tenant could take time to propagate (up to an hour). If you just transferred your subscription and see this error message, please try back later."
        ),
    )
    .with_header(
        "WWW-Authenticate",
        &format!(
            r#"Bearer authorization_uri="https://login.windows.net/{right}", error="invalid_token", error_description="The access token is from the wrong issuer.""#
        ),
    )
}

fn answer(state: &mut Inner, recorded: &Recorded, headers: &HeaderMap, body: Bytes) -> Reply {
    let (path, query) = (recorded.path.as_str(), recorded.query.as_str());
    let method: Method = recorded.method.parse().unwrap();

    // Entra ID's token endpoint, for the service-principal credential: POST /{tenant}/oauth2/v2.0/token.
    if method == Method::POST && path.ends_with("/oauth2/v2.0/token") {
        let form = String::from_utf8_lossy(&body).into_owned();
        let secret_ok = form.split('&').any(|kv| kv == format!("client_secret={}", state.sp_secret));
        return if secret_ok {
            Reply::json(
                200,
                json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": state.token}),
            )
        } else {
            Reply::json(
                401,
                json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided.", "error_codes": [7000215]}),
            )
        };
    }

    // App Service managed identity: GET $IDENTITY_ENDPOINT?api-version=2019-08-01&resource=... with the secret
    // from IDENTITY_HEADER in X-IDENTITY-HEADER.
    if method == Method::GET && path == "/msi/token" {
        let secret_ok = headers.get("x-identity-header").and_then(|v| v.to_str().ok()) == Some(MI_SECRET);
        return if secret_ok && query.contains("resource=") {
            let expires_on =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 3600;
            Reply::json(
                200,
                json!({"access_token": state.token, "expires_on": expires_on.to_string(), "resource": "https://management.core.windows.net/", "token_type": "Bearer"}),
            )
        } else {
            Reply::error(400, "BadRequest", "bad identity header")
        };
    }

    // Azure's HTTP/1.1 front ends refuse a POST that does not declare its (empty) body.
    if method == Method::POST && recorded.content_length.is_none() {
        return Reply::raw(411, "<h2>Length Required</h2>").with_header("content-type", "text/html");
    }
    if let Some(next) = state.scripts.get_mut(&path.to_ascii_lowercase()).and_then(VecDeque::pop_front) {
        return next;
    }
    if method == Method::GET && path == "/discovery" {
        return discovery(state);
    }
    let Some(token_tenant) = tenant_of(state, recorded.authorization.as_deref()) else {
        return Reply::error(401, "InvalidAuthenticationToken", "The access token is invalid.");
    };
    // Run history has no api-version.
    if method == Method::GET
        && let Some((status, body)) = state.jobs.history(path)
    {
        return Reply::json(status, body);
    }
    let lower = path.to_ascii_lowercase();
    if let Some(sub) = lower.strip_prefix("/subscriptions/").map(|rest| rest.split('/').next().unwrap_or_default()) {
        let right = state.subscription_tenants.get(sub).map_or(HOME_TENANT, String::as_str);
        if right != token_tenant {
            return wrong_tenant(&token_tenant, right);
        }
    }
    let wanted = if matches!(path, "/subscriptions" | "/tenants") { SUBSCRIPTIONS_API_VERSION } else { API_VERSION };
    if !query.split('&').any(|kv| kv == format!("api-version={wanted}")) {
        return Reply::error(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        );
    }
    if method == Method::POST
        && let Some((compute, action)) = lower.rsplit_once('/')
        && matches!(action, "start" | "stop")
        && state.machines.contains_key(compute)
    {
        return lifecycle_action(state, compute, action);
    }
    if method == Method::POST
        && let Some(compute) = lower.strip_suffix("/updateidleshutdownsetting")
    {
        return update_idle_shutdown(state, compute, recorded);
    }
    if method == Method::GET
        && let Some(document) = job_or_workspace(state, path)
    {
        return Reply::json(200, document);
    }
    if method == Method::GET && state.computes.contains_key(&lower) {
        advance(state, &lower);
        return Reply::json(200, state.computes[&lower].clone());
    }
    if method == Method::GET
        && let Some(items) = list(state, path, &token_tenant)
    {
        return page(state, path, query, items);
    }
    let name = path.rsplit('/').next().unwrap_or("");
    Reply::error(
        404,
        "ResourceNotFound",
        &format!("The Resource 'Microsoft.MachineLearningServices/workspaces/computes/{name}' was not found."),
    )
}

/// `POST .../computes/{name}/updateIdleShutdownSetting` (`Compute_UpdateIdleShutdownSetting`): a JSON body
/// `IdleShutdownSetting {idleTimeBeforeShutdown}`, an ISO 8601 duration within 15 minutes and 3 days (the spec's
/// description of the property; the 400's wording is ours, Azure's own is not on record), or null for none.
/// Answers 200 with no body, as the spec's example; later GETs show the new value.
fn update_idle_shutdown(state: &mut Inner, key: &str, recorded: &Recorded) -> Reply {
    let Some(doc) = state.computes.get_mut(key) else {
        let name = key.rsplit('/').next().unwrap_or_default();
        return Reply::error(
            404,
            "ResourceNotFound",
            &format!("The Resource 'Microsoft.MachineLearningServices/workspaces/computes/{name}' was not found."),
        );
    };
    let content_type = recorded.content_type.as_deref().unwrap_or_default();
    if !content_type.starts_with("application/json") {
        return Reply::error(
            415,
            "UnsupportedMediaType",
            &format!("The content media type '{content_type}' is not supported. Only 'application/json' is supported."),
        );
    }
    let invalid = |message: &str| Reply::error(400, "BadRequest", message);
    let Ok(Value::Object(body)) = serde_json::from_str::<Value>(&recorded.body) else {
        return invalid("The request content was invalid and could not be deserialized.");
    };
    let new = match body.get("idleTimeBeforeShutdown") {
        None | Some(Value::Null) => Value::Null,
        Some(Value::String(text)) => match iso_minutes(text) {
            Some(minutes) if (15..=4320).contains(&minutes) => json!(text),
            Some(_) => return invalid("Idle time before shutdown must be between 15 minutes and 3 days."),
            None => return invalid(&format!("'{text}' is not a valid ISO 8601 duration.")),
        },
        Some(_) => return invalid("The request content was invalid and could not be deserialized."),
    };
    let props = &mut doc["properties"]["properties"];
    let current = props["state"].as_str().unwrap_or_default().to_owned();
    if matches!(current.as_str(), "Creating" | "Starting" | "Stopping" | "Restarting" | "Deleting" | "SettingUp") {
        return Reply::error(
            409,
            "Conflict",
            &format!("Cannot update idle shutdown setting of compute in state {current}: an operation is in progress."),
        );
    }
    props["idleTimeBeforeShutdown"] = new;
    Reply::raw(200, "")
}

/// `PT30M`, `PT1H30M`, `P1DT2H` in whole minutes (the forms the mock needs to judge bounds).
fn iso_minutes(text: &str) -> Option<u64> {
    let rest = text.strip_prefix('P')?;
    let (days, time) = rest.split_once('T').unwrap_or((rest, ""));
    let mut minutes = match days {
        "" => 0,
        d => d.strip_suffix('D')?.parse::<u64>().ok()? * 1440,
    };
    let mut time = time;
    for (unit, factor) in [('H', 60), ('M', 1)] {
        if let Some((number, tail)) = time.split_once(unit) {
            minutes += number.parse::<u64>().ok()? * factor;
            time = tail;
        }
    }
    (time.is_empty() && !rest.is_empty() && rest != "T").then_some(minutes)
}

/// The workspaces that hold a registered compute or job (lower-cased paths, sorted).
fn workspaces(state: &Inner) -> Vec<String> {
    let mut workspaces: Vec<String> =
        state.computes.keys().filter_map(|k| k.split("/computes/").next().map(str::to_owned)).collect();
    workspaces.extend(state.jobs.workspaces());
    workspaces.sort();
    workspaces.dedup();
    workspaces
}

/// The workspace's discovery document: public, as the SDK fetches it without a token.
fn discovery(state: &Inner) -> Reply {
    let api = state.jobs.api.clone().unwrap_or_else(|| state.base_url.clone());
    let base = &state.base_url;
    Reply::json(200, json!({"api": api, "catalog": base, "experimentation": base, "history": base}))
}

/// `GET …/jobs/{name}` (with the job's next status) or `GET …/workspaces/{ws}`.
fn job_or_workspace(state: &mut Inner, path: &str) -> Option<Value> {
    state.jobs.get(path).or_else(|| workspace_document(state, &path.to_ascii_lowercase()))
}

/// `GET …/workspaces/{ws}`: the workspace's document, with the `discoveryUrl` of its Azure ML API.
fn workspace_document(state: &Inner, lower: &str) -> Option<Value> {
    let workspace = workspaces(state).into_iter().find(|w| w == lower)?;
    let name = workspace.rsplit('/').next().unwrap_or_default().to_owned();
    Some(
        json!({"id": workspace, "name": name, "type": "Microsoft.MachineLearningServices/workspaces", "location": "eastus2",
        "properties": {"discoveryUrl": format!("{}/discovery", state.base_url), "workspaceId": "00000000-aaaa-bbbb-cccc-000000000000"}}),
    )
}

/// The items of a list operation at `path`, if it is one: subscriptions, workspaces (per subscription or per
/// resource group) or the computes of a workspace. Workspaces are those that hold a registered compute.
fn list(state: &Inner, path: &str, token_tenant: &str) -> Option<Vec<Value>> {
    let lower = path.to_ascii_lowercase();
    if lower == "/tenants" {
        let home = json!({"id": format!("/tenants/{HOME_TENANT}"), "tenantId": HOME_TENANT, "tenantCategory": "Home", "displayName": "Home Tenant", "defaultDomain": "home.onmicrosoft.com"});
        let others = state.tenants.iter().map(|t| json!({"id": format!("/tenants/{}", t.id), "tenantId": t.id, "tenantCategory": "Home", "displayName": t.name, "defaultDomain": format!("{}.onmicrosoft.com", t.name.to_ascii_lowercase())}));
        return Some(std::iter::once(home).chain(others).collect());
    }
    if lower == "/subscriptions" {
        // ARM lists only the subscriptions of the token's tenant.
        let tenant_of_sub =
            |id: &str| state.subscription_tenants.get(&id.to_ascii_lowercase()).map_or(HOME_TENANT, String::as_str);
        return Some(
            state
                .subscriptions
                .iter()
                .filter(|(id, _)| tenant_of_sub(id) == token_tenant)
                .map(|(id, st)| json!({"id": format!("/subscriptions/{id}"), "subscriptionId": id, "tenantId": token_tenant, "displayName": format!("Subscription {id}"), "state": st}))
                .collect(),
        );
    }
    let mut keys: Vec<&String> = state.computes.keys().collect();
    keys.sort();
    if let Some(scope) = lower.strip_suffix("/providers/microsoft.machinelearningservices/workspaces") {
        return Some(
            workspaces(state)
                .into_iter()
                .filter(|w| w.starts_with(&format!("{scope}/")))
                .map(|ws| {
                    let name = ws.rsplit('/').next().unwrap_or_default().to_owned();
                    json!({"id": ws, "name": name, "type": "Microsoft.MachineLearningServices/workspaces", "location": "eastus2", "kind": "Default", "properties": {}})
                })
                .collect(),
        );
    }
    if let Some(workspace) = lower.strip_suffix("/jobs") {
        return Some(state.jobs.list(workspace));
    }
    let workspace = lower.strip_suffix("/computes")?;
    Some(
        keys.iter()
            .filter(|k| k.strip_prefix(workspace).is_some_and(|rest| rest.starts_with("/computes/")))
            .map(|k| state.computes[*k].clone())
            .collect(),
    )
}

/// One page of `items`, with an absolute `nextLink` carrying its own api-version and a skip token.
fn page(state: &Inner, path: &str, query: &str, items: Vec<Value>) -> Reply {
    let skip: usize =
        query.split('&').find_map(|kv| kv.strip_prefix("$skipToken=")).and_then(|v| v.parse().ok()).unwrap_or(0);
    let end = (skip + state.page_size).min(items.len());
    let value: Vec<Value> = items.get(skip..end).unwrap_or_default().to_vec();
    let mut body = json!({"value": value});
    if end < items.len() {
        let version = query.split('&').find(|kv| kv.starts_with("api-version=")).unwrap_or_default();
        body["nextLink"] = json!(format!("{}{path}?{version}&$skipToken={end}", state.base_url));
    }
    Reply::json(200, body)
}

fn reply(r: Reply) -> Response {
    let mut response = (StatusCode::from_u16(r.status).unwrap(), r.body).into_response();
    let headers = response.headers_mut();
    headers.insert("content-type", "application/json; charset=utf-8".parse().unwrap());
    for (name, value) in r.headers {
        headers.insert(axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
    }
    response
}

/// A compute instance document shaped like ARM's (GET .../computes/{name}, api-version 2025-12-01). Real
/// instances' Jupyter URL is `https://{name}.{region}.instances.azureml.ms/tree/`; here it is on loopback (where
/// nothing listens on port 9 unless a test moves it to its mock gateway), so no test ever resolves a real name.
pub fn compute_instance(id: &str, state: &str, ssh_enabled: bool, ip: Option<&str>, port: Option<u16>) -> Value {
    let name = id.rsplit('/').next().unwrap();
    json!({
        "id": id,
        "name": name,
        "type": "Microsoft.MachineLearningServices/workspaces/computes",
        "location": "eastus2",
        "properties": {
            "computeType": "ComputeInstance",
            "computeLocation": "eastus2",
            "provisioningState": "Succeeded",
            "isAttachedCompute": false,
            "disableLocalAuth": true,
            "properties": {
                "vmSize": "STANDARD_DS3_V2",
                "state": state,
                "sshSettings": {
                    "sshPublicAccess": if ssh_enabled { "Enabled" } else { "Disabled" },
                    "adminUserName": "azureuser",
                    "sshPort": port,
                    "adminPublicKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA test"
                },
                "connectivityEndpoints": {"publicIpAddress": ip, "privateIpAddress": "10.0.0.4"},
    "applications": [
                    {"displayName": "Jupyter", "endpointUri": "https://localhost:9/tree/"},
                    {"displayName": "Jupyter Lab", "endpointUri": "https://localhost:9/lab"}
                ],
                "computeInstanceAuthorizationType": "personal",
                "personalComputeInstanceSettings": {
                    "assignedUser": {"objectId": "11111111-2222-3333-4444-555555555555", "tenantId": "99999999-8888-7777-6666-555555555555"}
                },
                "lastOperation": null
            }
        }
    })
}

/// An instance created by its user and assigned to nobody, as the studio makes them: `personalComputeInstanceSettings`
/// is null and the owner is only in `createdBy`.
pub fn created_by(id: &str, creator_oid: &str, creator_tenant: &str, port: u16) -> Value {
    let mut doc = compute_instance(id, "Running", true, Some("127.0.0.1"), Some(port));
    let props = &mut doc["properties"]["properties"];
    props["personalComputeInstanceSettings"] = Value::Null;
    props["computeInstanceAuthorizationType"] = json!("personal");
    props["createdBy"] = json!({"userName": "someone@example.com", "userOrgId": creator_tenant, "userId": creator_oid});
    doc
}

/// An unsigned JWT-shaped token with `oid` and `tid` claims, like the ones Entra ID issues (the mock decodes it).
pub fn jwt(oid: &str, tid: &str) -> String {
    use base64::Engine as _;
    let encode = |v: serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.c2lnbmF0dXJl",
        encode(serde_json::json!({"alg": "none", "typ": "JWT"})),
        encode(serde_json::json!({"oid": oid, "tid": tid, "name": "Test User"}))
    )
}

/// A claim of a JWT-shaped token's payload.
pub fn claim(token: &str, name: &str) -> Option<String> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get(name)?.as_str().map(str::to_owned)
}
