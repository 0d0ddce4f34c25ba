//! Tests of [`super`]: baseline files, per target and profile.

use super::*;

fn report(scenario: &str) -> ScenarioReport {
    ScenarioReport {
        scenario: scenario.into(),
        profile: "smoke".into(),
        ..ScenarioReport::default()
    }
}

#[test]
fn missing_baseline_is_none() {
    let dir = tempfile::tempdir().unwrap();
    assert!(load(dir.path(), "burst").unwrap().is_none());
    assert!(load(&dir.path().join("no-such-dir"), "burst").unwrap().is_none());
}

#[test]
fn save_then_load_round_trips_and_says_what_it_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = report("burst");
    r.started_at = "2026-01-01T00:00:00Z".into();
    r.environment.git_revision = "abc1234".into();
    let saved = save(dir.path(), &r, false).unwrap();
    assert_eq!(saved.replaced, Replaced::Nothing);
    assert_eq!(saved.path, dir.path().join("burst.json"));
    assert_eq!(load(dir.path(), "burst").unwrap(), Some(r.clone()));

    let saved = save(dir.path(), &report("burst"), false).unwrap();
    assert_eq!(
        saved.replaced,
        Replaced::Baseline {
            started_at: "2026-01-01T00:00:00Z".into(),
            profile: "smoke".into(),
            git_revision: "abc1234".into()
        }
    );
    assert!(saved.to_string().contains("revision abc1234"), "{saved}");
}

#[test]
fn invalid_json_is_an_error_naming_the_file_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("burst.json"), "{ not json").unwrap();
    let err = load(dir.path(), "burst").unwrap_err();
    assert!(matches!(err, BaselineError::Parse { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("burst.json") && msg.contains("--update-baseline"),
        "{msg}"
    );
}

#[test]
fn wrong_shape_and_wrong_version_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("burst.json");
    std::fs::write(&path, r#"{"schema_version": 1, "scenario": "burst"}"#).unwrap();
    assert!(matches!(
        load(dir.path(), "burst"),
        Err(BaselineError::Parse { .. })
    ));

    let mut value = serde_json::to_value(report("burst")).unwrap();
    value["schema_version"] = 99.into();
    std::fs::write(&path, value.to_string()).unwrap();
    let err = load(dir.path(), "burst").unwrap_err();
    assert!(
        matches!(
            err,
            BaselineError::Version {
                found: Found(Some(99)),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("schema_version 99"), "{err}");

    std::fs::write(&path, "[]").unwrap();
    let err = load(dir.path(), "burst").unwrap_err();
    assert!(err.to_string().contains("(missing)"), "{err}");
}

#[test]
fn unreadable_file_is_a_read_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("burst.json")).unwrap();
    let err = load(dir.path(), "burst").unwrap_err();
    assert!(matches!(err, BaselineError::Read { .. }), "{err:?}");
    assert!(err.to_string().contains("burst.json"), "{err}");
}

#[test]
fn baseline_of_another_scenario_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let json = serde_json::to_string(&report("churn")).unwrap();
    std::fs::write(dir.path().join("burst.json"), json).unwrap();
    let err = load(dir.path(), "burst").unwrap_err();
    assert!(err.to_string().contains("`churn`"), "{err}");
}

#[test]
fn unreadable_baseline_is_not_overwritten_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("burst.json");
    std::fs::write(&path, "hand-edited garbage").unwrap();
    let err = save(dir.path(), &report("burst"), false).unwrap_err();
    assert!(
        matches!(err, BaselineError::WouldReplaceUnreadable { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("refusing to overwrite"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "hand-edited garbage",
        "left alone"
    );

    let saved = save(dir.path(), &report("burst"), true).unwrap();
    assert!(matches!(&saved.replaced, Replaced::Unreadable { reason } if reason.contains("not a valid")));
    assert!(
        saved.to_string().contains("replaced an unreadable file"),
        "{saved}"
    );
    assert_eq!(load(dir.path(), "burst").unwrap(), Some(report("burst")));
}

#[test]
fn folders_are_per_target_and_profile() {
    let root = Path::new("baselines/load");
    assert_eq!(
        dir_for(root, "embedded", "smoke").unwrap(),
        root.join("embedded").join("smoke")
    );
    assert!(dir_for(root, "../x", "smoke").is_err());
    assert!(dir_for(root, "embedded", "a/b").is_err());
    let url: http::Uri = "http://127.0.0.1:8000/base".parse().unwrap();
    assert_eq!(target_name_of(&url), "127.0.0.1_8000");
    let url: http::Uri = "https://[::1]/".parse().unwrap();
    assert!(
        is_valid_file_stem(&target_name_of(&url)),
        "{}",
        target_name_of(&url)
    );
}

#[test]
fn noise_model_round_trips_and_bad_json_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    assert!(load_noise(dir.path(), "x86_64-2cpu").unwrap().is_none());
    let runs = [report("burst"), report("burst")];
    let model = NoiseModel::measure([&runs[..]], "embedded", "smoke");
    let path = save_noise(dir.path(), &model).unwrap();
    assert_eq!(path, noise_path(dir.path(), &model.host_class));
    assert_eq!(
        load_noise(dir.path(), &model.host_class).unwrap(),
        Some(model.clone())
    );
    std::fs::write(&path, "{").unwrap();
    let err = load_noise(dir.path(), &model.host_class).unwrap_err().to_string();
    assert!(err.contains(&model.host_class), "{err}");
}

#[test]
fn scenario_names_cannot_escape_the_folder() {
    let dir = Path::new("baselines/load");
    for bad in ["", "../x", "a/b", ".hidden", "a b"] {
        assert!(
            matches!(path_for(dir, bad), Err(BaselineError::InvalidName(_))),
            "{bad:?}"
        );
    }
    assert_eq!(
        path_for(dir, "fan-out_1.x").unwrap(),
        dir.join("fan-out_1.x.json")
    );
}
