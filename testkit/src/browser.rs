//! Debian's headless Chromium driven through chromedriver (WebDriver), for the tests of
//! what users see in a browser: the web chat widget and the dashboard.
//!
//! Without chromedriver the browser tests say so and pass, except under CI, where
//! `.ci/run` installs it and its absence is a failure.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use serde_json::json;

/// chromedriver and the WebDriver session on it; both end with the test.
pub struct Browser {
    /// The WebDriver session on headless Chromium, which the test drives.
    pub client: Client,
    driver: Child,
}

impl Drop for Browser {
    /// Ends chromedriver and the Chromium it started. Killing chromedriver alone left its
    /// Chromium (a dozen processes a session) running with no parent, a few hundred of them
    /// after a test run; they share chromedriver's process group, so the group goes.
    fn drop(&mut self) {
        if let Ok(group) = i32::try_from(self.driver.id()) {
            // SAFETY: kill(2) with a negative pid signals that process group and touches
            // no memory of ours.
            unsafe { libc::kill(-group, libc::SIGKILL) };
        }
        let _ = self.driver.wait();
    }
}

fn on_path(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

/// Starts chromedriver on a free port and opens a session on headless Chromium. `None` where
/// chromedriver is not installed, saying so, and the test then passes; under CI that is a failure
/// instead.
pub async fn browser() -> Option<Browser> {
    let Some(chromedriver) = on_path("chromedriver") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromedriver is not installed; .ci/run installs Debian's chromium and chromium-driver"
        );
        eprintln!("warning: chromedriver not found; the browser tests are skipped");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let driver = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        // A group of its own, which Chromium joins: Drop ends them together.
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if http
            .get(format!("{url}/status"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                        "--disable-dev-shm-usage", "--window-size=900,720"]}),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&url)
        .await
        .expect("a WebDriver session on headless Chromium");
    Some(Browser { client, driver })
}

/// Keeps a screenshot in `target/screenshots/`.
pub fn save_screenshot(png: &[u8], name: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), png).unwrap();
}
