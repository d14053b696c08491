use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use std::path::{Path, PathBuf};

use azml_ssh::commands::{self, Discover, HostSettings, WriteOptions};
use azml_ssh::lifecycle::StartOptions;
use azml_ssh::proxy::{self, ProxyOptions};
use azml_ssh::resolve::AzureOptions;
use azml_ssh::resource_id::ComputeId;
use azml_ssh::status;
use azml_ssh::tunnel::Gateway;

mod cli;

use cli::{AzureArgs, Cli, Command, HostArgs, WriteArgs};

fn main() -> ExitCode {
    let cli = Cli::parse();
    azml_ssh::logging::init(cli.verbose, cli.log_file.as_deref());
    let result = match cli.command {
        Command::Proxy(args) => run_proxy(args),
        Command::Config(args) => run_config(args),
        Command::Add(args) => commands::add(
            &args.alias,
            &args.resource_id,
            &host_settings(&args.host),
            &write_options(&args.write, &args.host),
        ),
        Command::Remove(args) => commands::remove(&args.alias, &write_options(&args.write, &NO_HOST)),
        Command::List(args) => commands::list(ssh_config_path(&args.ssh_config)),
        Command::Status(args) => run_status(args),
        Command::Doctor(args) => {
            let ssh_config = ssh_config_path(&args.ssh_config);
            match azml_ssh::doctor::doctor(
                args.alias.as_deref(),
                ssh_config.as_deref(),
                &azure_options(&args.azure, 30),
                args.json,
            ) {
                Ok(true) => Ok(()),
                Ok(false) => return ExitCode::FAILURE,
                Err(e) => Err(e),
            }
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "azml-ssh", &mut std::io::stdout());
            Ok(())
        }
        Command::Start(args) => status::target(&args.target).and_then(|target| {
            status::start(&target, &azure_options(&args.azure, 30), args.wait.then_some(args.wait_timeout))
        }),
        Command::Stop(args) => status::target(&args.target).and_then(|target| {
            status::stop(&target, &azure_options(&args.azure, 30), args.wait.then_some(args.wait_timeout))
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            let _ = writeln!(std::io::stderr(), "azml-ssh: {message}");
            azml_ssh::logging::record_error(&message);
            ExitCode::FAILURE
        }
    }
}

fn azure_options(args: &AzureArgs, default_timeout: u64) -> AzureOptions {
    AzureOptions {
        cloud: args.cloud,
        auth: args.auth,
        timeout: Duration::from_secs(args.timeout.unwrap_or(default_timeout)),
    }
}

const NO_HOST: HostArgs = HostArgs { user: None, identity_file: None, ssh_options: Vec::new(), binary: None };

/// `~/.ssh/config` is the default in help text; `None` lets the library find it under $HOME.
fn ssh_config_path(path: &Path) -> Option<PathBuf> {
    (path != Path::new("~/.ssh/config")).then(|| path.to_owned())
}

fn write_options(write: &WriteArgs, host: &HostArgs) -> WriteOptions {
    WriteOptions { ssh_config: ssh_config_path(&write.ssh_config), binary: host.binary.clone(), dry_run: write.dry_run }
}

fn host_settings(host: &HostArgs) -> HostSettings {
    HostSettings {
        user: host.user.clone(),
        identity_file: host.identity_file.clone(),
        ssh_options: host.ssh_options.clone(),
    }
}

fn run_status(args: cli::StatusArgs) -> Result<(), String> {
    let targets = match &args.target {
        Some(text) => vec![status::target(text)?],
        None => status::all_targets()?,
    };
    if targets.is_empty() {
        return Err(
            "no hosts are configured yet; name one (`azml-ssh status <resource-id>`) or run `azml-ssh config`".into()
        );
    }
    status::status(&targets, &azure_options(&args.azure, 30), args.json)
}

fn run_config(args: cli::ConfigArgs) -> Result<(), String> {
    let write = write_options(&args.write, &args.host);
    if args.remove {
        return commands::config_remove(&write);
    }
    let discover = Discover {
        subscriptions: args.subscriptions,
        resource_group: args.resource_group,
        workspace: args.workspace,
        all: args.all,
        prefix: args.prefix,
    };
    commands::config(&discover, &host_settings(&args.host), &azure_options(&args.azure, 120), &write)
}

fn relay_gateway(text: &str) -> Result<Gateway, String> {
    let (host, port) = text.rsplit_once(':').ok_or("--relay-gateway takes HOST:PORT")?;
    let port = port.parse().map_err(|_| "--relay-gateway takes HOST:PORT")?;
    Ok(Gateway { host: host.to_owned(), port })
}

fn run_proxy(args: cli::ProxyArgs) -> Result<(), String> {
    let id: ComputeId = args.resource_id.parse().map_err(|e| format!("{e}"))?;
    let options = ProxyOptions {
        azure: azure_options(&args.azure, 30),
        cache_max_age: args.cache_max_age,
        transport: args.transport,
        fdpass: args.fdpass,
        start: StartOptions {
            allow_start: !args.no_start,
            timeout: args.start_timeout,
            cache_root: azml_ssh::cache::cache_root(),
        },
    };
    let result = match &args.relay_gateway {
        Some(gateway) => {
            relay_gateway(gateway).and_then(|g| proxy::relay_tunnel(g, &options).map_err(|e| e.to_string()))
        }
        None => proxy::run(&id, &options).map_err(|e| e.to_string()),
    };
    // The relay may leave a thread blocked on stdin that ssh never closes; exiting here, rather than returning
    // through the runtime and thread teardown, ends the process as soon as the stream is done.
    let code = match &result {
        Ok(()) => 0,
        Err(message) => {
            let _ = writeln!(std::io::stderr(), "azml-ssh: {message}");
            azml_ssh::logging::record_error(message);
            1
        }
    };
    std::process::exit(code)
}
