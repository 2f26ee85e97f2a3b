//! The pooled HTTP client every upstream call goes through: hyper's connection pool over rustls,
//! with only what the adapters use.
//!
//! A request is a POST to a parsed URI with headers and a body already encoded; an answer is
//! its status, its headers and its body read chunk by chunk or as a byte stream. None of a
//! general client's layers run per request (redirects, proxy matching, URL re-parsing,
//! retries): the router never follows redirects (a 3xx is a broken upstream), uses no proxy,
//! and retries and fails over itself with its own accounting.
//!
//! Settings: connect timeout 10 s, `TCP_NODELAY`, TCP keepalive every 15 s (3 probes), idle
//! pooled connections kept 90 s and at most 512 per host. HTTP/2 is used where TLS negotiates
//! it (ALPN offers `h2` then `http/1.1`), HTTP/1.1 otherwise. A provider's `http:` block may
//! choose HTTP/1.1 only, HTTP/2 only (h2c by prior knowledge over plain `http://`) and its own
//! idle pool; providers with the same settings share a pool. Certificates are checked by the
//! platform verifier with the process's rustls crypto provider (aws-lc-rs unless another was
//! installed), as reqwest does for the router's other clients.
//!
//! Errors never carry the URL or a header value (keys travel in headers): only what failed,
//! such as `tcp connect error: Connection refused (os error 111)`.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::header::{self, IntoHeaderName};
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri};
use bytes::Bytes;
use futures_util::{Stream, TryStreamExt};
use http_body_util::{BodyDataStream, BodyExt, Full};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::UpstreamError;
use crate::config::{HttpSettings, HttpVersion};

const USER_AGENT: &str = concat!("switchyard/", env!("CARGO_PKG_VERSION"));

/// A URL built per request (Anthropic's `/messages`, Gemini's model methods), normalised as
/// a browser would (the URL standard's parser, as for `base_url` at load) and ready to send;
/// one that cannot be parsed fails like an unreachable upstream, without being shown.
pub(crate) fn uri(url: &str) -> Result<Uri, UpstreamError> {
    let bad = |e: &dyn fmt::Display| UpstreamError::Connect(format!("bad upstream URL: {e}"));
    let parsed = reqwest::Url::parse(url).map_err(|e| bad(&e))?;
    Uri::try_from(parsed.as_str()).map_err(|e| bad(&e))
}

type Pool = hyper_util::client::legacy::Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The pools made for providers' own `http:` settings, by setting.
type OtherPools = Vec<(HttpSettings, Arc<Pool>)>;

/// One pooled client for every upstream, so connections are reused across requests; cheap to
/// clone (the pools are shared).
#[derive(Clone)]
pub(crate) struct Client {
    /// The pool of providers with the default settings, and of the router's other calls.
    pool: Pool,
    /// Pools for other `http:` settings, each made when a provider first uses it.
    others: Arc<Mutex<OtherPools>>,
    tls: Arc<rustls::ClientConfig>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Client")
    }
}

impl Client {
    /// The client with the settings in the module doc; fails only when the platform's
    /// certificate verifier cannot start.
    pub(crate) fn new() -> Result<Self, rustls::Error> {
        let provider = rustls::crypto::CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
        let verifier = rustls_platform_verifier::Verifier::new(provider.clone())?;
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        let tls = Arc::new(tls);
        Ok(Self {
            pool: pool(&tls, &HttpSettings::DEFAULT),
            others: Arc::default(),
            tls,
        })
    }

    /// A POST to `uri` over the default pool, sent by [`RequestBuilder::send`].
    pub(crate) fn post(&self, uri: Uri) -> RequestBuilder<'_> {
        self.post_with(&HttpSettings::DEFAULT, uri)
    }

    /// A POST to `uri` over the pool for a provider's `http` settings.
    pub(crate) fn post_with(&self, http: &HttpSettings, uri: Uri) -> RequestBuilder<'_> {
        let mut request = Request::new(Full::default());
        *request.method_mut() = Method::POST;
        *request.uri_mut() = uri;
        let pool = if *http == HttpSettings::DEFAULT {
            PoolRef::Shared(&self.pool)
        } else {
            PoolRef::Owned(self.pool_for(http))
        };
        RequestBuilder {
            pool,
            request,
            invalid: None,
        }
    }

    /// The pool for `http`, made on first use (a handful at most: one per distinct setting).
    fn pool_for(&self, http: &HttpSettings) -> Arc<Pool> {
        let mut others = self
            .others
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, p)) = others.iter().find(|(s, _)| s == http) {
            return Arc::clone(p);
        }
        let p = Arc::new(pool(&self.tls, http));
        others.push((*http, Arc::clone(&p)));
        p
    }
}

/// A connection pool speaking the versions `http` allows.
fn pool(tls: &rustls::ClientConfig, http: &HttpSettings) -> Pool {
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(Some(Duration::from_secs(10)));
    tcp.set_keepalive(Some(Duration::from_secs(15)));
    tcp.set_keepalive_interval(Some(Duration::from_secs(15)));
    tcp.set_keepalive_retries(Some(3));
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls.clone())
        .https_or_http();
    let connector = match http.version {
        HttpVersion::Auto => builder.enable_http1().enable_http2().wrap_connector(tcp),
        HttpVersion::Http1 => builder.enable_http1().wrap_connector(tcp),
        HttpVersion::Http2 => builder.enable_http2().wrap_connector(tcp),
    };
    hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(http.idle_timeout)
        .pool_max_idle_per_host(http.max_idle_per_host)
        .http2_only(http.version == HttpVersion::Http2)
        .build(connector)
}

/// The pool a request goes out on: the client's own, or a provider's.
enum PoolRef<'c> {
    Shared(&'c Pool),
    Owned(Arc<Pool>),
}

/// A request being put together; headers are appended in the order given.
pub(crate) struct RequestBuilder<'c> {
    pool: PoolRef<'c>,
    request: Request<Full<Bytes>>,
    /// The name of a header whose value cannot be sent (the value itself is never kept).
    invalid: Option<&'static str>,
}

impl RequestBuilder<'_> {
    /// Appends a header (a provider's static headers, trace context, a wire's version).
    pub(crate) fn header(mut self, name: impl IntoHeaderName, value: HeaderValue) -> Self {
        self.request.headers_mut().append(name, value);
        self
    }

    /// A header carrying a secret (an API key): marked sensitive, so HTTP/2 never indexes it
    /// and `Debug` hides it; a value that is not a valid header fails the send without
    /// saying what it was.
    pub(crate) fn secret_header(mut self, name: &'static str, value: &str) -> Self {
        match HeaderValue::from_str(value) {
            Ok(mut v) => {
                v.set_sensitive(true);
                self.request.headers_mut().append(name, v);
            }
            Err(_) => self.invalid = Some(name),
        }
        self
    }

    /// `Authorization: Bearer <key>`, sensitive.
    pub(crate) fn bearer_auth(self, key: &str) -> Self {
        self.secret_header("authorization", &format!("Bearer {key}"))
    }

    /// An encoded JSON body, with its content type.
    pub(crate) fn json(mut self, body: impl Into<Bytes>) -> Self {
        self.request.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        *self.request.body_mut() = Full::new(body.into());
        self
    }

    /// Sends the request on a pooled connection (or a new one) and returns once the answer's
    /// head has arrived. A `User-Agent` and `Accept: */*` are added unless set.
    pub(crate) async fn send(self) -> Result<Response, Error> {
        if let Some(name) = self.invalid {
            return Err(Error {
                timed_out: false,
                message: format!("builder error: the {name} header's value is not valid"),
            });
        }
        let mut request = self.request;
        let headers = request.headers_mut();
        headers
            .entry(header::USER_AGENT)
            .or_insert(HeaderValue::from_static(USER_AGENT));
        headers
            .entry(header::ACCEPT)
            .or_insert(HeaderValue::from_static("*/*"));
        let pool: &Pool = match &self.pool {
            PoolRef::Shared(p) => p,
            PoolRef::Owned(p) => p,
        };
        let answer = pool
            .request(request)
            .await
            .map_err(|e| Error::from_chain("error sending request", &e))?;
        let (head, body) = answer.into_parts();
        Ok(Response {
            status: head.status,
            headers: head.headers,
            body,
        })
    }
}

/// An answer whose head has arrived; the body is read as it comes.
pub(crate) struct Response {
    status: StatusCode,
    headers: HeaderMap,
    body: Incoming,
}

impl Response {
    /// The answer's status.
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    /// The answer's headers (rate-limit figures, `retry-after`).
    pub(crate) fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The next piece of the body, `None` once it has ended (and on every call after);
    /// trailers and empty frames are skipped.
    pub(crate) async fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        loop {
            match self.body.frame().await {
                None => return Ok(None),
                Some(Err(e)) => return Err(Error::body(&e)),
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) if !data.is_empty() => return Ok(Some(data)),
                    _ => {}
                },
            }
        }
    }

    /// The body as a stream of byte chunks (trailers skipped), ending when the body does; a
    /// failed read yields one [`Error`].
    pub(crate) fn bytes_stream(self) -> impl Stream<Item = Result<Bytes, Error>> + Send {
        BodyDataStream::new(self.body).map_err(|e| Error::body(&e))
    }
}

/// Why a request or a body read failed: the causes, without the URL or any header value.
#[derive(Debug, Clone)]
pub(crate) struct Error {
    timed_out: bool,
    message: String,
}

impl Error {
    /// `context` and the text of every cause below `e` (the client's own top level only names
    /// its error kind); timed out when any cause is a timeout (the connect timeout, say).
    fn from_chain(context: &str, e: &(dyn std::error::Error + 'static)) -> Self {
        let mut message = context.to_owned();
        let mut timed_out = false;
        let mut cause = if e.is::<hyper_util::client::legacy::Error>() {
            e.source()
        } else {
            Some(e)
        };
        while let Some(c) = cause {
            if let Some(io) = c.downcast_ref::<std::io::Error>() {
                timed_out |= io.kind() == std::io::ErrorKind::TimedOut;
            }
            if let Some(h) = c.downcast_ref::<hyper::Error>() {
                timed_out |= h.is_timeout();
            }
            message.push_str(": ");
            message.push_str(&c.to_string());
            cause = c.source();
        }
        Self { timed_out, message }
    }

    fn body(e: &hyper::Error) -> Self {
        Self::from_chain("error reading the body", e)
    }

    /// Whether the failure was a timeout (connecting, or the transport's own).
    pub(crate) fn is_timeout(&self) -> bool {
        self.timed_out
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A one-connection server on loopback that reads a request's head and writes `answer`
    /// (raw HTTP/1.1 bytes), then closes; returns its URL and what it received.
    async fn answering(answer: &'static [u8]) -> (Uri, tokio::task::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let served = tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = conn.read(&mut buf).await.unwrap();
                assert!(n > 0, "the client closed before sending a head");
                seen.extend_from_slice(&buf[..n]);
            }
            conn.write_all(answer).await.unwrap();
            conn.shutdown().await.unwrap();
            String::from_utf8_lossy(&seen).into_owned()
        });
        let uri = format!("http://{addr}/v1/chat/completions")
            .parse()
            .unwrap();
        (uri, served)
    }

    const CHUNKED: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nx-ratelimit-remaining-requests: 7\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";

    #[tokio::test]
    async fn chunks_arrive_in_order_and_the_body_end_is_none_every_time() {
        let (uri, served) = answering(CHUNKED).await;
        let client = Client::new().unwrap();
        let mut resp = client
            .post(uri)
            .bearer_auth("sk-secret")
            .json(&b"{}"[..])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["x-ratelimit-remaining-requests"], "7");
        let mut body = Vec::new();
        while let Some(c) = resp.chunk().await.unwrap() {
            body.extend_from_slice(&c);
        }
        assert_eq!(body, b"hello world");
        assert!(resp.chunk().await.unwrap().is_none(), "stays ended");
        let head = served.await.unwrap().to_ascii_lowercase();
        for line in [
            "post /v1/chat/completions http/1.1",
            "authorization: bearer sk-secret",
            "content-type: application/json",
            "content-length: 2",
            "accept: */*",
            "user-agent: switchyard/",
        ] {
            assert!(head.contains(line), "{line} missing from {head}");
        }
    }

    #[test]
    fn providers_with_the_same_http_settings_share_one_pool() {
        let client = Client::new().unwrap();
        let uri = || Uri::from_static("http://127.0.0.1:9/v1/chat/completions");
        let h2 = HttpSettings {
            version: HttpVersion::Http2,
            ..HttpSettings::DEFAULT
        };
        let h1 = HttpSettings {
            version: HttpVersion::Http1,
            ..HttpSettings::DEFAULT
        };
        for http in [HttpSettings::DEFAULT, h2, h1, h2, HttpSettings::DEFAULT] {
            let _ = client.post_with(&http, uri());
        }
        let others = client.others.lock().unwrap();
        let kept: Vec<HttpSettings> = others.iter().map(|(s, _)| *s).collect();
        assert_eq!(kept, [h2, h1], "the default needs no pool of its own");
    }

    #[tokio::test]
    async fn the_byte_stream_ends_with_the_body() {
        let (uri, _served) = answering(CHUNKED).await;
        let resp = Client::new().unwrap().post(uri).send().await.unwrap();
        let chunks: Vec<Bytes> = resp.bytes_stream().map(Result::unwrap).collect().await;
        assert_eq!(chunks.concat(), b"hello world");
    }

    #[tokio::test]
    async fn a_body_cut_short_is_an_error_then_the_end() {
        let (uri, _served) =
            answering(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly this").await;
        let resp = Client::new().unwrap().post(uri).send().await.unwrap();
        let items: Vec<Result<Bytes, Error>> = resp.bytes_stream().collect().await;
        let last = items.last().unwrap();
        assert!(
            matches!(last, Err(e) if e.to_string().starts_with("error reading the body")),
            "{items:?}"
        );
        let read: Vec<u8> = items
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .flat_map(|b| b.to_vec())
            .collect();
        assert_eq!(read, b"only this");
    }

    #[tokio::test]
    async fn a_refused_connection_names_the_cause_but_not_the_url_or_key() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let uri: Uri = format!("http://{addr}/v1/secret-path?key=sk-in-query")
            .parse()
            .unwrap();
        let err = Client::new()
            .unwrap()
            .post(uri)
            .bearer_auth("sk-live-123")
            .send()
            .await
            .err()
            .unwrap();
        let text = err.to_string();
        assert!(text.starts_with("error sending request: "), "{text}");
        assert!(text.contains("onnection refused"), "{text}");
        for leak in [
            "secret-path",
            "sk-in-query",
            "sk-live-123",
            &addr.port().to_string(),
        ] {
            assert!(!text.contains(leak), "{leak} in {text}");
        }
        assert!(!err.is_timeout());
    }

    #[tokio::test]
    async fn a_key_that_cannot_be_a_header_fails_without_being_shown() {
        let (uri, _served) = answering(CHUNKED).await;
        let err = Client::new()
            .unwrap()
            .post(uri)
            .secret_header("x-api-key", "sk-bad\nvalue")
            .send()
            .await
            .err()
            .unwrap();
        assert!(err.to_string().contains("x-api-key"), "{err}");
        assert!(!err.to_string().contains("sk-bad"), "{err}");
    }
}
