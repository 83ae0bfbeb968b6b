//! The settings model without a daemon: the JSON shape, every field's bad values naming that
//! field, partial changes, unknown fields, and the overlay file (round trip, a corrupt or invalid
//! file set aside without stopping anything).

use super::*;
use crate::config::source::SourceKind;
use serde_json::{json, Value};

fn test_source() -> Config {
    let mut config = Config::default();
    config.source.kind = SourceKind::Test;
    config
}

/// Parses `body` and applies what it changes over `config`, as `PUT /api/settings` does.
fn put(config: &Config, body: Value) -> Result<Config, SettingsError> {
    let patch = Patch::from_json(&body)?;
    apply(config, &patch.changes_from(&SettingsView::of(config)))
}

/// The error for `body`, which must name `field` in both the field and the message.
fn refused(config: &Config, body: Value, field: &str) -> SettingsError {
    let e = put(config, body.clone()).expect_err(&body.to_string());
    assert_eq!(e.kind, ErrorKind::Invalid, "{body}");
    assert_eq!(e.field.as_deref(), Some(field), "{body}: {e:?}");
    assert!(e.message.contains(field), "{body}: {}", e.message);
    e
}

#[test]
fn the_view_has_the_documented_shape() {
    let view = SettingsView::of(&Config::default()).to_json();
    assert_eq!(
        view,
        json!({
            "memories": { "save_minutes": 3.0, "hold_step_s": 3.0 },
            "upload": { "policy": "immediate", "window": "01:00-05:00", "bwlimit": "", "remote": "" },
            "video": { "width": 1920, "height": 1080, "fps": 30, "bitrate_kbps": 10000 },
        })
    );
    let test = SettingsView::of(&test_source());
    assert_eq!(
        test.video,
        Some(VideoView {
            width: 1280,
            height: 720,
            fps: 30,
            bitrate_kbps: 4000
        })
    );
    for kind in [SourceKind::Gopro, SourceKind::Ffmpeg, SourceKind::Stdin] {
        let mut config = Config::default();
        config.source.kind = kind;
        assert_eq!(SettingsView::of(&config).to_json()["video"], Value::Null);
    }
}

#[test]
fn every_field_refuses_bad_values_naming_itself_and_what_it_takes() {
    let picam = Config::default();
    let test = test_source();
    let cases: Vec<(&str, Value, &str)> = vec![
        ("memories.save_minutes", json!(0.4), "0.5 to 30"),
        ("memories.save_minutes", json!(30.5), "0.5 to 30"),
        ("memories.save_minutes", json!(-3), "0.5 to 30"),
        ("memories.save_minutes", json!("3"), "0.5 to 30"),
        ("memories.save_minutes", json!(true), "0.5 to 30"),
        ("memories.hold_step_s", json!(0.5), "1 to 10"),
        ("memories.hold_step_s", json!(11), "1 to 10"),
        ("memories.hold_step_s", json!([3]), "1 to 10"),
        (
            "upload.policy",
            json!("sometimes"),
            "immediate, window, manual",
        ),
        ("upload.policy", json!(1), "immediate, window, manual"),
        ("upload.window", json!("late"), "HH:MM-HH:MM"),
        ("upload.window", json!("01:00-01:00"), "immediate"),
        ("upload.window", json!("25:00-01:00"), "HH:MM-HH:MM"),
        ("upload.window", json!(5), "HH:MM-HH:MM"),
        ("upload.window", json!("0".repeat(300)), "HH:MM-HH:MM"),
        ("upload.bwlimit", json!("-1M"), "--bwlimit"),
        ("upload.bwlimit", json!("1M; reboot"), "--bwlimit"),
        ("upload.bwlimit", json!(1), "--bwlimit"),
        ("video.width", json!(1000), "1920x1080, 1280x720, 640x480"),
        ("video.width", json!("1280"), "1920x1080, 1280x720, 640x480"),
        ("video.width", json!(-1), "1920x1080, 1280x720, 640x480"),
        ("video.width", json!(1280.5), "1920x1080, 1280x720, 640x480"),
        ("video.height", json!(700), "1920x1080, 1280x720, 640x480"),
        ("video.fps", json!(0), "1 to 30"),
        ("video.fps", json!(31), "1 to 30"),
        ("video.fps", json!(1e12), "1 to 60"),
        ("video.bitrate_kbps", json!(100), "200 to 25000"),
        ("video.bitrate_kbps", json!(30000), "200 to 25000"),
    ];
    for (field, value, allowed) in cases {
        let (section, name) = field.split_once('.').unwrap();
        let body = json!({ section: { name: value } });
        let e = refused(&picam, body, field);
        assert!(
            e.message.contains(allowed),
            "{field} = {value}: {}",
            e.message
        );
    }
    // The Pi camera's 1080p limit is not the test pattern's, nor the Pi camera's at 720p.
    put(
        &test,
        json!({ "video": { "width": 1920, "height": 1080, "fps": 60 } }),
    )
    .unwrap();
    put(
        &picam,
        json!({ "video": { "width": 1280, "height": 720, "fps": 60 } }),
    )
    .unwrap();
    let e = refused(&test, json!({ "video": { "fps": 61 } }), "video.fps");
    assert!(e.message.contains("1 to 60"), "{}", e.message);
    // A size change alone is checked with the frame rate it would run at.
    let fast = put(
        &picam,
        json!({ "video": { "width": 1280, "height": 720, "fps": 60 } }),
    )
    .unwrap();
    refused(
        &fast,
        json!({ "video": { "width": 1920, "height": 1080 } }),
        "video.fps",
    );
    // Half a size change is a size not in the list.
    refused(
        &picam,
        json!({ "video": { "height": 720 } }),
        "video.height",
    );
}

#[test]
fn sections_and_bodies_of_the_wrong_type_are_named() {
    let config = Config::default();
    for body in [json!([]), json!("x"), json!(3)] {
        let e = Patch::from_json(&body).expect_err("not an object");
        assert_eq!(e.field.as_deref(), Some("settings"));
    }
    refused(&config, json!({ "memories": 3 }), "memories");
    refused(&config, json!({ "upload": "manual" }), "upload");
}

#[test]
fn unknown_fields_are_all_named() {
    let e = Patch::from_json(&json!({
        "memories": { "save_minute": 1, "hold_step_s": 2 },
        "colour": "red",
        "video": { "fps": 10, "zoom": 2 },
    }))
    .expect_err("unknown fields");
    assert_eq!(e.kind, ErrorKind::Invalid);
    assert_eq!(e.field.as_deref(), Some("colour"));
    for name in ["colour", "memories.save_minute", "video.zoom"] {
        assert!(e.message.contains(name), "{}", e.message);
    }
    assert!(
        e.message.contains("memories.save_minutes"),
        "lists the real ones"
    );
    // Bounded, whatever is sent.
    let many: serde_json::Map<String, Value> =
        (0..1000).map(|i| (format!("k{i}"), json!(i))).collect();
    let e = Patch::from_json(&Value::Object(many)).expect_err("unknown");
    assert!(e.message.contains("and 992 more"), "{}", e.message);
    assert!(e.message.len() < 1024, "{}", e.message.len());
}

#[test]
fn a_partial_change_changes_only_what_it_gives() {
    let config = test_source();
    let next = put(&config, json!({ "memories": { "save_minutes": 0.5 } })).unwrap();
    assert_eq!(next.buttons.save_step_s, 30.0);
    assert_eq!(next.buttons.hold_step_s, config.buttons.hold_step_s);
    assert_eq!(next.upload, config.upload);
    assert_eq!(format!("{:?}", next.source), format!("{:?}", config.source));

    let next = put(
        &config,
        json!({
            "upload": { "policy": "window", "window": " 22:00 - 06:30 ", "bwlimit": " 2M " },
            "video": { "fps": 15, "bitrate_kbps": 800 },
        }),
    )
    .unwrap();
    assert_eq!(next.upload.policy, Policy::Window);
    assert_eq!(next.upload.window, "22:00-06:30", "one spelling");
    assert_eq!(next.upload.bwlimit, "2M");
    assert_eq!(
        (
            next.source.test.width,
            next.source.test.fps,
            next.source.test.bitrate
        ),
        (1280, 15, 800_000)
    );
    assert_eq!(next.buttons, config.buttons);

    // null and empty sections change nothing.
    let same = put(
        &config,
        json!({ "memories": null, "video": {}, "upload": { "window": null } }),
    )
    .unwrap();
    assert_eq!(format!("{same:?}"), format!("{config:?}"));
    assert!(Patch::from_json(&json!({ "video": { "fps": null } }))
        .unwrap()
        .is_empty());
}

#[test]
fn unchanged_values_pass_even_outside_the_pages_ranges() {
    // A test configuration with steps the page would not offer, sent back as the form shows them.
    let mut config = test_source();
    config.buttons.save_step_s = 4.0;
    config.buttons.hold_step_s = 0.2;
    config.source.test.width = 320;
    config.source.test.height = 240;
    let form = SettingsView::of(&config).to_json();
    let mut body = form.clone();
    body["upload"]["policy"] = json!("manual");
    let next = put(&config, body).expect("only the policy changed");
    assert_eq!(next.upload.policy, Policy::Manual);
    assert_eq!(next.buttons.hold_step_s, 0.2);
    assert_eq!(
        SettingsView::of(&next).to_json()["memories"],
        form["memories"]
    );
    // A frame rate alone, at a size the page does not offer: the size is not being changed.
    let next = put(&config, json!({ "video": { "fps": 10 } })).unwrap();
    assert_eq!((next.source.test.width, next.source.test.fps), (320, 10));
    // But a new value is checked.
    refused(
        &config,
        json!({ "memories": { "hold_step_s": 0.3 } }),
        "memories.hold_step_s",
    );
}

#[test]
fn sources_without_video_settings_refuse_them() {
    for kind in [SourceKind::Gopro, SourceKind::Ffmpeg, SourceKind::Stdin] {
        let mut config = Config::default();
        config.source.kind = kind;
        config.source.ffmpeg.input = "rtsp://camera/stream".into();
        let e = refused(&config, json!({ "video": { "fps": 25 } }), "video");
        assert!(e.message.contains("no video settings"), "{}", e.message);
        // The rest still works, and `"video": null` (as GET shows it) is no change.
        put(
            &config,
            json!({ "memories": { "hold_step_s": 2 }, "video": null }),
        )
        .unwrap();
    }
}

#[test]
fn changes_merge_into_the_overlay_field_by_field() {
    let older = Patch::from_json(&json!({
        "memories": { "save_minutes": 1 },
        "video": { "width": 640, "height": 480 },
    }))
    .unwrap();
    let newer = Patch::from_json(&json!({
        "memories": { "hold_step_s": 2 },
        "upload": { "policy": "manual" },
        "video": { "width": 1280, "height": 720 },
    }))
    .unwrap();
    let merged = older.merged(&newer);
    assert_eq!(
        serde_json::to_value(&merged).unwrap(),
        json!({
            "memories": { "save_minutes": 1.0, "hold_step_s": 2.0 },
            "upload": { "policy": "manual" },
            "video": { "width": 1280, "height": 720 },
        })
    );
    assert_eq!(older.merged(&Patch::default()), older);
}

mod overlay_file {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let base = test_source();
        let overlay = Patch::from_json(&json!({
            "memories": { "save_minutes": 0.5 },
            "upload": { "policy": "manual", "bwlimit": "1M" },
            "video": { "width": 640, "height": 480, "fps": 15 },
        }))
        .unwrap();
        save(dir.path(), &overlay).unwrap();
        let path = dir.path().join(SETTINGS_FILE);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        let loaded = load(&base, dir.path());
        assert_eq!(loaded.problem, None);
        assert_eq!(loaded.overlay, overlay);
        let want = put(&base, serde_json::to_value(&overlay).unwrap()).unwrap();
        assert_eq!(format!("{:?}", loaded.config), format!("{want:?}"));
        assert_eq!(loaded.config.buttons.save_step_s, 30.0);
        assert_eq!(loaded.config.source.test.width, 640);
    }

    #[test]
    fn no_file_is_the_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let base = test_source();
        let loaded = load(&base, dir.path());
        assert_eq!(loaded.problem, None);
        assert!(loaded.overlay.is_empty());
        assert_eq!(format!("{:?}", loaded.config), format!("{base:?}"));
    }

    #[test]
    fn corrupt_invalid_or_huge_files_are_set_aside_and_reported() {
        let big = format!(
            "{{\"upload\": {{\"bwlimit\": \"{}\"}}}}",
            " ".repeat(70_000)
        );
        let cases: [(&[u8], &str); 5] = [
            (b"{\"memories\": {\"save_minutes\": ", "not valid JSON"),
            (b"\xff\xfe", "not valid JSON"),
            (
                b"{\"memories\": {\"save_minutes\": 99}}",
                "memories.save_minutes",
            ),
            (b"{\"volume\": 11}", "volume"),
            (big.as_bytes(), "larger than 64 KiB"),
        ];
        for (contents, why) in cases {
            let dir = tempfile::tempdir().unwrap();
            let base = test_source();
            let path = dir.path().join(SETTINGS_FILE);
            std::fs::write(&path, contents).unwrap();
            let loaded = load(&base, dir.path());
            let problem = loaded.problem.expect("reported");
            assert!(problem.contains(why), "{problem}");
            assert!(problem.contains("settings.json.bad"), "{problem}");
            assert!(loaded.overlay.is_empty());
            assert_eq!(format!("{:?}", loaded.config), format!("{base:?}"));
            assert!(!path.exists(), "set aside");
            let bad = std::fs::read(dir.path().join("settings.json.bad")).unwrap();
            assert_eq!(bad, contents, "kept for a person to look at");
            // The next start finds nothing to complain about.
            assert_eq!(load(&base, dir.path()).problem, None);
        }
    }

    #[test]
    fn video_settings_are_dropped_when_the_source_no_longer_has_them() {
        let dir = tempfile::tempdir().unwrap();
        let overlay = Patch::from_json(&json!({
            "memories": { "save_minutes": 1 },
            "video": { "fps": 15 },
        }))
        .unwrap();
        save(dir.path(), &overlay).unwrap();
        let mut base = Config::default();
        base.source.kind = SourceKind::Gopro;
        let loaded = load(&base, dir.path());
        assert!(loaded.problem.unwrap().contains("video"));
        assert_eq!(loaded.config.buttons.save_step_s, 60.0, "the rest applies");
        assert_eq!(loaded.overlay.video, None);
    }
}
