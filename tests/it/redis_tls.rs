//! Shared state over TLS (`rediss://`): a Redis started by the test with a self-signed
//! certificate; two instances share a rate limit through it.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::policies::{self, key_entry, KEYS_AUTH};
use crate::common::{chat, wait_until, Harness, Upstream};
use switchyard::sha256_hex;

const KEY: &str = "sk-sy-tls-0123456789abcdefghijklmnopqrst";
const OPS: &str = "ops-tls-0123456789abcdefghijkl";

/// A TLS-only redis-server on a free port, stopped (and its files removed) on drop.
struct TlsRedis {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn start_tls_redis() -> TlsRedis {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(made.success(), "openssl made a certificate");
    let port = free_port();
    let child = Command::new("redis-server")
        .args(["--port", "0", "--tls-port", &port.to_string()])
        .arg("--tls-cert-file")
        .arg(&cert)
        .arg("--tls-key-file")
        .arg(&key)
        .arg("--tls-ca-cert-file")
        .arg(&cert)
        .args([
            "--tls-auth-clients",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server starts");
    TlsRedis {
        child,
        port,
        _dir: dir,
    }
}

#[tokio::test]
async fn two_instances_share_a_limit_through_rediss() {
    let redis = start_tls_redis();
    let prefix = format!("sy-tls-{:08x}", rand::random::<u32>());
    let server = format!(
        "{KEYS_AUTH}  ops_key_sha256: {}\ntiers:\n  t: {{rpm: 3}}\ndefault_tier: t\n\
         state:\n  redis: rediss://127.0.0.1:{}/#insecure\n  prefix: {prefix}\n  \
         on_unavailable: refuse\n  timeout_ms: 3000\n",
        sha256_hex(OPS),
        redis.port
    );
    let a = Harness::builder(vec![Upstream::new("alpha", &["a-1"])])
        .policy(policies::ALPHA)
        .server(server)
        .keys(key_entry("k", KEY, "user: tls"))
        .start()
        .await;
    wait_until(
        "redis over TLS to answer",
        Duration::from_secs(10),
        async || {
            a.get_as(Some(OPS), "/health/detailed").await.1["shared_state"]["connected"] == true
        },
    )
    .await;
    let b = a.twin().await;
    let mut statuses = Vec::new();
    for h in [&a, &b, &a, &b] {
        statuses.push(h.post_chat_as(KEY, chat("auto", "hi")).await.0.as_u16());
    }
    assert_eq!(
        statuses,
        [200, 200, 200, 429],
        "one limit of 3 per minute across both"
    );
}
