use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;

use azml_ssh::cmd::config::WriteOptions;
use azml_ssh::cmd::{self, Console, Outcome};
use azml_ssh::util::logging;

mod cli;

use cli::{Cli, Command};

/// Shared with the Windows twin `azml-sshw.exe` (src/bin/azml-sshw.rs), which includes this file as a module.
pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = logging::init(cli.verbose, cli.log_file.as_deref()) {
        let _ = writeln!(std::io::stderr(), "azml-ssh: warning: {e}");
    }
    let (mut stdout, mut stderr) = (std::io::stdout().lock(), std::io::stderr());
    let err_is_terminal = stderr.is_terminal();
    let mut console = Console { out: &mut stdout, err: &mut stderr, err_is_terminal };
    finish(run(cli.command, &mut console))
}

/// `azml-ssh proxy` never returns: the relay may leave a thread blocked on a stdin that ssh never closes, so the
/// process exits as soon as the stream is done, rather than going through the runtime and thread teardown.
fn proxy(args: &cli::ProxyArgs, console: &mut Console) -> ! {
    let result = cmd::proxy::run(&args.role(), &args.options(), &mut *console.err, console.err_is_terminal);
    let code = finish(result.map(|()| Outcome::Success));
    std::process::exit(if code == ExitCode::SUCCESS { 0 } else { 1 })
}

fn run(command: Command, console: &mut Console) -> Result<Outcome, cmd::Error> {
    use cmd::{config, doctor, status};
    match command {
        Command::Proxy(args) => proxy(&args, console),
        Command::Config(args) => {
            let write = args.write.options(args.host.binary.as_deref());
            if args.remove {
                config::config_remove(&write, console)?;
            } else {
                config::config(&args.discover(), &args.host.settings(), &args.azure.options(), &write, console)?;
            }
        }
        Command::Add(args) => {
            let write = WriteOptions { force: args.force, ..args.write.options(args.host.binary.as_deref()) };
            config::add(&args.alias, &args.resource_id, &args.host.settings(), &write, console)?;
        }
        Command::Remove(args) => config::remove(&args.alias, &args.write.options(None), console)?,
        Command::List(args) => config::list(args.ssh_config.path.clone(), args.json, console)?,
        Command::Jobs(args) => cmd::jobs::jobs(&args.options(), &args.azure.options(), console)?,
        Command::Status(args) => status::status(args.target.as_deref(), &args.azure.options(), args.json, console)?,
        Command::Start(args) => status::start(&args.change(), &args.azure.options(), console)?,
        Command::Stop(args) => status::stop(&args.change(), &args.azure.options(), console)?,
        Command::Idle(args) => cmd::idle::idle(&args.target, &args.value, &args.azure.options(), args.json, console)?,
        Command::Doctor(args) => {
            let ssh_config = &args.ssh_config.path;
            if let Some(alias) = &args.remote {
                return cmd::doctor::remote::doctor_remote(alias, ssh_config.as_deref(), args.json, console);
            }
            return doctor::doctor(
                args.alias.as_deref(),
                ssh_config.as_deref(),
                &args.azure.options(),
                args.json,
                console,
            );
        }
        Command::Code(args) => cmd::open::code(&args.options(), &args.azure.options(), console)?,
        Command::Jupyter(args) => cmd::open::jupyter(&args.options(), &args.azure.options(), console)?,
        Command::Forward(args) => cmd::open::forward(&args.options(), &args.azure.options(), console)?,
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "azml-ssh", &mut *console.out);
        }
        Command::Man { dir } => {
            let written = cli::write_man_pages(&dir).map_err(cmd::Error::output)?;
            for path in written {
                let _ = writeln!(console.out, "{}", path.display());
            }
        }
    }
    Ok(Outcome::Success)
}

/// The one place an error becomes the user's message: a single line on stderr (and in the log file).
fn finish(result: Result<Outcome, cmd::Error>) -> ExitCode {
    match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::ChecksFailed) => ExitCode::FAILURE,
        // Whoever read our output has stopped (`azml-ssh list | head -1`): nothing is wrong, as ripgrep says.
        Err(e) if e.is_closed_output() => ExitCode::SUCCESS,
        Err(error) => {
            let message = error.to_string();
            let _ = writeln!(std::io::stderr(), "azml-ssh: {message}");
            logging::record_error(&message);
            ExitCode::FAILURE
        }
    }
}
