//! Text from servers never reaches the terminal raw (issue 28, finding 3): escape sequences (CSI, OSC 8
//! hyperlinks), C1 controls, bells, and the invisible and bidi format characters are shown as visible escapes in
//! every field `status`, `start`, `doctor`, `doctor --remote` and the error line show; the JSON gives states as
//! stable names and text for people escaped the same way.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::mock_arm::{Reply, compute_instance};
use crate::common::{BIN, Outcome, TestEnv, compute_id, run};

const LIMIT: Duration = Duration::from_secs(60);

/// CSI, OSC 8 (a hyperlink), a C1 CSI, a bell, DEL, a carriage return, bidi overrides and isolates, invisible
/// characters and a tag character: each does something to a terminal or hides itself.
const HOSTILE: &str = "x\u{1b}[1m\u{1b}]8;;https://evil.example\u{7}link\u{1b}]8;;\u{7}\u{9b}31m\u{7f}\r\u{202e}gnp.exe\u{200b}\u{2066}\u{feff}\u{ad}\u{61c}\u{e0041}\u{2028}y";

/// What none of the output may hold, and the escape that shows each.
const RAW: [(char, &str); 15] = [
    ('\u{1b}', "\\u{1b}"),
    ('\u{7}', "\\u{7}"),
    ('\u{9b}', "\\u{9b}"),
    ('\u{7f}', "\\u{7f}"),
    ('\r', "\\r"),
    ('\u{202e}', "\\u{202e}"),
    ('\u{200b}', "\\u{200b}"),
    ('\u{2066}', "\\u{2066}"),
    ('\u{feff}', "\\u{feff}"),
    ('\u{ad}', "\\u{ad}"),
    ('\u{61c}', "\\u{61c}"),
    ('\u{e0041}', "\\u{e0041}"),
    ('\u{2028}', "\\u{2028}"),
    ('\u{0}', "\\u{0}"),
    ('\u{85}', "\\u{85}"),
];

/// Nothing raw on either stream; `shown` pieces of text must appear (escaped), so the field was not just dropped.
fn assert_escaped(what: &str, out: &Outcome, shown: &[&str]) {
    let (stdout, stderr) = (out.stdout_text(), out.stderr.clone());
    for (c, _) in RAW {
        assert!(!stdout.contains(c) && !stderr.contains(c), "{what}: raw {c:?} in {stdout:?} / {stderr:?}");
    }
    let both = format!("{stdout}{stderr}");
    for piece in shown {
        assert!(both.contains(piece), "{what}: {piece:?} missing from {both}");
    }
}

/// `HOSTILE` with a tag, so each field's text is told apart in the output.
fn hostile(tag: &str) -> String {
    format!("{tag}{HOSTILE}")
}

/// The escaped form of `hostile(tag)` as [`HOSTILE`] shows on one line (whitespace folded where it is).
fn escaped_start(tag: &str) -> String {
    format!("{tag}x\\u{{1b}}[1m\\u{{1b}}]8;;https://evil.example\\u{{7}}link")
}

/// Instance `name`, configured as host `azml<name>`, with `patch` applied to its instance properties.
fn configured(env: &TestEnv, name: &str, state: &str, patch: Value) -> String {
    let id = compute_id(name);
    env.arm.put_compute(&id, compute_instance(&id, state, true, Some("127.0.0.1"), Some(22)));
    for (field, value) in patch.as_object().unwrap() {
        env.arm.patch_instance(&id, field, value.clone());
    }
    let out = run(env.command(BIN).args(["add", &format!("azml{name}"), &id]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    id
}

/// An error envelope with hostile code and message.
fn envelope(tag: &str) -> Value {
    json!({"error": {"code": hostile(&format!("{tag}code")), "message": hostile(&format!("{tag}message"))}})
}

/// Every field `status` shows from ARM, hostile: the state, the last operation's trigger (as "stopped by"), Azure's
/// errors, idle shutdown, a schedule's time zone; and a lookup that fails with a hostile ARM error.
#[test]
fn status_and_start_show_every_server_field_escaped() {
    let env = TestEnv::new();
    let last = json!({"operationName": hostile("opname"), "operationStatus": hostile("opstatus"),
        "operationTrigger": hostile("trigger"), "operationTime": hostile("optime")});
    let schedule = json!({"action": "Stop", "triggerType": "Cron",
        "cron": {"expression": "0 18 * * *", "timeZone": hostile("zone")}});
    configured(
        &env,
        "ci1",
        &hostile("state"),
        json!({"lastOperation": last, "errors": [envelope("err")], "idleTimeBeforeShutdown": hostile("idle"),
            "schedules": {"computeStartStop": [schedule]}}),
    );
    let stopped = json!({"operationName": "Stop", "operationTrigger": hostile("trigger")});
    configured(&env, "ci2", "Stopped", json!({"lastOperation": stopped}));
    let failing = configured(&env, "ci3", "Running", json!({}));
    env.arm.script(&failing, vec![Reply::error(400, &hostile("armcode"), &hostile("armmessage"))]);

    let out = run(env.command(BIN).args(["status"]), None, LIMIT);
    assert!(!out.status.success(), "ci3's lookup fails");
    let shown = ["state", "trigger", "errcode", "errmessage", "zone", "armcode", "armmessage"].map(escaped_start);
    let mut shown: Vec<&str> = shown.iter().map(String::as_str).collect();
    shown.push("not understood: \"idlex\\u{1b}[1m");
    assert_escaped("status", &out, &shown);

    // The JSON: nothing raw either.
    let out = run(env.command(BIN).args(["status", "--json"]), None, LIMIT);
    assert_escaped("status --json", &out, &[]);
    let all = crate::common::schema::status_instances(&out.stdout);
    // States and the last operation's names are stable identifiers for scripts: nothing but [a-z0-9_] survives.
    assert!(all[0]["state"].as_str().unwrap().starts_with("statex_1m_8_https_evil_example"), "{}", all[0]);
    assert!(all[0]["last_operation"]["trigger"].as_str().unwrap().starts_with("triggerx_1m_8"), "{}", all[0]);
    assert_eq!(all[0]["last_operation"]["time"], Value::Null, "not a time");
    // Text for people (Azure's errors) is escaped as the table shows it.
    assert!(all[0]["azure_errors"][0].as_str().unwrap().starts_with(&escaped_start("errcode")), "{}", all[0]);

    let out = run(env.command(BIN).args(["start", "azmlci1"]), None, LIMIT);
    assert_escaped("start", &out, &[&escaped_start("state")]);
    env.arm.script(&failing, vec![Reply::error(400, &hostile("armcode"), &hostile("armmessage"))]);
    let out = run(&mut env.proxy(&[&failing]), None, LIMIT);
    assert!(!out.status.success());
    assert_escaped("proxy", &out, &[&escaped_start("armcode"), &escaped_start("armmessage")]);
}

/// `doctor`'s instance item shows the state, the trigger and "Azure says:" with Azure's errors.
#[test]
fn doctor_shows_the_instance_escaped() {
    let env = TestEnv::new();
    let last = json!({"operationName": "Stop", "operationTrigger": hostile("trigger")});
    configured(
        &env,
        "ci1",
        &hostile("state"),
        json!({"lastOperation": last, "errors": [envelope("err")], "provisioningErrors": [envelope("prov")]}),
    );
    let out = run(env.command(BIN).args(["doctor", "azmlci1"]), None, LIMIT);
    let shown = ["state", "trigger", "errcode", "errmessage"].map(escaped_start);
    let mut shown: Vec<&str> = shown.iter().map(String::as_str).collect();
    shown.push("Azure says: ");
    assert_escaped("doctor", &out, &shown);
    let out = run(env.command(BIN).args(["doctor", "azmlci1", "--json"]), None, LIMIT);
    assert_escaped("doctor --json", &out, &[]);
    let checks = crate::common::schema::doctor_checks(&out.stdout);
    let instance = checks.iter().find(|c| c["item"] == "azmlci1: instance").unwrap();
    // The detail is text for people, made of server text: escaped as the checklist shows it.
    let detail = instance["detail"].as_str().unwrap();
    assert!(detail.contains(&escaped_start("state")) && detail.contains(&escaped_start("trigger")), "{detail}");
}

/// `doctor --remote` shows what the instance's shell prints before the command: hostile text there stays escaped.
#[test]
fn doctor_remote_shows_the_instances_output_escaped() {
    let remote_home = tempfile::tempdir().unwrap();
    let force = format!(
        "ForceCommand printf 'noise\\033]8;;https://evil.example\\007\\342\\200\\256txt\\302\\233\\n'; HOME={} exec /bin/sh -c \"$SSH_ORIGINAL_COMMAND\"\n",
        remote_home.path().display()
    );
    let setup = crate::common::instance::setup_instance("", &force, "Running");
    let config = setup.config.display().to_string();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut command = setup.env.command(BIN);
    command.args(["doctor", "--remote", "azmlci1", "--ssh-config", &config]);
    let out = run(command.env("AZML_SSH_VSCODE_UPDATE_URL", format!("http://127.0.0.1:{closed}/")), None, LIMIT);
    assert_escaped("doctor --remote", &out, &["noise\\u{1b}]8;;https://evil.example\\u{7}\\u{202e}txt\\u{9b}"]);
}
