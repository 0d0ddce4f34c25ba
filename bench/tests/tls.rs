//! `https://` targets: a self-publishing SSE server over TLS with a certificate the test makes
//! (rcgen), trusted through the target file's `[tls] ca_file`, refused with the system roots,
//! and accepted with `--insecure`. Counts only, no timings.

#[path = "scenarios/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use helpers::{heavy, num, report, schema, sse_load, text};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Starts a TLS server streaming `t=<unix-nanos>` events every 10 ms to every request, in a
/// background thread; returns its address and the certificate (PEM).
fn tls_server() -> (SocketAddr, String) {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let pem = key.cert.pem();
    let chain = vec![CertificateDer::from(key.cert.der().to_vec())];
    let private = PrivateKeyDer::try_from(key.signing_key.serialize_der()).unwrap();
    let config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, private)
            .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        if tls.read(&mut byte).await.unwrap_or(0) == 0 {
                            return;
                        }
                        head.push(byte[0]);
                    }
                    let answer =
                        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";
                    if tls.write_all(answer).await.is_err() {
                        return;
                    }
                    for id in 1u64.. {
                        let frame = format!("id: {id}\ndata: t={}\n\n", sse_server::publisher::unix_nanos());
                        if tls.write_all(frame.as_bytes()).await.is_err() || tls.flush().await.is_err() {
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                });
            }
        });
    });
    (rx.recv_timeout(Duration::from_secs(10)).unwrap(), pem)
}

fn run(dir: &Path, file: &Path, extra: &[&str]) -> (std::process::Output, std::path::PathBuf) {
    let out_dir = dir.join(format!("out{}", extra.len()));
    let mut args = vec![
        "--target-file",
        file.to_str().unwrap(),
        "--scenario",
        "fanout",
        "--clients",
        "4",
        "--duration",
        "1s",
        "--output-dir",
        out_dir.to_str().unwrap(),
        "--baselines-dir",
    ];
    let none = dir.join("none");
    args.push(none.to_str().unwrap());
    args.extend_from_slice(extra);
    (sse_load(&args, Duration::from_secs(60)), out_dir)
}

#[test]
fn https_targets_with_a_ca_file_the_system_roots_and_insecure() {
    let _heavy = heavy();
    let (addr, pem) = tls_server();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pem).unwrap();
    let stream = format!(
        "[stream]\nurl = \"https://{addr}/ticks?x=1\"\n[events]\nsource = \"self\"\nsend_time = {{ prefix = \"t=\", unit = \"ns\" }}\n"
    );
    let trusted = dir.path().join("trusted.toml");
    std::fs::write(
        &trusted,
        format!("{stream}[tls]\nca_file = \"{}\"\n", ca.display()),
    )
    .unwrap();
    let plain = dir.path().join("plain.toml");
    std::fs::write(&plain, &stream).unwrap();

    // Trusted through the file's CA: every client reads, nothing lost.
    let (out, out_dir) = run(dir.path(), &trusted, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let fanout = report(&schema(), &out_dir, "fanout");
    assert_eq!(num(&fanout, "/connections/succeeded"), 4.0, "{fanout}");
    assert!(num(&fanout, "/events/received") > 0.0);
    assert_eq!(num(&fanout, "/events/lost"), 0.0);
    assert!(num(&fanout, "/latency/publish_to_receive/count") > 0.0);

    // The system roots do not know the test certificate: every handshake fails, counted as
    // tls, and every connection failing is a failed absolute check (exit 4).
    let (out, out_dir) = run(dir.path(), &plain, &["--repeat", "1"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let fanout = report(&schema(), &out_dir, "fanout");
    assert_eq!(num(&fanout, "/connections/succeeded"), 0.0, "{fanout}");
    assert_eq!(num(&fanout, "/connections/errors/tls"), 4.0, "{fanout}");

    // --insecure accepts it.
    let (out, out_dir) = run(dir.path(), &plain, &["--insecure"]);
    assert!(out.status.success(), "{}", text(&out));
    let fanout = report(&schema(), &out_dir, "fanout");
    assert_eq!(num(&fanout, "/connections/succeeded"), 4.0, "{fanout}");
    assert_eq!(num(&fanout, "/events/lost"), 0.0);

    // A CA file that is not one is a usage error naming it.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        format!("{stream}[tls]\nca_file = \"{}\"\n", trusted.display()),
    )
    .unwrap();
    let (out, _) = run(dir.path(), &bad, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("trusted.toml"),
        "{}",
        text(&out)
    );
}
