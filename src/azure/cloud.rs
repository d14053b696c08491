//! Which Azure cloud we talk to: its Resource Manager URL and the token scope ARM accepts.

use std::fmt;

use crate::transport::tunnel::{AllowedGateway, Gateway, GatewayDomains, GatewayService};

/// Environment variable that replaces the ARM base URL (tests, Azure Stack, private endpoints). The token scope
/// stays the selected cloud's, because the token is still issued by that cloud's Entra ID.
pub(crate) const ARM_ENDPOINT_ENV: &str = "AZML_SSH_ARM_ENDPOINT";

/// Environment variable naming the domains (comma-separated) tunnel gateways and the Azure ML API may be under,
/// replacing the cloud's lists (instances', job nodes' and the API's alike).
pub(crate) const GATEWAY_DOMAINS_ENV: &str = "AZML_SSH_GATEWAY_DOMAINS";

/// An Azure cloud, named as `az cloud list` names it: its ARM endpoint, token scope and instance domains differ.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Cloud {
    /// Azure's public cloud.
    #[default]
    AzureCloud,
    /// Azure operated by 21Vianet in China.
    AzureChinaCloud,
    /// Azure Government (US).
    AzureUsGovernment,
}

impl Cloud {
    /// Every cloud, for `--cloud`'s values and the tests that check they round-trip.
    pub const ALL: [Cloud; 3] = [Cloud::AzureCloud, Cloud::AzureChinaCloud, Cloud::AzureUsGovernment];

    /// The name the Azure CLI uses (`az cloud list`), and `--cloud` takes.
    pub fn name(self) -> &'static str {
        match self {
            Cloud::AzureCloud => "AzureCloud",
            Cloud::AzureChinaCloud => "AzureChinaCloud",
            Cloud::AzureUsGovernment => "AzureUSGovernment",
        }
    }

    pub(crate) fn arm_base(self) -> &'static str {
        match self {
            Cloud::AzureCloud => "https://management.azure.com",
            Cloud::AzureChinaCloud => "https://management.chinacloudapi.cn",
            Cloud::AzureUsGovernment => "https://management.usgovcloudapi.net",
        }
    }

    /// The OAuth scope for ARM. `management.core.*` is the form the Azure CLI uses, and the one the Azure ML
    /// tunnel gateway accepts too, so one cached token serves both.
    pub(crate) fn management_scope(self) -> &'static str {
        match self {
            Cloud::AzureCloud => "https://management.core.windows.net/.default",
            Cloud::AzureChinaCloud => "https://management.core.chinacloudapi.cn/.default",
            Cloud::AzureUsGovernment => "https://management.core.usgovcloudapi.net/.default",
        }
    }

    /// azure_identity's name for the cloud, so service-principal logins go to the right authority. The public
    /// cloud is left unnamed: only then does azure_identity honour `AZURE_AUTHORITY_HOST`, as every Azure SDK does.
    pub(crate) fn identity_cloud(self) -> Option<azure_core::cloud::CloudConfiguration> {
        use azure_core::cloud::CloudConfiguration;
        match self {
            Cloud::AzureCloud => None,
            Cloud::AzureChinaCloud => Some(CloudConfiguration::AzureChina),
            Cloud::AzureUsGovernment => Some(CloudConfiguration::AzureGovernment),
        }
    }
}

impl Cloud {
    /// Where compute instances' gateways (their Jupyter hosts) live. The bearer token goes to the gateway, so a
    /// gateway elsewhere — from a hostile answer or a planted cache entry — is refused. The lists are the compute
    /// instance hosts of Microsoft's "configure inbound and outbound network traffic" firewall tables and the
    /// `<instance>.<region>.instances.ml.azure.*` names of its custom-DNS guide.
    fn instance_domains(self) -> &'static [&'static str] {
        match self {
            Cloud::AzureCloud => &["instances.azureml.ms", "instances.azureml.net"],
            Cloud::AzureChinaCloud => &["instances.azureml.cn", "instances.ml.azure.cn"],
            Cloud::AzureUsGovernment => &["instances.azureml.us", "instances.ml.azure.us"],
        }
    }

    /// Where the gateways of training-job nodes live (a job's SSH service's `ProxyEndpoint`,
    /// `ssh-<id>.<region>.nodes.azureml.ms`). Only the public cloud's domain is on record (Azure/azure-dev's tests,
    /// users' scripts); the sovereign clouds' follow their instance domains' two spellings and are not confirmed,
    /// so `AZML_SSH_GATEWAY_DOMAINS` can replace them (docs/design/jobs.md).
    fn node_domains(self) -> &'static [&'static str] {
        match self {
            Cloud::AzureCloud => &["nodes.azureml.ms"],
            Cloud::AzureChinaCloud => &["nodes.azureml.cn", "nodes.ml.azure.cn"],
            Cloud::AzureUsGovernment => &["nodes.azureml.us", "nodes.ml.azure.us"],
        }
    }

    /// Where a workspace's Azure ML API (run history) lives: the `api` host of its discovery document, which gets
    /// the ARM token. The hosts of the Azure ML SDK's cloud table (`<region>.api.azureml.ms`, `.api.ml.azure.cn`,
    /// `.api.ml.azure.us`); private-link workspaces' `<guid>.workspace.<region>.api…` names are under them.
    fn api_domains(self) -> &'static [&'static str] {
        match self {
            Cloud::AzureCloud => &["api.azureml.ms"],
            Cloud::AzureChinaCloud => &["api.ml.azure.cn"],
            Cloud::AzureUsGovernment => &["api.ml.azure.us"],
        }
    }

    /// The domains in effect for `kind` of host: `AZML_SSH_GATEWAY_DOMAINS` when set (it replaces every list),
    /// else the cloud's.
    fn domains(self, kind: HostKind) -> GatewayDomains {
        if let Ok(list) = std::env::var(GATEWAY_DOMAINS_ENV)
            && !list.trim().is_empty()
        {
            return GatewayDomains::new(list.split(',').map(str::to_owned));
        }
        let names = match kind {
            HostKind::Gateway(GatewayService::Instance) => self.instance_domains(),
            HostKind::Gateway(GatewayService::JobNode) => self.node_domains(),
            HostKind::Api => self.api_domains(),
        };
        GatewayDomains::new(names.iter().map(|d| d.to_string()))
    }

    /// The instance gateway domains in effect (for messages and doctor).
    pub(crate) fn gateway_domains(self) -> GatewayDomains {
        self.domains(HostKind::Gateway(GatewayService::Instance))
    }

    /// `gateway`, if it is under one of the domains in effect for its kind (instances' or job nodes'): the only
    /// way to a gateway the tunnel sends a token to.
    pub(crate) fn allow(self, gateway: &Gateway) -> Option<AllowedGateway> {
        AllowedGateway::check(gateway, &self.domains(HostKind::Gateway(gateway.service)))
    }

    /// Whether `gateway`'s host is, or is under, one of the domains in effect for its kind.
    pub(crate) fn gateway_allowed(self, gateway: &Gateway) -> bool {
        self.domains(HostKind::Gateway(gateway.service)).allows(&gateway.host)
    }

    /// The domains a gateway of `service` must be under, for the message that refuses one.
    pub(crate) fn domain_names(self, service: GatewayService) -> String {
        self.domains(HostKind::Gateway(service)).names().join(", ")
    }

    /// The Azure ML API base a discovery document names, if the ARM token may go there: https under the cloud's
    /// API domains (or `AZML_SSH_GATEWAY_DOMAINS`), plain http only on loopback.
    pub(crate) fn api_base(self, text: &str) -> Result<ApiBase, UntrustedApi> {
        let untrusted = |why: String| UntrustedApi { url: crate::util::text::one_line_max(text, 200), why };
        let url = parse_base_url(text).map_err(|e| untrusted(e.to_string()))?;
        let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_owned();
        let domains = self.domains(HostKind::Api);
        if !domains.allows(&host) {
            return Err(untrusted(format!("{host} is outside {}", domains.names().join(", "))));
        }
        Ok(ApiBase(url))
    }
}

/// Which kind of Azure ML host a name must be allowed as.
#[derive(Clone, Copy, Debug)]
enum HostKind {
    Gateway(GatewayService),
    Api,
}

/// A workspace's Azure ML API base URL that passed [`Cloud::api_base`]: the only kind of URL outside ARM that
/// gets the ARM token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ApiBase(reqwest::Url);

impl ApiBase {
    /// The base URL.
    pub(crate) fn url(&self) -> &reqwest::Url {
        &self.0
    }

    /// Whether `url` is on this base's origin (scheme, host and port).
    pub(crate) fn holds(&self, url: &reqwest::Url) -> bool {
        url.origin() == self.0.origin()
    }
}

/// A discovery document named an API host the token may not go to.
#[derive(Debug, thiserror::Error)]
#[error(
    "the workspace's discovery document names the Azure ML API {url:?}, which gets no token: {why} (set AZML_SSH_GATEWAY_DOMAINS if your cloud uses another domain)"
)]
pub(crate) struct UntrustedApi {
    url: String,
    why: String,
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{ARM_ENDPOINT_ENV}={value:?} is not usable: {why}; fix it, or unset it to use the cloud's")]
pub(crate) struct BadArmEndpoint {
    value: String,
    why: BadUrl,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum BadUrl {
    #[error("{0}")]
    Parse(#[from] url::ParseError),
    #[error("the scheme must be http or https")]
    Scheme,
    #[error("it has no host")]
    NoHost,
    #[error("it must be a plain http(s)://host[:port][/path] base")]
    NotPlain,
    #[error(
        "plain http would send the access token unencrypted; use https (http is allowed only for 127.0.0.1, ::1 and localhost)"
    )]
    PlainHttp,
}

/// The ARM base URL in effect: `AZML_SSH_ARM_ENDPOINT` when set, otherwise the cloud's.
pub(crate) fn arm_base_url(cloud: Cloud) -> Result<reqwest::Url, BadArmEndpoint> {
    match std::env::var(ARM_ENDPOINT_ENV) {
        Ok(value) if !value.is_empty() => parse_base_url(&value).map_err(|why| BadArmEndpoint { value, why }),
        _ => parse_base_url(cloud.arm_base()).map_err(|why| BadArmEndpoint { value: cloud.arm_base().into(), why }),
    }
}

/// Whether `url`'s host is this machine (127.0.0.0/8, ::1, localhost): the only place plain http may go.
pub(crate) fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

fn parse_base_url(text: &str) -> Result<reqwest::Url, BadUrl> {
    let url = reqwest::Url::parse(text)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(BadUrl::Scheme);
    }
    if url.host().is_none() {
        return Err(BadUrl::NoHost);
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(BadUrl::NotPlain);
    }
    if url.scheme() == "http" && !is_loopback(&url) {
        return Err(BadUrl::PlainHttp);
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateways_must_be_under_the_clouds_instance_domain() {
        let in_cloud = |cloud: Cloud, host: &str| {
            GatewayDomains::new(cloud.instance_domains().iter().map(|d| d.to_string())).allows(host)
        };
        let allowed = |host: &str| in_cloud(Cloud::AzureCloud, host);
        assert!(allowed("ci1.eastus2.instances.azureml.ms"));
        assert!(allowed("CI1.EastUS2.instances.azureml.ms"));
        assert!(allowed("ci1.eastus2.instances.azureml.net"));
        assert!(!allowed("ci1.eastus2.instances.azureml.ms.attacker.example"));
        assert!(!allowed("evilinstances.azureml.ms"));
        assert!(!allowed("127.0.0.2"));
        assert!(in_cloud(Cloud::AzureChinaCloud, "ci1.chinaeast2.instances.ml.azure.cn"));
        assert!(in_cloud(Cloud::AzureUsGovernment, "ci1.usgovvirginia.instances.ml.azure.us"));
        assert!(!in_cloud(Cloud::AzureChinaCloud, "ci1.eastus2.instances.azureml.ms"), "each cloud has its own");
        assert!(!allowed("ci1.usgovvirginia.instances.azureml.us"));
    }

    #[test]
    fn base_urls_accept_plain_http_and_https_only() {
        assert!(parse_base_url("http://127.0.0.1:8080").is_ok());
        assert!(parse_base_url("http://[::1]:8080").is_ok());
        assert!(parse_base_url("http://localhost:8080").is_ok());
        assert!(matches!(parse_base_url("http://arm.example.com"), Err(BadUrl::PlainHttp)));
        assert!(matches!(parse_base_url("http://10.0.0.4:8080"), Err(BadUrl::PlainHttp)));
        assert!(parse_base_url("https://arm.local:443/prefix").is_ok());
        assert!(parse_base_url("ftp://x").is_err());
        assert!(parse_base_url("http://x/?a=b").is_err());
        assert!(parse_base_url("not a url").is_err());
    }
}
