//! The integration tests, as one binary (as ripgrep does): the crate and the shared harness in `common` are
//! compiled and linked once. Every test drives the real `azml-ssh` binary, real OpenSSH (client and a throwaway
//! sshd on 127.0.0.1), scp and git, against mocks of Azure's servers that follow the REST documents.
//!
//! Each `mod` line below says what belongs in that module; a new test goes where its *subject* is, not where a
//! similar setup happens to be. A test of pure logic with no process, socket or file belongs in a unit test next
//! to the code in `src/` instead. Before writing a setup or a check a second time, look in `common` (for example
//! `TestEnv::ssh_config`, `TestEnv::scp`, `TestEnv::scp_round_trip`, `TestEnv::git_clone_works`) and add to it
//! rather than copying.

// The shared harness: `TestEnv` (a throwaway HOME, fake `az`, mock ARM, sshd, the commands to run), the mock ARM,
// the mock WebSocket gateway, the CONNECT proxy, the test CA and the Wine runner. Helpers, no tests.
mod common;

// How the proxy reacts to each kind of ARM answer (errors, throttling, malformed documents, instance states and
// provisioning failures) and to a bad resource ID: the exit status and the one `azml-ssh:` line the user sees.
mod arm_answers;
// Several connections at once with nothing cached: one lookup, one token, one start for the whole burst.
mod burst;
// The command line itself, with no Azure behind it: arguments, help, --version, completions, the log file, the
// output's reader going away, the Python package build.
mod cli;
// Crash consistency of the writes to the user's ssh setup: SIGKILL at random instants, two writers, an editor
// saving in between, a full disk and a read-only ~/.ssh (`contrib/crash/run.sh` runs it at scale).
mod crash;
// `azml-ssh config`, `add`, `remove` and `list`: discovery against the mock ARM, what is written to the ssh
// config, the notes, and the result used by the real ssh, scp and git.
mod config_command;
// Sign-in: the credential chain (the fake `az`, a service principal over TLS, managed identity only on request),
// the token's scope per cloud, and HTTPS settings (SSL_CERT_FILE, HTTPS_PROXY).
mod credentials;
// The newcomer's demo script (`contrib/demo/run.sh`) runs start to finish.
mod demo;
// `azml-ssh doctor`: each check's failure, with its own item and fix, on an otherwise green setup.
mod doctor;
// `ProxyUseFdpass yes` / `azml-ssh proxy --fdpass`: the socket handed to ssh, direct and through the relay.
mod fdpass;
// The rendered include file compared byte for byte with tests/golden/ (a rendering change is reviewed here).
mod golden_render;
// Faults and attacks that cut across commands: silent servers, timeouts, planted cache or lock files, hosts the
// user already has, ssh going away. Nothing hangs, panics or loses what the user owns.
mod hardening;
// Idle shutdown and schedules: `status` shows them, `azml-ssh idle` changes the setting (and what it refuses),
// and `code`/`jupyter` warn of a scheduled stop coming soon.
mod idle;
// Training jobs by name (`ssh JOB.job.azml`, `ssh N.JOB.job.azml`) through mock node gateways found as the Azure ML
// SDK finds them, every job state's wait or refusal, the allow-list, and `azml-ssh jobs`.
mod jobs;
// The documentation holds together: links, the book's summary, a troubleshooting entry per error kind, a schema
// per `--json` output.
mod docs;
// Property test: any `--identity-file` path is either refused or read back exactly by the real `ssh -G`.
mod identity_props;
// Property tests: adding and removing our Include in any user ssh config is exact and idempotent.
mod include_props;
// The architecture rules of `src/`, checked on its text (layering, who prints, `unsafe`, clap, typed errors).
mod layering;
// Starting and stopping: auto-start on connect, one start across processes, progress, `status`/`start`/`stop`.
mod lifecycle;
// Behaviour only real Azure shows: ports blocked but 443, several tenants, unassigned instances, subscription
// states, HTTP/1.1 front ends, `az logout`, gateways that close as they like.
mod real_azure;
// Text from servers shown escaped in every field of `status`, `start`, `doctor`, `doctor --remote` and the error
// line: no escape sequence, C1 control or bidi/format character reaches the terminal raw.
mod server_text;
// The fault soak (ignored here; contrib/test.sh runs it short, contrib/soak/run.sh for ten minutes): bursts of
// connections while ARM throttles, fails, resets and slows, the gateway drops, sshd restarts and the endpoint moves.
mod soak;
// The direct path end to end with real ssh: host-key checking, the endpoint cache (warm, moved, shared, private),
// half-close, bulk transfers, git.
mod ssh_end_to_end;
// The bare proxy (no ssh) as a byte pipe to an echo server: exact bytes, the ways stdin ends, the cache as the
// proxy alone sees it, and nothing but the stream on stdout.
mod stream;
// Instances without public SSH, through the mock Azure ML WebSocket gateway: the tunnel end to end.
mod tunnel;
// The wildcard host `Host *.azml`: instances by name without re-running `config`, the name index, one search per
// burst, ambiguous and unknown names, the user's own hosts under the suffix, renaming and turning it off.
mod wildcard;
// The Windows build under Wine (ignored here; contrib/test.sh runs them): files in a Windows profile, connections
// through the `.exe`. A Windows-only behaviour's test goes here; a platform-neutral one goes with its subject.
mod wine;
// `azml-ssh code` and `azml-ssh jupyter`: the instance started first, the editor's arguments, the forwarded port.
mod work;
