//! Bad input: 400 with a JSON body naming the parameter; bad flags exit with code 2.

use bytes::Bytes;
use sse_server::Config;

use crate::util::{InProcess, request, within};

#[tokio::test]
async fn bad_parameters_answer_400_naming_the_parameter() {
    let server = InProcess::start(Config::default()).await;
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case<'_>] = &[
        ("/sse?delay=abc", &[], "delay"),
        ("/sse?delay=-1", &[], "delay"),
        ("/sse?size=99999999999", &[], "size"),
        ("/sse?count=0", &[], "count"),
        ("/sse/finite?count=many", &[], "count"),
        ("/events", &[("last-event-id", "seven")], "Last-Event-ID"),
        ("/events?last_event_id=-4", &[], "last_event_id"),
        ("/sse", &[("last-event-id", "1.5")], "Last-Event-ID"),
    ];
    for (path, headers, parameter) in cases {
        let (status, body) = request(server.addr, "GET", path, headers, Bytes::new()).await;
        assert_eq!(status, 400, "{path}");
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["parameter"], *parameter, "{path}: {json}");
        assert!(
            json["error"].as_str().unwrap().contains(parameter),
            "{path}: {json}"
        );
    }
    let (status, body) = request(server.addr, "POST", "/publish?event=a%0Ab", &[], Bytes::from("x")).await;
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("event"));
    let (status, _) = request(server.addr, "GET", "/nope", &[], Bytes::new()).await;
    assert_eq!(status, 404);
    assert_eq!(
        server.metrics().registered_events,
        0,
        "no stream was opened by a bad request"
    );
    server.stop().await;
}

#[tokio::test]
async fn publish_and_health_answer_json() {
    let server = InProcess::start(Config::default()).await;
    let (status, body) = request(server.addr, "POST", "/publish?event=note", &[], Bytes::from("hi")).await;
    assert_eq!(status, 200);
    assert_eq!(&body[..], br#"{"id":1}"#);
    let (status, body) = request(server.addr, "GET", "/health", &[], Bytes::new()).await;
    assert_eq!(status, 200);
    assert_eq!(&body[..], br#"{"status":"healthy"}"#);
    let (status, body) = request(server.addr, "GET", "/metrics/prometheus", &[], Bytes::new()).await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("sse_events_published_total 1\n"));
    server.stop().await;
}

#[tokio::test]
async fn invalid_flags_exit_with_code_2_naming_the_flag() {
    for (flag, value) in [
        ("--send-timeout", "soon"),
        ("--replay-capacity", "0"),
        ("--bind", "nowhere"),
    ] {
        let out = within(
            "sse-server to reject the flag",
            tokio::process::Command::new(env!("CARGO_BIN_EXE_sse-server"))
                .args([flag, value])
                .output(),
        )
        .await
        .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag} {value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(flag), "{flag}: {stderr}");
    }
}
