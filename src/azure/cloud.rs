//! Which Azure cloud we talk to: its Resource Manager URL and the token scope ARM accepts.

use std::fmt;

use crate::transport::tunnel::{AllowedGateway, Gateway, GatewayDomains};

/// Environment variable that replaces the ARM base URL (tests, Azure Stack, private endpoints). The token scope
/// stays the selected cloud's, because the token is still issued by that cloud's Entra ID.
pub(crate) const ARM_ENDPOINT_ENV: &str = "AZML_SSH_ARM_ENDPOINT";

/// Environment variable naming the domains (comma-separated) tunnel gateways may be under, replacing the cloud's.
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

    /// The gateway domains in effect: `AZML_SSH_GATEWAY_DOMAINS` when set, else the cloud's.
    pub(crate) fn gateway_domains(self) -> GatewayDomains {
        match std::env::var(GATEWAY_DOMAINS_ENV) {
            Ok(list) if !list.trim().is_empty() => GatewayDomains::new(list.split(',').map(str::to_owned)),
            _ => GatewayDomains::new(self.instance_domains().iter().map(|d| d.to_string())),
        }
    }

    /// `gateway`, if it is under one of the gateway domains in effect: the only way to a gateway the tunnel
    /// sends a token to.
    pub(crate) fn allow(self, gateway: &Gateway) -> Option<AllowedGateway> {
        AllowedGateway::check(gateway, &self.gateway_domains())
    }

    /// Whether `host` is, or is under, one of the gateway domains in effect.
    pub(crate) fn gateway_allowed(self, host: &str) -> bool {
        self.gateway_domains().allows(host)
    }
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{ARM_ENDPOINT_ENV}={value:?} is not usable: {why}")]
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
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    if url.scheme() == "http" && !loopback {
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
