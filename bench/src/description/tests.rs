use super::*;

fn env(name: &str) -> Option<String> {
    (name == "API_TOKEN").then(|| "tok-123".to_owned())
}

fn parse_ok(text: &str) -> Description {
    parse(text, "t", &env).unwrap()
}

fn parse_err(text: &str) -> String {
    parse(text, "t", &env).unwrap_err().to_string()
}

const FULL: &str = r#"
name = "demo"
[stream]
urls = ["http://127.0.0.1:9/a?topic=1", "http://127.0.0.1:9/a?topic=2"]
headers = { Authorization = "Bearer ${API_TOKEN}" }
last_event_id = true
[events]
source = "publish"
send_time = { json_pointer = "/sent", unit = "ms" }
[events.publish]
url = "http://127.0.0.1:9/pub"
headers = { "Content-Type" = "application/json" }
body = '{"sent": {send_time_ms}, "n": {seq}}'
[per_connection]
url = "http://127.0.0.1:9/sse?delay={delay_seconds}&size={size}"
[health]
url = "http://127.0.0.1:9/health"
[metrics]
url = "http://127.0.0.1:9/metrics"
format = "json"
keys = { memory_rss_mb = "/mem/rss" }
[process]
pid = 42
"#;

#[test]
fn a_full_file_is_understood() {
    let d = parse_ok(FULL);
    assert_eq!(d.name, "demo");
    assert_eq!(d.streams.len(), 2);
    assert_eq!(d.streams[1].query(), Some("topic=2"));
    assert!(d.last_event_id);
    let publish = d.publish().unwrap();
    assert_eq!(publish.method, Method::POST);
    assert_eq!(publish.url.path(), "/pub");
    assert!(matches!(d.send_time, SendTime::JsonPointer { .. }));
    assert_eq!(
        d.per_connection_url(0.01, 64).unwrap(),
        "http://127.0.0.1:9/sse?delay=0.01&size=64"
    );
    assert_eq!(d.process, Some(Process::Pid(42)));
    let metrics = d.metrics.unwrap();
    assert!(
        matches!(metrics.format, MetricsFormat::Json { ref keys } if keys["memory_rss_mb"] == "/mem/rss")
    );
    assert_eq!(d.headers.shown(), ["authorization: Bearer ${API_TOKEN}"]);
}

#[test]
fn a_minimal_self_publishing_file() {
    let d = parse_ok(
        "[stream]\nurl = \"http://localhost:3000/ticks\"\n[events]\nsource = \"self\"\nsend_time = { prefix = \"t=\", unit = \"s\" }\n",
    );
    assert_eq!(d.name, "t");
    assert!(d.publish().is_none());
    assert!(!d.last_event_id);
    assert_eq!(d.method, Method::GET);
    assert!(d.body.is_none() && d.end.is_none());
    assert!(d.metrics.is_none() && d.process.is_none() && d.health.is_none());
}

#[test]
fn the_default_publish_body_is_the_reference_stamp() {
    let d = parse_ok(
        "[stream]\nurl = \"http://h/e\"\n[events]\nsource = \"publish\"\n[events.publish]\nurl = \"http://h/p\"\n",
    );
    assert_eq!(d.send_time, SendTime::Reference);
    assert_eq!(d.publish().unwrap().body.source(), file::DEFAULT_PUBLISH_BODY);
}

#[test]
fn mistakes_are_named() {
    let base = "[stream]\nurl = \"http://h/e\"\n";
    assert!(parse_err("[stream]\n").contains("stream.url"));
    assert!(parse_err(base).contains("[events]"));
    let err = parse_err(&format!("{base}[events]\nsource = \"publish\"\n"));
    assert!(err.contains("events.publish"), "{err}");
    let err = parse_err(&format!("{base}[events]\nsource = \"self\"\ncolour = 1\n"));
    assert!(err.contains("colour"), "{err}");
    let err = parse_err("[stream]\nurl = \"h:8000/e\"\n[events]\nsource = \"self\"\n");
    assert!(err.contains("http://"), "{err}");
    let err = parse_err("[stream]\nurl = \"http://h/e?k=${API_TOKEN}\"\n[events]\nsource = \"self\"\n");
    assert!(err.contains("header"), "{err}");
    let err = parse_err(&format!(
        "{base}[events]\nsource = \"self\"\n[process]\npid = 1\npid_file = \"x\"\n"
    ));
    assert!(err.contains("exactly one"), "{err}");
    let err = parse_err(&format!(
        "{base}[events]\nsource = \"self\"\n[metrics]\nurl = \"http://h/m\"\nformat = \"prometheus\"\nkeys = {{ a = \"/b\" }}\n"
    ));
    assert!(err.contains("json"), "{err}");
    let err = parse_err(&format!(
        "{base}[events]\nsource = \"publish\"\n[events.publish]\nurl = \"http://h/p\"\nbody = \"{{nope}}\"\n"
    ));
    assert!(
        err.contains("events.publish.body") && err.contains("{nope}"),
        "{err}"
    );
    let err = parse_err(
        "[stream]\nurl = \"http://h/e\"\nheaders = { Authorization = \"${UNSET_VAR}\" }\n[events]\nsource = \"self\"\n",
    );
    assert!(err.contains("export UNSET_VAR"), "{err}");
    assert!(!err.contains("tok-123"));
}

#[test]
fn missing_files_name_their_path() {
    let err = load(Path::new("/nonexistent/target.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/target.toml"), "{err}");
}

#[test]
fn request_driven_streams_take_a_method_body_and_end() {
    let d = parse_ok(
        "[stream]\nurl = \"http://h/v1/chat/completions\"\nmethod = \"POST\"\nbody = '{\"stream\": true, \"n\": {seq}}'\nend = \"[DONE]\"\n[events]\nsource = \"self\"\n",
    );
    assert_eq!(d.method, Method::POST);
    assert_eq!(d.end.as_deref(), Some("[DONE]"));
    let mut buf = String::new();
    assert_eq!(
        &d.body.unwrap().render(&mut buf, 3, 0)[..],
        b"{\"stream\": true, \"n\": 3}"
    );
    let err = parse_err("[stream]\nurl = \"http://h/e\"\nend = \"\"\n[events]\nsource = \"self\"\n");
    assert!(err.contains("stream.end"), "{err}");
}

#[test]
fn streams_may_choose_http2_and_streams_per_connection() {
    let base = "[events]\nsource = \"self\"\n[stream]\nurl = \"https://127.0.0.1:9/a\"\n";
    assert_eq!(parse_ok(base).protocol, None);
    let h2 = parse_ok(&format!("{base}protocol = \"h2\"\nstreams_per_connection = 10\n"))
        .protocol
        .unwrap();
    assert_eq!((h2.name(), h2.streams_per_connection()), ("h2", 10));
    // Streams per connection alone mean HTTP/2.
    let implied = parse_ok(&format!("{base}streams_per_connection = 4\n"))
        .protocol
        .unwrap();
    assert_eq!(implied.name(), "h2");
    let err = parse_err(&format!("{base}protocol = \"h1\"\nstreams_per_connection = 4\n"));
    assert!(err.contains("stream.protocol") && err.contains("HTTP/2"), "{err}");
    let err = parse_err(&format!("{base}protocol = \"spdy\"\n"));
    assert!(err.contains("spdy"), "{err}");
}
