//! The real `switchyard serve` binary as a child process, for crash, signal and log tests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A router process started from files written into its own temporary folder (its logs go to
/// `router.log` there); killed on drop.
pub struct RouterProcess {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    pub dir: tempfile::TempDir,
}

impl RouterProcess {
    /// Writes `switchyard.yaml` (`server`, without `listen:`), `providers/*.yaml`,
    /// `policies/*.yaml` and `keys.yaml` (when given), then starts `switchyard serve` with
    /// `env` and waits for its "listening" line.
    pub fn start(
        server: &str,
        providers: &[(&str, String)],
        policies: &[(&str, &str)],
        keys: Option<&str>,
        env: &[(&str, &str)],
    ) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        for sub in ["providers", "policies"] {
            std::fs::create_dir_all(d.join(sub)).expect("config folders");
        }
        for (name, text) in providers {
            std::fs::write(d.join(format!("providers/{name}.yaml")), text).expect("provider");
        }
        for (name, text) in policies {
            std::fs::write(d.join(format!("policies/{name}.yaml")), text).expect("policy");
        }
        if let Some(k) = keys {
            std::fs::write(d.join("keys.yaml"), k).expect("keys");
        }
        std::fs::write(
            d.join("switchyard.yaml"),
            format!("listen: 127.0.0.1:0\nlog_format: json\n{server}"),
        )
        .expect("server file");
        let log = d.join("router.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .arg("serve")
            .arg("--config")
            .arg(d.join("switchyard.yaml"))
            // the caller's RUST_LOG, if any, wins over this default
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("switchyard serve starts");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let url = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| {
                l.strip_prefix("switchyard listening on ")
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("the router did not start:\n{log}")
            });
        // keep draining stdout, so a later line never meets a closed pipe
        std::thread::spawn(move || lines.for_each(drop));
        Self {
            child: Some(child),
            url,
            dir,
        }
    }

    /// `path` in the router's folder.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then how long the process took to exit, or `None` if it did not within `max`
    /// (it is then killed).
    pub fn terminate(&mut self, max: Duration) -> Option<Duration> {
        let mut c = self.child.take()?;
        let sent = Instant::now();
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        while sent.elapsed() < max {
            if let Ok(Some(_)) = c.try_wait() {
                return Some(sent.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        None
    }

    /// The ledger's lines as JSON.
    pub fn ledger(&self, file: &str) -> Vec<serde_json::Value> {
        read_lines(&self.path(file))
    }
}

impl Drop for RouterProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Every JSON line of a file (none if it does not exist).
pub fn read_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}
