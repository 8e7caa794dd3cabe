//! The README's quickstart, run as written: its shell block, with `bash`, in an empty
//! folder, with the `rateline` this build made first on the `PATH`. What a newcomer would
//! see is checked: the connector got the rating request, the supervisor's webhook the alert,
//! `GET /v1/alerts` shows it sent, and the report counts one low rating for the operator.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MARK: &str = "<!-- quickstart: tests/it/quickstart.rs runs this block as written -->";

/// The shell block after the quickstart's mark.
fn quickstart() -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md reads");
    let after = &readme[readme.find(MARK).expect("the README marks its quickstart")..];
    let start = after.find("```sh\n").expect("a sh block follows the mark") + "```sh\n".len();
    let end = after[start..].find("```").expect("the block ends") + start;
    after[start..end].to_owned()
}

#[test]
fn the_quickstart_is_at_most_25_lines() {
    let lines = quickstart().lines().count();
    assert!(lines <= 25, "the quickstart has {lines} lines");
}

#[test]
fn the_readme_runs_as_written() {
    for port in [8080, 9000] {
        assert!(
            std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
            "the quickstart needs 127.0.0.1:{port} free"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let binary = Path::new(env!("CARGO_BIN_EXE_rateline"));
    let path = format!(
        "{}:{}",
        binary.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut child = Command::new("setsid")
        .args(["bash", "-c", &quickstart()])
        .current_dir(dir.path())
        .env("PATH", path)
        .env_remove("RUST_LOG")
        .env("RATELINE__LOG__LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bash runs");
    // The block ends by itself; `serve` and the Python server it started in the
    // background stay, in its process group, until they are stopped below.
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the quickstart did not finish in a minute"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // The group's leader is bash, whose pid is the group's id.
    let group = i32::try_from(child.id()).unwrap();
    unsafe { libc::kill(-group, libc::SIGTERM) };
    let mut out = String::new();
    let mut err = String::new();
    // The background processes hold the pipes open until they have stopped.
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        status.success(),
        "the quickstart failed: {status}\n{out}\n{err}"
    );

    // The Python server's lines and curl's answers share the output: read them by content.
    let line_with = |a: &str, b: &str| out.lines().any(|l| l.contains(a) && l.contains(b));
    assert!(
        line_with("received /requests", "\"scale\":\"five_star\""),
        "the connector got no rating request:\n{out}\n{err}"
    );
    assert!(
        line_with("received /alerts", "slow"),
        "the supervisor's webhook got no alert with the comment:\n{out}\n{err}"
    );
    assert!(
        line_with("{\"alerts\"", "\"status\":\"sent\""),
        "GET /v1/alerts does not show the alert sent:\n{out}"
    );
    let report = out
        .find("{\"groups\"")
        .map(|at| out[at..].lines().next().unwrap_or_default())
        .unwrap_or_else(|| panic!("no report:\n{out}"));
    let report: serde_json::Value = serde_json::from_str(report).unwrap();
    let ben = &report["groups"][0];
    assert_eq!(
        (ben["key"].as_str(), ben["low"].as_i64()),
        (Some("ben"), Some(1)),
        "{report}"
    );
    assert!(!err.contains("ERROR"), "{err}");
}
