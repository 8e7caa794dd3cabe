//! The `rateline` child process: `rateline migrate` and `rateline serve` with the run's
//! database and a free port, waiting for `/readyz`, its memory from `/proc`, stopping it
//! with SIGTERM, and a summary of the warnings and errors in its log.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::http::StatusCode;
use tokio::process::{Child, Command};

use crate::Args;
use crate::database::Database;

/// A running `rateline serve` child; killed if dropped before [`Server::stop`].
pub struct Server {
    child: Child,
    pub pid: u32,
    pub api: String,
    pub log: PathBuf,
}

/// The server binary with the run's database, address and log level, its stderr to `log`.
fn server_command(args: &Args, db: &Database, addr: &str, log: &Path) -> anyhow::Result<Command> {
    let mut cmd = Command::new(&args.server);
    cmd.env("RATELINE__DATABASE__URL", &db.url)
        .env("RATELINE__SERVER__ADDR", addr)
        .env("RATELINE__LOG__LEVEL", "warn")
        // The load generator's connector listens on loopback.
        .env("RATELINE__OUTBOUND__ALLOWED_NETWORKS", "127.0.0.0/8")
        // Every widget of the run calls from one address: no per-address limit.
        .env("RATELINE__LIMITS__PUBLIC_PER_MINUTE", "0")
        .env_remove("RUST_LOG")
        .env_remove("RATELINE_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).context("creating the server log")?)
        .kill_on_drop(true);
    Ok(cmd)
}

/// `rateline migrate` with the same settings the server gets.
pub async fn migrate(args: &Args, db: &Database) -> anyhow::Result<()> {
    let log = db.dir.path().join("migrate.log");
    let status = server_command(args, db, "127.0.0.1:0", &log)?
        .arg("migrate")
        .status()
        .await
        .with_context(|| format!("starting {}", args.server.display()))?;
    if !status.success() {
        bail!(
            "rateline migrate failed ({status}): {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    Ok(())
}

/// Starts `rateline serve` on a free port and waits up to 60 s for `/readyz` to answer 200;
/// `index` tells the run's servers' logs apart.
pub async fn start_server(
    args: &Args,
    db: &Database,
    http: &reqwest::Client,
    index: usize,
) -> anyhow::Result<Server> {
    // A free port: bind, read it back, release it for the server.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let addr = format!("127.0.0.1:{port}");
    let log = match index {
        0 => db.dir.path().join("server.log"),
        i => db.dir.path().join(format!("server-{i}.log")),
    };
    let mut child = server_command(args, db, &addr, &log)?
        .arg("serve")
        .spawn()
        .with_context(|| format!("starting {}", args.server.display()))?;
    let pid = child.id().context("the server has no pid")?;
    let api = format!("http://{addr}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait()? {
            bail!(
                "the server exited with {status} before it was ready:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        if let Ok(r) = http.get(format!("{api}/readyz")).send().await
            && r.status() == StatusCode::OK
        {
            break;
        }
        if Instant::now() > deadline {
            bail!("the server was not ready within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(Server {
        child,
        pid,
        api,
        log,
    })
}

/// The CPU time a process has spent so far, user and system, in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf reads a constant of the system.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some(ticks / per_second)
}

/// `(VmRSS, VmHWM)` of a process in MB.
pub fn memory_mb(pid: u32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse::<f64>()
            .ok()
            .map(|kb| kb / 1024.0)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

impl Server {
    /// SIGTERM, then up to 30 s for a clean exit; returns how long it took and the status.
    pub async fn stop(mut self) -> anyhow::Result<(Duration, std::process::ExitStatus)> {
        let started = Instant::now();
        // SAFETY: kill(2) on the pid of a child we spawned and have not reaped yet.
        let rc = unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGTERM) };
        if rc != 0 {
            bail!("kill(SIGTERM) failed: {}", std::io::Error::last_os_error());
        }
        match tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await {
            Ok(status) => Ok((started.elapsed(), status?)),
            Err(_) => {
                self.child.kill().await.ok();
                bail!("the server did not stop within 30 s of SIGTERM; killed it");
            }
        }
    }
}

/// Counts the warnings and errors in the server's log and keeps a few distinct ones.
pub fn log_summary(log: &Path) -> (usize, usize, Vec<String>) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let (mut warns, mut errors) = (0, 0);
    let mut samples: Vec<String> = Vec::new();
    for line in text.lines() {
        let plain = strip_ansi(line);
        if plain.contains(" ERROR ") {
            errors += 1;
        } else if plain.contains(" WARN ") {
            warns += 1;
        }
        // The message without the timestamp, so repeats of one message count once.
        let message = plain.split_once(' ').map_or(plain.as_str(), |(_, m)| m);
        if !message.trim().is_empty() && samples.len() < 8 && !samples.iter().any(|s| s == message)
        {
            samples.push(message.to_owned());
        }
    }
    (warns, errors, samples)
}

/// The line without its ANSI colour escapes.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
