//! Getting an ARM access token through `azure_identity`, the way the Azure SDKs' default chain would — minus
//! managed identity, which probes the instance metadata address and can take over a minute to give up.
//!
//! Inside a ProxyCommand there is no terminal: nothing here may prompt, and every failure must end in one line that
//! tells the user what to run.

use std::ffi::OsStr;
use std::fmt;
use std::process::Output;
use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use azure_core::http::ClientOptions;
use azure_identity::{
    AzureCliCredential, AzureCliCredentialOptions, AzureDeveloperCliCredential, AzureDeveloperCliCredentialOptions,
    ClientSecretCredential, ClientSecretCredentialOptions, ManagedIdentityCredential, ManagedIdentityCredentialOptions,
    WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};

use crate::azure::cloud::Cloud;
use crate::azure::token_cache;
use crate::util::deadline::{Deadline, TimedOut};
use crate::util::text::one_line;
use crate::util::{dirs, process};

/// Environment variable equivalent of `--auth`.
pub const AUTH_ENV: &str = "AZML_SSH_AUTH";

/// An Entra ID tenant: a GUID or a verified domain name. Tenant IDs reach us from ARM's answers and end up on a
/// command line (`az ... --tenant`), so only these characters are ever accepted.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub(crate) struct TenantId(String);

#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a tenant ID (a GUID or a domain name)")]
pub(crate) struct InvalidTenantId(String);

impl std::str::FromStr for TenantId {
    type Err = InvalidTenantId;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let plausible = (1..=253).contains(&text.len())
            && !text.starts_with(['-', '.'])
            && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if plausible { Ok(TenantId(text.to_ascii_lowercase())) } else { Err(InvalidTenantId(text.to_owned())) }
    }
}

impl TryFrom<String> for TenantId {
    type Error = InvalidTenantId;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<TenantId> for String {
    fn from(tenant: TenantId) -> String {
        tenant.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TenantId {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// Which credential to use. `Auto` is the chain; every other value forces one credential.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AuthMethod {
    /// Service principal from the environment, then workload identity, then `az login`, then `azd auth login`.
    #[default]
    Auto,
    /// Service principal: AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET.
    Env,
    /// Workload identity: AZURE_FEDERATED_TOKEN_FILE with AZURE_TENANT_ID and AZURE_CLIENT_ID.
    WorkloadIdentity,
    /// The Azure CLI's login (`az login`).
    Cli,
    /// The Azure Developer CLI's login (`azd auth login`).
    Azd,
    /// The managed identity of the Azure machine this runs on (never tried unless asked for).
    ManagedIdentity,
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthMethod::Auto => "automatic",
            AuthMethod::Env => "service principal (environment)",
            AuthMethod::WorkloadIdentity => "workload identity",
            AuthMethod::Cli => "Azure CLI",
            AuthMethod::Azd => "Azure Developer CLI",
            AuthMethod::ManagedIdentity => "managed identity",
        })
    }
}

impl AuthMethod {
    /// Every method, for `--auth`'s values and the tests that check they round-trip.
    pub const ALL: [AuthMethod; 6] = [
        AuthMethod::Auto,
        AuthMethod::Env,
        AuthMethod::WorkloadIdentity,
        AuthMethod::Cli,
        AuthMethod::Azd,
        AuthMethod::ManagedIdentity,
    ];

    /// The stable name: what `--auth` and `AZML_SSH_AUTH` take, and what the token cache records.
    pub fn name(self) -> &'static str {
        match self {
            AuthMethod::Auto => "auto",
            AuthMethod::Env => "env",
            AuthMethod::WorkloadIdentity => "workload-identity",
            AuthMethod::Cli => "cli",
            AuthMethod::Azd => "azd",
            AuthMethod::ManagedIdentity => "managed-identity",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<AuthMethod> {
        AuthMethod::ALL.into_iter().find(|m| m.name() == name)
    }

    /// What the user should do when this credential fails (for `tenant`, when it is not the default one).
    fn remedy_in(self, tenant: Option<&TenantId>) -> String {
        match (self, tenant) {
            (AuthMethod::Auto | AuthMethod::Cli, Some(t)) => format!("run `az login --tenant {t}`"),
            (AuthMethod::Azd, Some(t)) => format!("run `azd auth login --tenant-id {t}`"),
            _ => self.remedy().to_owned(),
        }
    }

    /// What the user should do when this credential fails.
    fn remedy(self) -> &'static str {
        match self {
            AuthMethod::Auto | AuthMethod::Cli => "run `az login`",
            AuthMethod::Env => {
                "check AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or unset them to use `az login`)"
            }
            AuthMethod::WorkloadIdentity => "check AZURE_FEDERATED_TOKEN_FILE, AZURE_TENANT_ID and AZURE_CLIENT_ID",
            AuthMethod::Azd => "run `azd auth login`",
            AuthMethod::ManagedIdentity => {
                "managed identity works only on an Azure resource that has one; use `az login` elsewhere"
            }
        }
    }
}

/// An access token. Its Debug form is redacted so it can never reach a log by accident.
#[derive(Clone)]
pub(crate) struct Token {
    secret: String,
    /// Unix time at which the token expires.
    pub expires_on: i64,
    /// The credential that produced it.
    pub method: AuthMethod,
    /// Where it is cached (see [`cache_key`]); set when it came from or went into the token cache.
    pub cache_key: Option<String>,
    /// It came from the cache rather than from the credential just now, so a refusal may mean it is stale.
    pub from_cache: bool,
    /// The tenant it was asked for, when not the credential's default.
    pub tenant: Option<TenantId>,
}

impl Token {
    pub(crate) fn secret(&self) -> &str {
        &self.secret
    }

    /// A claim of the (unverified) token payload, such as `tid` or `upn`.
    pub(crate) fn claim(&self, name: &str) -> Option<String> {
        use base64::Engine as _;
        let payload = self.secret.split('.').nth(1)?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
        let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        claims.get(name)?.as_str().map(str::to_owned)
    }

    /// The sign-in names the token carries (`upn`, `unique_name`, `email`, `preferred_username`): what ARM records
    /// as who created a resource (`systemData.createdBy`). Empty for a service principal.
    pub(crate) fn sign_in_names(&self) -> Vec<String> {
        ["upn", "unique_name", "email", "preferred_username"].iter().filter_map(|c| self.claim(c)).collect()
    }

    /// The signed-in identity's object ID (`oid` claim). The token is only decoded, not verified: it came from
    /// our own credential, and the answer only filters which instances are listed.
    pub(crate) fn object_id(&self) -> Option<String> {
        self.claim("oid")
    }

    /// The tenant that issued it (`tid` claim), if the token says.
    pub(crate) fn tenant_id(&self) -> Option<TenantId> {
        self.claim("tid").and_then(|t| t.parse().ok())
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("secret", &"<redacted>")
            .field("expires_on", &self.expires_on)
            .field("method", &self.method)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum CredentialError {
    #[error("not signed in to Azure{in_tenant}: {remedy} (or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET for a service principal); {details}",
        in_tenant = tenant.as_ref().map(|t| format!(" (tenant {t})")).unwrap_or_default(),
        remedy = AuthMethod::Cli.remedy_in(tenant.as_ref()))]
    NotSignedIn { details: String, tenant: Option<TenantId> },
    #[error(
        "no Azure credential: the Azure CLI (`az`) is not on PATH; install it and run `az login`, or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET for a service principal{details}"
    )]
    NoCli { details: String },
    #[error("{method} sign-in{in_tenant} failed: {message}; {remedy}",
        in_tenant = tenant.as_ref().map(|t| format!(" to tenant {t}")).unwrap_or_default(),
        remedy = method.remedy_in(tenant.as_ref()))]
    Failed { method: AuthMethod, message: String, tenant: Option<TenantId> },
    #[error("--auth {flag} needs {needs}", flag = method.name())]
    NotConfigured { method: AuthMethod, needs: &'static str },
    #[error(transparent)]
    TimedOut(#[from] TimedOut),
    #[error(
        "{method} cannot sign in to another tenant ({tenant}); use `az login` (--auth cli) for compute instances in other tenants"
    )]
    NoOtherTenant { method: AuthMethod, tenant: TenantId },
}

fn env_set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty())
}

fn service_principal_configured() -> bool {
    env_set("AZURE_TENANT_ID") && env_set("AZURE_CLIENT_ID") && env_set("AZURE_CLIENT_SECRET")
}

fn workload_identity_configured() -> bool {
    env_set("AZURE_FEDERATED_TOKEN_FILE") && env_set("AZURE_TENANT_ID") && env_set("AZURE_CLIENT_ID")
}

fn client_options(cloud: Cloud) -> ClientOptions {
    ClientOptions { cloud: cloud.identity_cloud().map(Arc::new), ..Default::default() }
}

fn build(
    method: AuthMethod,
    cloud: Cloud,
    tenant: Option<&TenantId>,
) -> Result<Arc<dyn TokenCredential>, CredentialError> {
    let failed =
        |e: azure_core::Error| CredentialError::Failed { method, message: sdk_message(&e), tenant: tenant.cloned() };
    Ok(match method {
        AuthMethod::Env if !service_principal_configured() => {
            let needs = "AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET";
            return Err(CredentialError::NotConfigured { method, needs });
        }
        AuthMethod::Env => service_principal(cloud, tenant).map_err(failed)?,
        AuthMethod::WorkloadIdentity => {
            if !workload_identity_configured() {
                return Err(CredentialError::NotConfigured {
                    method,
                    needs: "AZURE_FEDERATED_TOKEN_FILE, AZURE_TENANT_ID and AZURE_CLIENT_ID",
                });
            }
            let mut options = WorkloadIdentityCredentialOptions::default();
            options.credential_options.client_options = client_options(cloud);
            options.tenant_id = tenant.map(ToString::to_string);
            WorkloadIdentityCredential::new(Some(options)).map_err(failed)?
        }
        AuthMethod::Cli => {
            let options = AzureCliCredentialOptions {
                tenant_id: tenant.map(ToString::to_string),
                executor: Some(Arc::new(Windowless)),
                ..Default::default()
            };
            AzureCliCredential::new(Some(options)).map_err(failed)?
        }
        AuthMethod::Azd => {
            let options = AzureDeveloperCliCredentialOptions {
                tenant_id: tenant.map(ToString::to_string),
                executor: Some(Arc::new(Windowless)),
            };
            AzureDeveloperCliCredential::new(Some(options)).map_err(failed)?
        }
        AuthMethod::ManagedIdentity => {
            if let Some(tenant) = tenant {
                return Err(CredentialError::NoOtherTenant { method, tenant: tenant.clone() });
            }
            let options =
                ManagedIdentityCredentialOptions { client_options: client_options(cloud), ..Default::default() };
            ManagedIdentityCredential::new(Some(options)).map_err(failed)?
        }
        AuthMethod::Auto => unreachable!("auto is a chain, not a credential"),
    })
}

/// How azure_identity runs `az` and `azd` (`cmd /C …` on Windows, `/bin/sh -c …` elsewhere): as its own tokio
/// executor does, but without a console window, which a proxy started by a console-less ssh.exe would otherwise
/// open on every sign-in; and killed when a deadline gives up on it rather than left running.
#[derive(Debug)]
struct Windowless;

#[async_trait::async_trait]
impl azure_identity::Executor for Windowless {
    async fn run(&self, program: &OsStr, args: &[&OsStr]) -> std::io::Result<Output> {
        let mut command = tokio::process::Command::from(process::background(program));
        command.args(args).kill_on_drop(true).output().await
    }
}

/// The service principal the environment names (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`).
fn service_principal(cloud: Cloud, tenant: Option<&TenantId>) -> azure_core::Result<Arc<ClientSecretCredential>> {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    // A multi-tenant application signs in to another tenant through that tenant's authority; the configured
    // tenant is only the default.
    let tenant = tenant.map_or_else(|| var("AZURE_TENANT_ID"), ToString::to_string);
    let options = ClientSecretCredentialOptions { client_options: client_options(cloud) };
    ClientSecretCredential::new(&tenant, var("AZURE_CLIENT_ID"), var("AZURE_CLIENT_SECRET").into(), Some(options))
}

async fn token_from(
    method: AuthMethod,
    cloud: Cloud,
    tenant: Option<&TenantId>,
    deadline: &Deadline,
) -> Result<Token, CredentialError> {
    let credential = build(method, cloud, tenant)?;
    let scope = cloud.management_scope();
    tracing::debug!(%method, scope, ?tenant, "requesting a token");
    let tenant = tenant.cloned();
    let in_tenant = tenant.as_ref().map(|t| format!(" to tenant {t}")).unwrap_or_default();
    match deadline.run(format!("signing in{in_tenant} with {method}"), credential.get_token(&[scope], None)).await {
        Err(timed_out) => Err(timed_out.with_note(method.remedy_in(tenant.as_ref())).into()),
        Ok(Err(e)) => Err(CredentialError::Failed { method, message: sdk_message(&e), tenant }),
        Ok(Ok(token)) => {
            let (secret, expires_on) = (token.token.secret().to_owned(), token.expires_on.unix_timestamp());
            Ok(Token { secret, expires_on, method, cache_key: None, from_cache: false, tenant })
        }
    }
}

/// The token cache key: what was asked for (the method, the identity the environment selects, the tenant) and
/// for which scope.
fn cache_key(method: AuthMethod, cloud: Cloud, tenant: Option<&TenantId>) -> String {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let tenant = tenant.map(TenantId::as_str).unwrap_or("default");
    format!(
        "{}|{}|{}|{}|{tenant}",
        method.name(),
        var("AZURE_TENANT_ID"),
        var("AZURE_CLIENT_ID"),
        cloud.management_scope()
    )
}

/// A fingerprint of the files a developer tool keeps its sign-in in (identity, size and time of each, or their
/// absence). `az login`, `az logout` and `az account set` rewrite or remove them, so a token cached under one
/// fingerprint is not handed out under another: signing out means signed out, at once.
fn login_state(method: AuthMethod) -> Option<String> {
    let (dir, files): (_, &[&str]) = match method {
        AuthMethod::Cli => {
            (dirs::azure_cli_config()?, &["azureProfile.json", "msal_token_cache.json", "msal_token_cache.bin"])
        }
        AuthMethod::Azd => (dirs::azd_config()?, &["config.json", "auth/msal/cache.json", "auth"]),
        _ => return None,
    };
    let parts: Vec<String> = files
        .iter()
        .map(|name| match std::fs::metadata(dir.join(name)) {
            Ok(m) => format!("{name}:{}", crate::util::fs::file_identity(&m)),
            Err(_) => format!("{name}:-"),
        })
        .collect();
    Some(parts.join("|"))
}

/// Like [`get_token`], but reuses a cached token that is not about to expire (and whose sign-in state is
/// unchanged), and caches a new one.
pub(crate) async fn cached_token(
    method: AuthMethod,
    cloud: Cloud,
    tenant: Option<&TenantId>,
    deadline: &Deadline,
) -> Result<Token, CredentialError> {
    let key = cache_key(method, cloud, tenant);
    if let Some(entry) = token_cache::get(&key) {
        let produced_by = AuthMethod::from_name(&entry.method).unwrap_or(method);
        if entry.login_state == login_state(produced_by) {
            tracing::debug!(method = %produced_by, "using a cached token");
            return Ok(Token {
                secret: entry.secret,
                expires_on: entry.expires_on,
                method: produced_by,
                cache_key: Some(key),
                from_cache: true,
                tenant: tenant.cloned(),
            });
        }
        tracing::debug!(method = %produced_by, "the sign-in changed since the token was cached; asking again");
        token_cache::forget(&key);
    }
    let mut token = get_token(method, cloud, tenant, deadline).await?;
    token_cache::put(
        &key,
        token_cache::Entry {
            secret: token.secret.clone(),
            expires_on: token.expires_on,
            method: token.method.name().to_owned(),
            login_state: login_state(token.method),
        },
    );
    token.cache_key = Some(key);
    Ok(token)
}

/// Forgets a cached token that a server refused, so the next attempt asks the credential again.
pub(crate) fn forget_cached(token: &Token) {
    if let Some(key) = &token.cache_key {
        token_cache::forget(key);
    }
}

/// Gets a token for the cloud's management scope (in `tenant`, when given), every credential attempt ending by
/// `deadline`.
pub(crate) async fn get_token(
    method: AuthMethod,
    cloud: Cloud,
    tenant: Option<&TenantId>,
    deadline: &Deadline,
) -> Result<Token, CredentialError> {
    if method != AuthMethod::Auto {
        return token_from(method, cloud, tenant, deadline).await;
    }
    // A credential the user configured explicitly through the environment is final: falling back to a different
    // identity would hide their misconfiguration behind a confusing permission error later.
    if service_principal_configured() {
        return token_from(AuthMethod::Env, cloud, tenant, deadline).await;
    }
    if workload_identity_configured() {
        return token_from(AuthMethod::WorkloadIdentity, cloud, tenant, deadline).await;
    }
    let cli_error = match token_from(AuthMethod::Cli, cloud, tenant, deadline).await {
        Ok(token) => return Ok(token),
        Err(e) => e,
    };
    tracing::debug!("Azure CLI gave no token ({cli_error}); trying the Azure Developer CLI");
    let azd_error = match token_from(AuthMethod::Azd, cloud, tenant, deadline).await {
        Ok(token) => return Ok(token),
        Err(e) => e,
    };
    let (cli, azd) = (cli_error.reason(), azd_error.reason());
    let cli_missing = tool_missing(&cli);
    // azd is the fallback most people do not have; mention it only when it is installed and failed too.
    let azd_note = if tool_missing(&azd) { String::new() } else { format!("; azd: {azd}") };
    Err(if cli_missing {
        CredentialError::NoCli { details: azd_note }
    } else {
        CredentialError::NotSignedIn { details: format!("Azure CLI: {cli}{azd_note}"), tenant: tenant.cloned() }
    })
}

/// Whether a developer tool's failure says it is not installed: azure_identity's own words, or (on Windows,
/// where it runs the tool through `cmd /C`) cmd's "is not recognized as an internal or external command", which
/// Wine words "Can't recognize … as an internal or external command".
fn tool_missing(reason: &str) -> bool {
    reason.contains("not found on PATH") || reason.contains("as an internal or external command")
}

impl CredentialError {
    /// The credential's own words, without our remedy.
    pub(crate) fn reason(&self) -> String {
        match self {
            CredentialError::Failed { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }
}

/// azure_identity prefixes every message with "<Credential> authentication failed."; the user already knows which
/// credential from our wording, so only the tool's own words are kept.
fn sdk_message(error: &azure_core::Error) -> String {
    let text = one_line(&error.to_string());
    match text.split_once(" authentication failed. ") {
        Some((prefix, rest)) if prefix.ends_with("Credential") && !prefix.contains(' ') => rest.to_owned(),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_debug_never_shows_the_secret() {
        let token = Token {
            secret: "eyJ-very-secret".into(),
            expires_on: 1,
            method: AuthMethod::Cli,
            cache_key: None,
            from_cache: false,
            tenant: None,
        };
        assert!(!format!("{token:?}").contains("very-secret"));
    }

    #[test]
    fn object_id_comes_from_the_oid_claim() {
        // {"alg":"none"} . {"oid":"1234-abcd","tid":"t"} . sig
        let secret = "eyJhbGciOiJub25lIn0.eyJvaWQiOiIxMjM0LWFiY2QiLCJ0aWQiOiJ0In0.c2ln".to_owned();
        let token =
            Token { secret, expires_on: 0, method: AuthMethod::Cli, cache_key: None, from_cache: false, tenant: None };
        assert_eq!(token.object_id().as_deref(), Some("1234-abcd"));
        let opaque = Token {
            secret: "not-a-jwt".into(),
            expires_on: 0,
            method: AuthMethod::Cli,
            cache_key: None,
            from_cache: false,
            tenant: None,
        };
        assert_eq!(opaque.object_id(), None);
    }

    #[test]
    fn method_names_round_trip() {
        for method in AuthMethod::ALL {
            assert_eq!(AuthMethod::from_name(method.name()), Some(method));
        }
        assert_eq!(AuthMethod::from_name("Cli"), None);
    }

    #[test]
    fn tenant_ids_are_guids_or_domains() {
        assert_eq!(
            "72F988BF-86F1-41AF-91AB-2D7CD011DB47".parse::<TenantId>().unwrap().as_str(),
            "72f988bf-86f1-41af-91ab-2d7cd011db47"
        );
        assert!("contoso.onmicrosoft.com".parse::<TenantId>().is_ok());
        for bad in ["", "a b", "t;rm -rf", "-t", "$(id)", "t/x", "t\n"] {
            assert!(bad.parse::<TenantId>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn other_tenants_get_their_own_remedy() {
        let tenant: TenantId = "22222222-0000-0000-0000-000000000002".parse().unwrap();
        let err = CredentialError::Failed {
            method: AuthMethod::Cli,
            message: "AADSTS50076: MFA".into(),
            tenant: Some(tenant),
        };
        assert!(err.to_string().ends_with("run `az login --tenant 22222222-0000-0000-0000-000000000002`"), "{err}");
    }

    #[test]
    fn forced_method_names_its_flag() {
        let err = CredentialError::NotConfigured { method: AuthMethod::WorkloadIdentity, needs: "X" };
        assert_eq!(err.to_string(), "--auth workload-identity needs X");
    }
}
