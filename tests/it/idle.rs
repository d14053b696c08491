//! Idle shutdown and schedules: `status` shows them, `azml-ssh idle` changes the setting through the mock ARM's
//! `updateIdleShutdownSetting`, and `code`/`jupyter` say when a schedule is about to stop the instance.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::common::instance::jupyter_setup;
use crate::common::mock_arm::{API_VERSION, Machine, Reply};
use crate::common::{BIN, TestEnv, compute_id, run, write_script};

const LIMIT: Duration = Duration::from_secs(60);

/// A running instance `ci1`, configured as host `azmlci1`; returns its ID.
fn configured(env: &TestEnv, state: &str) -> String {
    let id = compute_id("ci1");
    env.arm.put_machine(&id, state, Machine::new(50000));
    let out = run(env.command(BIN).args(["add", "azmlci1", &id]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    id
}

/// `(hour, minute)` in UTC, `minutes` from now.
fn utc_in(minutes: u64) -> (u64, u64) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() / 60;
    let of_day = (now + minutes) % 1440;
    (of_day / 60, of_day % 60)
}

/// A daily cron schedule at `(hour, minute)`.
fn daily(action: &str, (hour, minute): (u64, u64), zone: &str, status: &str) -> Value {
    json!({"action": action, "status": status, "triggerType": "Cron",
        "cron": {"expression": format!("{minute} {hour} * * *"), "timeZone": zone, "startTime": "2021-04-23T01:30:00"}})
}

fn idle_posts(env: &TestEnv, id: &str) -> Vec<crate::common::mock_arm::Recorded> {
    let path = format!("{id}/updateIdleShutdownSetting");
    env.arm.requests().into_iter().filter(|r| r.method == "POST" && r.path.eq_ignore_ascii_case(&path)).collect()
}

#[test]
fn status_shows_the_idle_setting_and_the_next_scheduled_stop() {
    let env = TestEnv::new();
    let id = configured(&env, "Running");
    env.arm.patch_instance(&id, "idleTimeBeforeShutdown", json!("PT45M"));
    let weekly_start = json!({"action": "Start", "status": "Enabled", "triggerType": "Recurrence",
        "recurrence": {"frequency": "Week", "interval": 1, "timeZone": "W. Europe Standard Time",
            "schedule": {"hours": [8], "minutes": [0], "weekDays": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]}}});
    let schedules = json!({"computeStartStop": [
        daily("Stop", utc_in(121), "UTC", "Enabled"),
        daily("Stop", utc_in(30), "UTC", "Disabled"),
        weekly_start,
        daily("Stop", utc_in(10), "Mars Standard Time", "Enabled"),
    ]});
    env.arm.patch_instance(&id, "schedules", schedules);

    let out = run(env.command(BIN).args(["status", "azmlci1", "--json"]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    let s = crate::common::schema::status_instances(&out.stdout).remove(0);
    assert_eq!(s["idle_shutdown"], json!({"state": "on", "after_seconds": 2700, "after_iso8601": "PT45M"}));
    let next = &s["next_schedule"];
    // The weekday 08:00 Berlin start may come first; if not, the enabled stop two hours from now does.
    if next["action"] == "stop" {
        let seconds = next["in_seconds"].as_i64().unwrap();
        assert!((118 * 60..=121 * 60).contains(&seconds), "{next}");
        assert!(next["at"].as_str().unwrap().ends_with('Z'), "UTC: {next}");
        assert_eq!(next["time_zone"], "Etc/UTC");
        let (hour, minute) = utc_in(121);
        assert!(
            next["text"].as_str().unwrap().starts_with(&format!("{hour:02}:{minute:02} (UTC+00:00, in 2 h")),
            "{next}"
        );
    } else {
        assert_eq!(next["action"], "start", "{next}");
        assert_eq!(next["time_zone"], "Europe/Berlin");
        assert!(next["text"].as_str().unwrap().contains("08:00 (UTC+01:00, in"), "{next}");
    }
    let schedules = s["schedules"].as_array().unwrap();
    let text = |i: usize| schedules[i]["text"].as_str().unwrap();
    assert!(text(1).ends_with("(UTC), disabled"), "{schedules:?}");
    assert_eq!(schedules[1]["enabled"], false);
    assert_eq!(text(2), "start: every week on Mon, Tue, Wed, Thu, Fri at 08:00 (W. Europe Standard Time)");
    assert_eq!((&schedules[2]["action"], &schedules[2]["time_zone"]), (&json!("start"), &json!("Europe/Berlin")));
    assert_eq!(text(3), "schedule not understood: time zone \"Mars Standard Time\"");
    assert_eq!((&schedules[3]["understood"], &schedules[3]["action"]), (&json!(false), &Value::Null));

    // The table: the setting, the next run, and the schedule it could not read — and still success.
    let out = run(env.command(BIN).args(["status"]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    let table = out.stdout_text();
    assert!(table.lines().next().unwrap().contains("IDLE SHUTDOWN  NEXT SCHEDULE"), "{table}");
    let row = table.lines().find(|l| l.starts_with("azmlci1")).unwrap();
    assert!(row.contains("after 45 min"), "{row}");
    assert!(row.contains("stop ") || row.contains("start "), "{row}");
    assert!(row.contains("schedule not understood: time zone \"Mars Standard Time\""), "{row}");

    // No idle setting and no schedules: off, and no next run.
    env.arm.patch_instance(&id, "idleTimeBeforeShutdown", Value::Null);
    env.arm.patch_instance(&id, "schedules", Value::Null);
    let out = run(env.command(BIN).args(["status", "azmlci1", "--json"]), None, LIMIT);
    let s = crate::common::schema::status_instances(&out.stdout).remove(0);
    assert_eq!((&s["idle_shutdown"]["state"], &s["next_schedule"]), (&json!("off"), &Value::Null));
}

#[test]
fn idle_changes_the_setting_and_prints_what_azure_then_says() {
    let env = TestEnv::new();
    let id = configured(&env, "Running");
    env.arm.patch_instance(&id, "idleTimeBeforeShutdown", json!("PT60M"));

    let out = run(env.command(BIN).args(["idle", "azmlci1", "30m"]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "ci1: idle shutdown after 30 min\n");
    assert_eq!(out.stderr, "");
    let posts = idle_posts(&env, &id);
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].body, r#"{"idleTimeBeforeShutdown":"PT30M"}"#);
    assert_eq!(posts[0].content_type.as_deref(), Some("application/json"));
    assert_eq!(posts[0].query, format!("api-version={API_VERSION}"));
    assert_eq!(posts[0].status, 200);
    assert_eq!(env.arm.instance_field(&id, "idleTimeBeforeShutdown"), "PT30M");

    let out = run(env.command(BIN).args(["idle", "azmlci1", "1h30m"]), None, LIMIT);
    assert_eq!(out.stdout_text(), "ci1: idle shutdown after 1 h 30 min\n", "{}", out.stderr);
    assert_eq!(idle_posts(&env, &id)[1].body, r#"{"idleTimeBeforeShutdown":"PT90M"}"#);
    let out = run(env.command(BIN).args(["status", &id, "--json"]), None, LIMIT);
    let s = crate::common::schema::status_instances(&out.stdout).remove(0);
    assert_eq!(s["idle_shutdown"]["after_seconds"], 5400, "later reads see it");
}

#[test]
fn idle_off_sends_null_and_the_instance_has_no_idle_shutdown() {
    let env = TestEnv::new();
    let id = configured(&env, "Stopped");
    env.arm.patch_instance(&id, "idleTimeBeforeShutdown", json!("PT2H"));
    let out = run(env.command(BIN).args(["idle", "azmlci1", "off"]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout_text(), "ci1: idle shutdown off\n");
    assert_eq!(idle_posts(&env, &id)[0].body, r#"{"idleTimeBeforeShutdown":null}"#);
    assert_eq!(env.arm.instance_field(&id, "idleTimeBeforeShutdown"), Value::Null);

    // The read-back for scripts, on and off.
    let out = run(env.command(BIN).args(["idle", "azmlci1", "2h", "--json"]), None, LIMIT);
    let read_back = crate::common::schema::checked_json(&out.stdout, "idle");
    assert_eq!(read_back["idle_shutdown"], json!({"state": "on", "after_seconds": 7200, "after_iso8601": "PT2H"}));
    assert_eq!((read_back["name"].as_str(), read_back["resource_id"].as_str()), (Some("ci1"), Some(id.as_str())));
    let out = run(env.command(BIN).args(["idle", "azmlci1", "off", "--json"]), None, LIMIT);
    let read_back = crate::common::schema::checked_json(&out.stdout, "idle");
    assert_eq!(read_back["idle_shutdown"], json!({"state": "off", "after_seconds": null, "after_iso8601": null}));
}

#[test]
fn values_out_of_bounds_or_malformed_are_refused_before_any_request() {
    let env = TestEnv::new();
    configured(&env, "Running");
    let before = env.arm.request_count();
    for value in ["10m", "14m", "0m", "4d", "73h", "3d1m"] {
        let out = run(env.command(BIN).args(["idle", "azmlci1", value]), None, LIMIT);
        assert!(!out.status.success(), "{value}");
        assert_eq!(
            out.stderr,
            format!(
                "azml-ssh: {value:?} is outside what Azure allows for idle shutdown: give 15m to 3d (72h), or off\n"
            )
        );
    }
    for value in ["30", "abc", "1x", "30m2h", "1.5h", "", "on"] {
        let out = run(env.command(BIN).args(["idle", "azmlci1", value]), None, LIMIT);
        assert!(!out.status.success(), "{value}");
        assert!(out.stderr.starts_with(&format!("azml-ssh: {value:?} is not an idle time")), "{}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1);
    }
    assert_eq!(env.arm.request_count(), before, "no request was made");
    assert_eq!(env.az_calls(), 0, "not even a sign-in");
}

#[test]
fn arm_refusals_are_one_clear_line() {
    let env = TestEnv::new();
    let id = configured(&env, "Running");
    let path = format!("{id}/updateIdleShutdownSetting");
    let cases = [
        (
            Reply::error(
                403,
                "AuthorizationFailed",
                "The client does not have authorization to perform action 'Microsoft.MachineLearningServices/workspaces/computes/updateIdleShutdownSetting/action'.",
            ),
            "azml-ssh: no permission to change the idle shutdown of compute ci1 (HTTP 403 AuthorizationFailed: The client does not have authorization",
        ),
        (
            Reply::error(
                404,
                "ResourceNotFound",
                "The Resource 'Microsoft.MachineLearningServices/workspaces/computes/ci1' was not found.",
            ),
            "azml-ssh: compute ci1 was not found (HTTP 404 ResourceNotFound",
        ),
        (
            Reply::error(400, "BadRequest", "Idle time before shutdown must be between 15 minutes and 3 days."),
            "azml-ssh: Azure Resource Manager refused the request for compute ci1 (HTTP 400 BadRequest: Idle time before shutdown must be between 15 minutes and 3 days.)",
        ),
    ];
    for (reply, expected) in cases {
        env.arm.script(&path, vec![reply]);
        let out = run(env.command(BIN).args(["idle", "azmlci1", "45m"]), None, LIMIT);
        assert!(!out.status.success());
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
        assert!(out.stderr.starts_with(expected), "{}", out.stderr);
        assert_eq!(out.stdout_text(), "");
    }
    assert_eq!(env.arm.instance_field(&id, "idleTimeBeforeShutdown"), Value::Null, "nothing changed");

    // The mock's own answer while the instance is between states.
    let busy = TestEnv::new();
    configured(&busy, "Starting");
    let out = run(busy.command(BIN).args(["idle", "azmlci1", "45m"]), None, LIMIT);
    assert!(!out.status.success());
    assert!(
        out.stderr.starts_with("azml-ssh: cannot change the idle shutdown of compute ci1 now: another operation is in progress (HTTP 409 Conflict"),
        "{}",
        out.stderr
    );
}

/// The mock judges the body as ARM's spec describes it, whatever the client: checked with plain HTTP requests.
#[test]
fn the_mock_validates_update_idle_shutdown_like_arm() {
    let env = TestEnv::new();
    let id = configured(&env, "Running");
    let post = |body: &str, content_type: &str| -> (u16, String) {
        let url = format!("{}{id}/updateIdleShutdownSetting?api-version={API_VERSION}", env.arm.url);
        let out = std::process::Command::new("curl")
            .args(["-s", "-o", "-", "-w", "\n%{http_code}", "-X", "POST", "-H"])
            .arg(format!("Authorization: Bearer {}", crate::common::TOKEN))
            .args(["-H", &format!("Content-Type: {content_type}"), "--data-binary", body, &url])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap();
        (code.parse().unwrap(), body.to_owned())
    };
    assert_eq!(post(r#"{"idleTimeBeforeShutdown":"PT14M"}"#, "application/json").0, 400);
    assert_eq!(post(r#"{"idleTimeBeforeShutdown":"P3DT1M"}"#, "application/json").0, 400);
    assert_eq!(post(r#"{"idleTimeBeforeShutdown":"soon"}"#, "application/json").0, 400);
    assert_eq!(post(r#"{"idleTimeBeforeShutdown":30}"#, "application/json").0, 400);
    assert_eq!(post(r#"{"idleTimeBeforeShutdown":"PT30M"}"#, "text/plain").0, 415);
    assert_eq!(env.arm.instance_field(&id, "idleTimeBeforeShutdown"), Value::Null);
    assert_eq!(post(r#"{"idleTimeBeforeShutdown":"P3D"}"#, "application/json"), (200, String::new()));
    assert_eq!(env.arm.instance_field(&id, "idleTimeBeforeShutdown"), "P3D");
}

/// A `code` that only records that it ran.
fn fake_code(env: &TestEnv) {
    write_script(&env.az_dir.join("code"), &format!("#!/bin/sh\necho ran >> '{}'\n", env.path("code.log").display()));
}

#[test]
fn code_says_when_a_schedule_will_stop_the_instance_soon() {
    let env = TestEnv::new();
    let id = configured(&env, "Running");
    fake_code(&env);
    let soon = utc_in(70);
    env.arm.patch_instance(
        &id,
        "schedules",
        json!({"computeStartStop": [daily("Stop", soon, "UTC", "Enabled"), daily("Stop", utc_in(20), "UTC", "Disabled")]}),
    );
    let out = run(env.command(BIN).args(["code", "azmlci1"]), None, LIMIT);
    assert!(out.status.success(), "{}", out.stderr);
    let expected =
        format!("azml-ssh: ci1 will be stopped by its schedule at {:02}:{:02} (UTC+00:00, in 1 h ", soon.0, soon.1);
    let lines: Vec<&str> = out.stderr.lines().filter(|l| l.contains("will be stopped")).collect();
    assert_eq!(lines.len(), 1, "{}", out.stderr);
    assert!(lines[0].starts_with(&expected), "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(env.path("code.log")).unwrap(), "ran\n", "the editor still opens");

    // Five hours away is not soon; a start is no threat; nothing scheduled says nothing.
    for schedules in [
        json!({"computeStartStop": [daily("Stop", utc_in(300), "UTC", "Enabled")]}),
        json!({"computeStartStop": [daily("Start", utc_in(30), "UTC", "Enabled")]}),
        Value::Null,
    ] {
        env.arm.patch_instance(&id, "schedules", schedules.clone());
        let out = run(env.command(BIN).args(["code", "azmlci1"]), None, LIMIT);
        assert!(out.status.success(), "{}", out.stderr);
        assert!(!out.stderr.contains("will be stopped"), "{schedules}: {}", out.stderr);
    }
}

#[test]
fn jupyter_says_when_a_schedule_will_stop_the_instance_soon() {
    // No Jupyter server runs there, so the command fails after its look at the instance — the warning comes first.
    let setup = jupyter_setup("");
    let id = compute_id("ci1");
    let soon = utc_in(125);
    setup.env.arm.patch_instance(
        &id,
        "schedules",
        json!({"computeStartStop": [daily("Stop", soon, "UTC", "Enabled")]}),
    );
    let config = setup.config.display().to_string();
    let out = run(setup.env.command(BIN).args(["jupyter", "azmlci1", "--ssh-config", &config]), None, LIMIT);
    assert!(!out.status.success());
    let expected =
        format!("azml-ssh: ci1 will be stopped by its schedule at {:02}:{:02} (UTC+00:00, in 2 h ", soon.0, soon.1);
    assert!(out.stderr.lines().next().unwrap_or_default().starts_with(&expected), "{}", out.stderr);
    assert!(out.stderr.contains("no Jupyter server is running on azmlci1"), "{}", out.stderr);
}
