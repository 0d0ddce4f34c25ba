//! HTTP/2: many streams on one connection get every event in order; one stream whose window is withheld is reset alone.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use h2::client::SendRequest;
use h2::{Reason, RecvStream};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::util::{Process, within};

/// Streams opened on the one connection.
pub const STREAMS: usize = 100;
/// The server's send timeout in these tests.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(2);

/// Server flags of these tests: 100 events/s of 128 bytes, no pings, a 2 s send timeout.
/// (100 streams of that are 10,000 frames/s through a debug build on a shared machine.)
pub const SERVER_ARGS: [&str; 8] = [
    "--send-timeout",
    "2s",
    "--publish-rate",
    "100",
    "--payload-size",
    "128",
    "--ping-interval",
    "0",
];

/// An HTTP/2 client over `io`: 16 KiB of window per stream, plenty for the connection.
/// The task returned drives the connection and ends when the server closes it.
pub async fn h2_client<T>(io: T) -> (SendRequest<Bytes>, tokio::task::JoinHandle<()>)
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (client, connection) = h2::client::Builder::new()
        .initial_window_size(16 * 1024)
        .initial_connection_window_size(64 << 20)
        .handshake::<_, Bytes>(io)
        .await
        .expect("HTTP/2 handshake");
    let task = tokio::spawn(async move {
        let _ = connection.await;
    });
    (client, task)
}

/// Opens `GET /events` on `client`; returns the response body.
async fn open_events(client: &SendRequest<Bytes>, authority: &str) -> RecvStream {
    let mut client = client.clone().ready().await.expect("a stream slot");
    let request = hyper::Request::get(format!("{authority}/events"))
        .body(())
        .unwrap();
    let (response, _) = client.send_request(request, true).expect("a stream");
    let response = within("stream headers", response).await.expect("a response");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    response.into_body()
}

/// GETs `/metrics` on a new stream of `client` (the server may speak only TLS).
async fn h2_metrics(client: &SendRequest<Bytes>, authority: &str) -> sse_server::Snapshot {
    within("metrics over HTTP/2", async {
        let mut client = client.clone().ready().await.expect("a stream slot");
        let request = hyper::Request::get(format!("{authority}/metrics"))
            .body(())
            .unwrap();
        let (response, _) = client.send_request(request, true).expect("a stream");
        let mut body = response.await.expect("a response").into_body();
        let mut json = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.expect("the metrics body");
            body.flow_control().release_capacity(chunk.len()).unwrap();
            json.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&json).expect("metrics JSON")
    })
    .await
}

/// Reads events, releasing window as it goes, until an id of at least the watched one;
/// returns how many events arrived, all consecutive.
async fn read_in_order(mut body: RecvStream, until: watch::Receiver<u64>) -> u64 {
    let mut buf = BytesMut::new();
    let mut expected: Option<u64> = None;
    let mut count = 0;
    loop {
        let chunk = body
            .data()
            .await
            .expect("the stream stays open")
            .expect("no stream error");
        body.flow_control().release_capacity(chunk.len()).unwrap();
        buf.extend_from_slice(&chunk);
        while let Some(at) = buf.windows(2).position(|w| w == b"\n\n") {
            let frame = buf.split_to(at + 2);
            let text = std::str::from_utf8(&frame).unwrap();
            let id: u64 = text
                .lines()
                .find_map(|line| line.strip_prefix("id: "))
                .expect("an id")
                .parse()
                .unwrap();
            if let Some(expected) = expected {
                assert_eq!(id, expected, "no gap, no duplicate");
            }
            expected = Some(id + 1);
            count += 1;
            let last = *until.borrow();
            if last > 0 && id >= last {
                return count;
            }
        }
    }
}

/// Reads a stream without ever releasing window; returns when and how it was reset.
async fn frozen_until_reset(mut body: RecvStream, opened: Instant) -> (Duration, Option<Reason>) {
    loop {
        match body.data().await {
            Some(Ok(_)) => {}
            Some(Err(err)) => return (opened.elapsed(), err.reason()),
            None => return (opened.elapsed(), None),
        }
    }
}

/// The whole check over one HTTP/2 connection made by `client` to the server at `addr`.
pub async fn frozen_stream_is_reset_alone(client: SendRequest<Bytes>, authority: &str) {
    let (until_tx, until_rx) = watch::channel(0u64);
    let mut healthy = Vec::new();
    for _ in 0..STREAMS - 1 {
        let body = open_events(&client, authority).await;
        healthy.push(tokio::spawn(read_in_order(body, until_rx.clone())));
    }
    let opened = Instant::now();
    let frozen = open_events(&client, authority).await;
    let (reset_after, reason) = within(
        "the frozen stream to be reset",
        frozen_until_reset(frozen, opened),
    )
    .await;
    let at_reset = h2_metrics(&client, authority).await;
    // The other streams keep receiving: one more second of events after the reset.
    until_tx.send(at_reset.events_published + 100).unwrap();
    for reader in healthy {
        let count = within("a healthy stream to read on", reader).await.unwrap();
        assert!(count > 100, "a healthy stream got {count} events");
    }
    println!(
        "HTTP/2 ({authority}): stream without window reset ({reason:?}) {reset_after:?} after opening \
         (send timeout {SEND_TIMEOUT:?}); {} other streams on the connection received every event in order",
        STREAMS - 1
    );
    assert_eq!(reason, Some(Reason::CANCEL), "reset, not ended");
    // 16 KiB of window lasts about a second at 100 events/s of ~160 bytes; then the timeout.
    assert!(
        reset_after <= SEND_TIMEOUT + Duration::from_secs(3),
        "reset after {reset_after:?}"
    );
    assert!(reset_after >= SEND_TIMEOUT, "reset early, after {reset_after:?}");
    // The readers dropped their streams (a reset from the client): the server lets go too.
    let end = within("the server to let go of the dropped streams", async {
        loop {
            let m = h2_metrics(&client, authority).await;
            if m.registered_events == 0 {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(end.clients_evicted, 1, "only the frozen stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_streams_on_one_connection_and_a_frozen_one() {
    let server = Process::start(&SERVER_ARGS).await;
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (client, _connection) = h2_client(tcp).await;
    frozen_stream_is_reset_alone(client, &format!("http://{}", server.addr)).await;
}

/// A certificate for `localhost` made for this test, written as PEM files.
struct TestCert {
    dir: tempfile::TempDir,
    der: rustls::pki_types::CertificateDer<'static>,
}

impl TestCert {
    fn generate() -> Self {
        let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cert.pem"), generated.cert.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), generated.signing_key.serialize_pem()).unwrap();
        Self {
            dir,
            der: generated.cert.der().clone(),
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_owned()
    }

    /// A TLS client that trusts only this certificate and offers ALPN `h2`.
    fn connector(&self) -> tokio_rustls::TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.der.clone()).unwrap();
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec()];
        tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_h2_streams_on_one_connection_and_a_frozen_one() {
    let cert = TestCert::generate();
    let (cert_path, key_path) = (cert.path("cert.pem"), cert.path("key.pem"));
    let mut args = SERVER_ARGS.to_vec();
    args.extend(["--tls-cert", &cert_path, "--tls-key", &key_path]);
    let server = Process::start(&args).await;
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = within("the TLS handshake", cert.connector().connect(name, tcp))
        .await
        .expect("a handshake with the generated certificate");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]), "ALPN chose h2");
    let (client, _connection) = h2_client(tls).await;
    let authority = format!("https://localhost:{}", server.addr.port());
    frozen_stream_is_reset_alone(client, &authority).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_h2_connection_is_closed_after_the_idle_timeout() {
    const IDLE: Duration = Duration::from_secs(1);
    let server = Process::start(&["--idle-timeout", "1s"]).await;
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (client, connection) = h2_client(tcp).await;
    let snapshot = h2_metrics(&client, &format!("http://{}", server.addr)).await;
    assert_eq!(snapshot.connections_timed_out, 0);
    let answered = Instant::now();
    within("the server to close the idle HTTP/2 connection", connection)
        .await
        .unwrap();
    let idle = answered.elapsed();
    println!("idle HTTP/2 connection closed {idle:?} after its last stream (idle timeout {IDLE:?})");
    assert!(idle >= IDLE - Duration::from_millis(50), "closed early: {idle:?}");
    assert!(idle <= IDLE + Duration::from_secs(3), "closed late: {idle:?}");
}
