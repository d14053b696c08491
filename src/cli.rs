//! Command-line definitions.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use azml_ssh::cache::{self, MAX_AGE_ENV};
use azml_ssh::cloud::Cloud;
use azml_ssh::credential::{AUTH_ENV, AuthMethod};

#[derive(Debug, Parser)]
#[command(
    name = "azml-ssh",
    version,
    about = "ssh to Azure Machine Learning compute instances by name",
    long_about = "ssh to Azure Machine Learning compute instances by name.\n\n\
        azml-ssh is used as an ssh ProxyCommand: at connect time it finds the instance's current SSH endpoint \
        through Azure Resource Manager and relays the SSH stream, so ~/.ssh/config never holds an IP address."
)]
pub struct Cli {
    /// More diagnostics on stderr (-v debug, -vv trace, -vvv include HTTP libraries); see also AZML_SSH_LOG.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Connect stdin/stdout to a compute instance's SSH port (for ProxyCommand).
    #[command(after_help = "Example ~/.ssh/config entry:\n\n  \
        Host azmlci1\n      \
        User azureuser\n      \
        IdentityFile ~/.ssh/id_azmlcitest_rsa\n      \
        ProxyCommand azml-ssh proxy /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.MachineLearningServices/workspaces/<ws>/computes/<ci>")]
    Proxy(ProxyArgs),
}

/// How to reach Azure; shared by every command that talks to it.
#[derive(Debug, Args)]
pub struct AzureArgs {
    /// The Azure cloud (the ARM URL can be overridden with AZML_SSH_ARM_ENDPOINT).
    #[arg(long, value_enum, default_value_t = Cloud::AzureCloud)]
    pub cloud: Cloud,

    /// Which credential to use; `auto` tries a service principal from the environment, workload identity, the
    /// Azure CLI and the Azure Developer CLI, in that order. Managed identity is used only when chosen here.
    #[arg(long, value_enum, env = AUTH_ENV, default_value_t = AuthMethod::Auto)]
    pub auth: AuthMethod,

    /// Give up on Azure (sign-in and lookup, retries included) after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// The compute instance's full ARM resource ID:
    /// /subscriptions/<guid>/resourceGroups/<rg>/providers/Microsoft.MachineLearningServices/workspaces/<ws>/computes/<name>
    #[arg(value_name = "COMPUTE_RESOURCE_ID", allow_hyphen_values = true)]
    pub resource_id: String,

    /// Use a cached endpoint younger than this without asking Azure (e.g. 90s, 15m, 1h; 0 disables the cache).
    #[arg(long, value_name = "AGE", env = MAX_AGE_ENV, default_value = "1h", value_parser = cache::parse_max_age)]
    pub cache_max_age: Duration,

    #[command(flatten)]
    pub azure: AzureArgs,
}
