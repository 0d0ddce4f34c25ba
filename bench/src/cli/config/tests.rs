//! Tests of the second CLI layer: flags validated into a mode and a run configuration.

use super::*;
use clap::Parser as _;

fn mode(args: &[&str]) -> Result<Mode, ConfigError> {
    Mode::from_flags(Flags::try_parse_from(std::iter::once("sse-load").chain(args.iter().copied())).unwrap())
}

#[test]
fn defaults_run_every_scenario_embedded() {
    let Mode::Run(config) = mode(&[]).unwrap() else {
        panic!("expected a run")
    };
    assert_eq!(config.scenarios.len(), scenario::ALL.len());
    assert!(matches!(config.target, TargetSpec::Embedded(_)));
    assert_eq!(config.thresholds, Thresholds::default());
    assert_eq!(config.output_dir, PathBuf::from("results"));
}

#[test]
fn scenarios_are_checked_and_kept_in_suite_order() {
    let Mode::Run(config) = mode(&[
        "--scenario",
        "burst",
        "--scenario",
        "fanout",
        "--scenario",
        "burst",
    ])
    .unwrap() else {
        panic!("expected a run")
    };
    let names: Vec<_> = config.scenarios.iter().map(|d| d.name).collect();
    assert_eq!(names, ["fanout", "burst"]);
    let err = mode(&["--scenario", "nope"]).unwrap_err().to_string();
    assert!(err.contains("nope") && err.contains("throughput-single"), "{err}");
}

#[test]
fn threshold_flags_map_and_are_validated() {
    let Mode::Run(config) = mode(&["--p99-warn-pct", "10", "--lost-events-fail", "3"]).unwrap() else {
        panic!("expected a run")
    };
    assert_eq!(config.thresholds.latency_p99_warn_pct, 10.0);
    assert_eq!(config.thresholds.lost_events_fail, 3);
    assert!(mode(&["--p99-warn-pct=-5"]).is_err());
    assert!(mode(&["--error-rate-fail", "2"]).is_err());
}

#[test]
fn bad_target_is_a_clear_error() {
    let err = mode(&["--target", "localhost:8000"]).unwrap_err().to_string();
    assert!(err.contains("http://"), "{err}");
    let Mode::Run(config) = mode(&["--target", "http://127.0.0.1:9"]).unwrap() else {
        panic!()
    };
    assert!(matches!(config.target, TargetSpec::External { .. }));
    assert_eq!(config.target_name, "127.0.0.1_9");
}

#[test]
fn target_names_are_checked_and_embedded_is_reserved() {
    let Mode::Run(config) = mode(&[]).unwrap() else {
        panic!()
    };
    assert_eq!(config.target_name, "embedded");
    let Mode::Run(config) = mode(&["--target", "http://127.0.0.1:9", "--target-name", "nginx"]).unwrap()
    else {
        panic!()
    };
    assert_eq!(config.target_name, "nginx");
    for bad in ["embedded", "../x", "a b"] {
        let err = mode(&["--target", "http://127.0.0.1:9", "--target-name", bad]).unwrap_err();
        assert!(matches!(err, ConfigError::TargetName(_)), "{bad}: {err}");
    }
}

#[test]
fn noise_takes_the_run_flags() {
    let Mode::Noise(config) = mode(&["noise", "--runs", "4", "--scenario", "burst"]).unwrap() else {
        panic!("expected noise")
    };
    assert_eq!(config.repeat, 4);
    assert_eq!(config.scenarios.len(), 1);
}

#[test]
fn paired_defaults_to_three_runs_a_side_and_checks_its_flags() {
    let Mode::Run(config) = mode(&["--paired", "--baseline-server-arg=--test-frame-cost=1us"]).unwrap()
    else {
        panic!("expected a run")
    };
    assert_eq!(config.repeat, PAIRED_REPEAT);
    let paired = config.paired.expect("paired");
    assert_eq!(paired.baseline.exe, std::env::current_exe().unwrap());
    assert_eq!(paired.baseline.extra_args, ["--test-frame-cost=1us"]);
    let Mode::Run(config) = mode(&[]).unwrap() else {
        panic!()
    };
    assert_eq!((config.repeat, config.paired), (1, None));
    assert!(matches!(
        mode(&["--paired", "--repeat", "1"]),
        Err(ConfigError::PairedRepeat(1))
    ));
    let err = mode(&["--paired", "--baseline-exe", "/nonexistent/sse-load"]).unwrap_err();
    assert!(matches!(err, ConfigError::BaselineExe { .. }), "{err}");
    assert!(err.to_string().contains("/nonexistent/sse-load"), "{err}");
    assert!(matches!(
        mode(&["--paired", "noise"]),
        Err(ConfigError::PairedNoise)
    ));
    for args in [
        &["sse-load", "--paired", "--target", "http://127.0.0.1:9"][..],
        &["sse-load", "--paired", "--update-baseline"],
        &["sse-load", "--baseline-exe", "x"],
        &["sse-load", "--baseline-server-arg=-x"],
    ] {
        let err = Flags::try_parse_from(args).unwrap_err();
        assert_eq!(err.exit_code(), 2, "{args:?}: {err}");
    }
}

#[test]
fn target_file_and_server_pid_are_checked() {
    let Mode::Run(config) = mode(&["--target", "http://127.0.0.1:9"]).unwrap() else {
        panic!()
    };
    assert!(matches!(config.target, TargetSpec::External { pid: None, .. }));
    assert!(matches!(
        mode(&["--server-pid", "7"]),
        Err(ConfigError::PidWithoutTarget)
    ));
    let err = mode(&["--target-file", "/nonexistent.toml"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent.toml"), "{err}");
}

#[test]
fn the_stream_protocol_comes_from_the_flags_then_the_file() {
    let flags = |args: &[&str]| {
        Flags::try_parse_from(std::iter::once("sse-load").chain(args.iter().copied())).unwrap()
    };
    let h2 = |n| Protocol::parse("h2", Some(n)).unwrap();
    assert_eq!(stream_protocol(&flags(&[]), None), Ok(Protocol::Http1));
    assert_eq!(stream_protocol(&flags(&[]), Some(h2(10))), Ok(h2(10)));
    assert_eq!(
        stream_protocol(&flags(&["--streams-per-connection", "4"]), None),
        Ok(h2(4))
    );
    assert_eq!(
        stream_protocol(&flags(&["--protocol", "h2"]), Some(h2(10))),
        Ok(h2(10))
    );
    assert_eq!(
        stream_protocol(&flags(&["--protocol", "h1"]), Some(h2(10))),
        Ok(Protocol::Http1)
    );
    assert_eq!(
        stream_protocol(
            &flags(&["--protocol", "h1", "--streams-per-connection", "4"]),
            None
        ),
        Err(ProtocolError::StreamsWithHttp1)
    );
    assert!(Flags::try_parse_from(["sse-load", "--streams-per-connection", "0"]).is_err());
}

#[test]
fn calibrate_and_sweep_take_the_global_client_count() {
    let Mode::Sweep(sweep) = mode(&["sweep", "rate", "--steps", "100"]).unwrap() else {
        panic!("expected a sweep")
    };
    assert_eq!(sweep.clients, 100);
    let Mode::Sweep(sweep) = mode(&["sweep", "rate", "--clients", "250"]).unwrap() else {
        panic!("expected a sweep")
    };
    assert_eq!(sweep.clients, 250);
    let Mode::Calibrate(calibrate) =
        mode(&["calibrate", "--workload", "idle", "--clients", "19000"]).unwrap()
    else {
        panic!("expected a calibration")
    };
    assert_eq!(calibrate.clients, Some(19_000));
    let Mode::Calibrate(calibrate) = mode(&["calibrate"]).unwrap() else {
        panic!("expected a calibration")
    };
    assert_eq!(calibrate.clients, None);
}

#[test]
fn calibrate_reads_the_named_scenarios_at_the_profile_scale_and_only_them() {
    let Mode::Calibrate(calibrate) = mode(&["calibrate", "--scenario", "time-to-first-event"]).unwrap()
    else {
        panic!("expected a calibration")
    };
    let names: Vec<_> = calibrate.scenarios.iter().map(|(d, _)| d.name).collect();
    assert_eq!(names, ["time-to-first-event"]);
    assert!(
        calibrate.workloads.is_empty(),
        "no workload unless --workload is given"
    );
    let (_, plan) = &calibrate.scenarios[0];
    assert_eq!(plan.population.clients, 100, "the smoke profile's clients");
    let Mode::Calibrate(calibrate) = mode(&[
        "--profile",
        "small",
        "--clients",
        "30",
        "calibrate",
        "--scenario",
        "fanout",
    ])
    .unwrap() else {
        panic!("expected a calibration")
    };
    assert_eq!(calibrate.scenarios[0].1.population.clients, 30);
    let Mode::Calibrate(calibrate) = mode(&["calibrate"]).unwrap() else {
        panic!("expected a calibration")
    };
    assert!(calibrate.scenarios.is_empty());
    assert!(matches!(
        mode(&["calibrate", "--scenario", "no-such"]),
        Err(ConfigError::UnknownScenario { .. })
    ));
    assert!(matches!(
        mode(&[
            "--protocol",
            "h2",
            "calibrate",
            "--scenario",
            "fanout",
            "--design",
            "reference"
        ]),
        Err(ConfigError::CalibrateScenarioHttp2)
    ));
}

#[test]
fn calibrate_over_http2_measures_the_reference_design_only() {
    let Mode::Calibrate(calibrate) = mode(&["calibrate", "--workload", "idle"]).unwrap() else {
        panic!("expected calibrate")
    };
    assert_eq!(calibrate.protocol, Protocol::Http1);
    let args = [
        "--streams-per-connection",
        "100",
        "calibrate",
        "--workload",
        "idle",
    ];
    assert!(matches!(mode(&args), Err(ConfigError::CalibrateHttp2Design)));
    let with_floor = [&args[..], &["--design", "reference", "--design", "floor"]].concat();
    assert!(matches!(
        mode(&with_floor),
        Err(ConfigError::CalibrateHttp2Design)
    ));
    let reference = [&args[..], &["--design", "reference"]].concat();
    let Mode::Calibrate(calibrate) = mode(&reference).unwrap() else {
        panic!("expected calibrate")
    };
    assert_eq!(
        (
            calibrate.protocol.name(),
            calibrate.protocol.streams_per_connection()
        ),
        ("h2", 100)
    );
}
