use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use azml_ssh::proxy::{self, ProxyOptions};
use azml_ssh::resolve::AzureOptions;
use azml_ssh::resource_id::ComputeId;

mod cli;

use cli::{AzureArgs, Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    azml_ssh::logging::init(cli.verbose);
    let result = match cli.command {
        Command::Proxy(args) => run_proxy(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            let _ = writeln!(std::io::stderr(), "azml-ssh: {message}");
            ExitCode::FAILURE
        }
    }
}

fn azure_options(args: &AzureArgs) -> AzureOptions {
    AzureOptions {
        cloud: args.cloud,
        auth: args.auth,
        timeout: Duration::from_secs(args.timeout),
    }
}

fn run_proxy(args: cli::ProxyArgs) -> Result<(), String> {
    let id: ComputeId = args.resource_id.parse().map_err(|e| format!("{e}"))?;
    let options = ProxyOptions {
        azure: azure_options(&args.azure),
        cache_max_age: args.cache_max_age,
    };
    let result = proxy::run(&id, &options).map_err(|e| e.to_string());
    // The relay may leave a thread blocked on stdin that ssh never closes; exiting here, rather than returning
    // through the runtime and thread teardown, ends the process as soon as the stream is done.
    let code = match &result {
        Ok(()) => 0,
        Err(message) => {
            let _ = writeln!(std::io::stderr(), "azml-ssh: {message}");
            1
        }
    };
    std::process::exit(code)
}
