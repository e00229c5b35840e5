use std::time::{Duration, SystemTime};

use super::*;

fn open(dir: &Path, telemetry: Telemetry) -> Store {
    Store::open(&Options {
        path: Some(dir.join(FILE_NAME)),
        telemetry,
        retention_days: DEFAULT_RETENTION_DAYS,
    })
    .unwrap()
}

fn event(kind: Kind, language: &str, confidence: &str, trigger: Trigger) -> Event {
    Event {
        language: language.into(),
        model: "qwen2.5-coder-0.5b".into(),
        confidence: confidence.into(),
        trigger,
        latency_ms: Some(120.0),
        suggestion_len: 12,
        accepted_len: (kind == Kind::Accepted).then_some(12),
        text: Some(Text {
            prefix: "def total(xs):\n    return ".into(),
            suffix: "\n".into(),
            suggestion: "sum(xs) * 42".into(),
            instead: None,
        }),
        ..Event::new(kind)
    }
}

#[test]
fn schema_is_created_versioned_and_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Telemetry::Metrics);
    let version: i32 = store
        .conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let mode: String = store
        .conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let columns: Vec<String> = store
        .conn
        .prepare("SELECT name FROM pragma_table_info('events')")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    assert_eq!(
        columns,
        [
            "id",
            "kind",
            "time_ms",
            "language",
            "model",
            "provider",
            "trigger",
            "confidence",
            "latency_ms",
            "suggestion_len",
            "accepted_len",
            "reason",
            "prefix",
            "suffix",
            "suggestion",
            "instead",
            "source"
        ]
    );
    drop(store);
    // Reopening keeps the rows and the version.
    let store = open(dir.path(), Telemetry::Metrics);
    assert!(store.is_empty().unwrap());
}

#[test]
fn a_newer_schema_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Telemetry::Metrics);
    store.conn.pragma_update(None, "user_version", 7).unwrap();
    drop(store);
    let err = Store::open(&Options {
        path: Some(dir.path().join(FILE_NAME)),
        ..Options::default()
    })
    .unwrap_err();
    assert!(matches!(err, Error::NewerSchema { found: 7, .. }), "{err}");
}

#[test]
fn each_kind_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Telemetry::Metrics);
    for kind in [
        Kind::Shown,
        Kind::Accepted,
        Kind::PartiallyAccepted,
        Kind::Rejected,
    ] {
        let mut e = event(kind, "python", "high", Trigger::Automatic);
        if kind == Kind::PartiallyAccepted {
            e.accepted_len = Some(4);
        }
        if kind == Kind::Rejected {
            e.reason = Some("typedOver".into());
        }
        assert!(store.record(&e).unwrap());
    }
    /// kind, accepted_len, reason, provider, trigger.
    type Row = (String, Option<i64>, Option<String>, String, String);
    let rows: Vec<Row> = store
        .conn
        .prepare("SELECT kind, accepted_len, reason, provider, trigger FROM events ORDER BY id")
        .unwrap()
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let kinds: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        kinds,
        ["shown", "accepted", "partially_accepted", "rejected"]
    );
    assert_eq!(rows[1].1, Some(12));
    assert_eq!(rows[2].1, Some(4));
    assert_eq!(rows[3].2.as_deref(), Some("typedOver"));
    assert!(rows.iter().all(|r| r.3 == "local" && r.4 == "automatic"));
}

#[test]
fn telemetry_off_records_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Telemetry::Off);
    let e = event(Kind::Shown, "python", "high", Trigger::Automatic);
    assert!(!store.record(&e).unwrap());
    assert_eq!(store.len().unwrap(), 0);
}

#[test]
fn retention_deletes_old_rows_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Telemetry::Metrics);
    let day = Duration::from_secs(86_400);
    for age in [0, 10, 89, 91, 400] {
        let mut e = event(Kind::Shown, "rust", "low", Trigger::Invoked);
        e.time = SystemTime::now() - day * age;
        store.record(&e).unwrap();
    }
    drop(store);
    let store = open(dir.path(), Telemetry::Metrics);
    assert_eq!(store.len().unwrap(), 3);
    drop(store);
    let store = Store::open(&Options {
        path: Some(dir.path().join(FILE_NAME)),
        telemetry: Telemetry::Metrics,
        retention_days: 5,
    })
    .unwrap();
    assert_eq!(store.len().unwrap(), 1);
}

/// A known set: python 4 shown / 2 accepted, rust 2 shown / 0 accepted; one partial and
/// two rejections.
fn known_set(store: &Store) {
    use Kind::*;
    use Trigger::*;
    let events = [
        (Shown, "python", "high", Automatic),
        (Accepted, "python", "high", Automatic),
        (Shown, "python", "high", Invoked),
        (Accepted, "python", "high", Invoked),
        (Shown, "python", "low", Automatic),
        (Rejected, "python", "low", Automatic),
        (Shown, "python", "medium", Automatic),
        (PartiallyAccepted, "python", "medium", Automatic),
        (Shown, "rust", "low", Automatic),
        (Rejected, "rust", "low", Automatic),
        (Shown, "rust", "medium", Invoked),
    ];
    for (kind, lang, conf, trig) in events {
        store.record(&event(kind, lang, conf, trig)).unwrap();
    }
}

#[test]
fn stats_on_a_known_set() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Telemetry::Metrics);
    known_set(&store);
    let s = store.stats(None).unwrap();
    let c = |shown, accepted, partially_accepted, rejected| Counts {
        shown,
        accepted,
        partially_accepted,
        rejected,
        ..Counts::default()
    };
    assert_eq!(s.total, c(6, 2, 1, 2));
    assert_eq!(
        s.by_language,
        [
            ("python".into(), c(4, 2, 1, 1)),
            ("rust".into(), c(2, 0, 0, 1))
        ]
    );
    assert_eq!(s.by_model, [("qwen2.5-coder-0.5b".into(), c(6, 2, 1, 2))]);
    assert_eq!(
        s.by_confidence,
        [
            ("high".into(), c(2, 2, 0, 0)),
            ("low".into(), c(2, 0, 0, 2)),
            ("medium".into(), c(2, 0, 1, 0)),
        ]
    );
    assert_eq!(
        s.by_trigger,
        [
            ("automatic".into(), c(4, 1, 1, 2)),
            ("invoked".into(), c(2, 1, 0, 0)),
        ]
    );
    assert_eq!(s.by_language[0].1.acceptance(), Some(0.5));
    assert_eq!(Counts::default().acceptance(), None);
    let table = s.to_string();
    let total = table.lines().nth(1).unwrap();
    assert_eq!(
        total.split_whitespace().collect::<Vec<_>>(),
        ["total", "6", "2", "1", "2", "33.3%", "-"]
    );
    assert!(table
        .lines()
        .any(|l| l.split_whitespace().collect::<Vec<_>>()
            == ["python", "4", "2", "1", "1", "50.0%", "-"]));

    // `since` leaves out older events.
    let mut old = event(Kind::Shown, "go", "low", Trigger::Automatic);
    old.time = SystemTime::now() - Duration::from_secs(3 * 86_400);
    store.record(&old).unwrap();
    assert_eq!(store.stats(None).unwrap().total.shown, 7);
    assert_eq!(store.stats(Some(days_ago(1))).unwrap().total.shown, 6);
}

#[test]
fn export_writes_fim_examples_and_preference_pairs_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Telemetry::Full);
    let mut accepted = event(Kind::Accepted, "python", "high", Trigger::Automatic);
    accepted.text.as_mut().unwrap().prefix = "KEY = \"AKIAIOSFODNN7EXAMPLE\"\nx = ".into();
    store.record(&accepted).unwrap();
    let mut rejected = event(Kind::Rejected, "python", "low", Trigger::Automatic);
    rejected.text.as_mut().unwrap().instead = Some("len(xs)".into());
    store.record(&rejected).unwrap();
    // Not exported: shown only, rejected without a replacement, and an old accepted one.
    store
        .record(&event(Kind::Shown, "python", "low", Trigger::Automatic))
        .unwrap();
    store
        .record(&event(Kind::Rejected, "python", "low", Trigger::Automatic))
        .unwrap();
    let mut old = event(Kind::Accepted, "python", "high", Trigger::Automatic);
    old.time = SystemTime::now() - Duration::from_secs(10 * 86_400);
    store.record(&old).unwrap();

    let mut out = Vec::new();
    let counts = store.export_jsonl(Some(days_ago(7)), &mut out).unwrap();
    assert_eq!(
        counts,
        ExportCounts {
            fim: 1,
            pairs: 1,
            redacted: 1,
            ..ExportCounts::default()
        }
    );
    let text = String::from_utf8(out).unwrap();
    assert!(!text.contains("AKIA"), "{text}");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let fim = lines[0].as_object().unwrap();
    assert_eq!(
        fim.keys().collect::<Vec<_>>(),
        ["middle", "prefix", "suffix"]
    );
    assert_eq!(fim["middle"], "sum(xs) * 42");
    assert!(fim["prefix"].as_str().unwrap().ends_with("\nx = "));
    assert_eq!(
        lines[1],
        serde_json::json!({
            "prompt": "def total(xs):\n    return ",
            "suffix": "\n",
            "chosen": "len(xs)",
            "rejected": "sum(xs) * 42",
        })
    );
    let mut all = Vec::new();
    assert_eq!(store.export_jsonl(None, &mut all).unwrap().fim, 2);
}

/// At `metrics` no code reaches the file: not the suggestion, not the text around it.
#[test]
fn telemetry_metrics_stores_no_code() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Telemetry::Metrics);
    let mut e = event(Kind::Rejected, "python", "low", Trigger::Automatic);
    e.text.as_mut().unwrap().instead = Some("written_instead_by_the_user".into());
    store.record(&e).unwrap();
    store
        .record(&event(Kind::Accepted, "python", "high", Trigger::Automatic))
        .unwrap();
    let mut out = Vec::new();
    assert_eq!(
        store.export_jsonl(None, &mut out).unwrap(),
        ExportCounts::default()
    );
    assert!(out.is_empty());
    drop(store);
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    assert!(bytes.len() > 1000, "the database was written");
    let hay = String::from_utf8_lossy(&bytes);
    for code in ["sum(xs)", "def total", "written_instead_by_the_user"] {
        assert!(!hay.contains(code), "{code} is in the database");
    }
    // The same events at `full` do reach the file (the check above can fail).
    let full = tempfile::tempdir().unwrap();
    let store = open(full.path(), Telemetry::Full);
    store
        .record(&event(Kind::Accepted, "python", "high", Trigger::Automatic))
        .unwrap();
    drop(store);
    let bytes = std::fs::read(full.path().join(FILE_NAME)).unwrap();
    assert!(String::from_utf8_lossy(&bytes).contains("sum(xs) * 42"));
}

#[test]
fn text_from_a_denied_path_is_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Telemetry::Full);
    let mut e = event(Kind::Accepted, "dotenv", "high", Trigger::Automatic);
    e.path = Some("/project/.env".into());
    store.record(&e).unwrap();
    let mut out = Vec::new();
    assert_eq!(store.export_jsonl(None, &mut out).unwrap().fim, 0);
    assert_eq!(store.len().unwrap(), 1);
}

/// `/proc` is read-only even for root: neither a directory nor a file can be created there.
#[cfg(target_os = "linux")]
#[test]
fn a_read_only_directory_is_an_error_not_a_panic() {
    let err = Store::open(&Options {
        path: Some(PathBuf::from("/proc/nib-events-test/events.sqlite3")),
        ..Options::default()
    })
    .unwrap_err();
    assert!(matches!(err, Error::Directory { .. }), "{err}");
    let err = Store::open(&Options {
        path: Some(PathBuf::from("/proc/nib-events-test.sqlite3")),
        ..Options::default()
    })
    .unwrap_err();
    assert!(matches!(err, Error::Sqlite { .. }), "{err}");
}

/// A path under a regular file cannot be a directory, whoever runs the test.
#[test]
fn a_file_in_the_way_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let err = Store::open(&Options {
        path: Some(file.join(FILE_NAME)),
        ..Options::default()
    })
    .unwrap_err();
    assert!(matches!(err, Error::Directory { .. }), "{err}");
    assert!(err.to_string().starts_with("cannot create"));
}

#[test]
fn a_corrupt_file_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE_NAME);
    std::fs::write(&path, vec![0x5a; 8192]).unwrap();
    let err = Store::open(&Options {
        path: Some(path),
        ..Options::default()
    })
    .unwrap_err();
    assert!(matches!(err, Error::Sqlite { .. }), "{err}");
}

#[test]
fn telemetry_names_parse() {
    for name in Telemetry::NAMES {
        assert!(Telemetry::parse(name).is_some());
    }
    assert_eq!(Telemetry::parse("full"), Some(Telemetry::Full));
    assert_eq!(Telemetry::parse("loud"), None);
    assert_eq!(utf16_len("a😀"), 3);
}

#[test]
fn kept_rate_counts_the_last_check_of_each_accepted_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Telemetry::Metrics);
    let kept = |len, kept, reason: &str, language: &str| Event {
        suggestion_len: len,
        accepted_len: Some(kept),
        reason: Some(reason.into()),
        language: language.into(),
        ..Event::new(Kind::Kept)
    };
    store
        .record(&event(Kind::Accepted, "python", "high", Trigger::Automatic))
        .unwrap();
    // A check at save is not the last one: left out.
    store.record(&kept(12, 2, "save", "python")).unwrap();
    store.record(&kept(12, 12, "30s", "python")).unwrap();
    store.record(&kept(8, 2, "close", "rust")).unwrap();
    let s = store.stats(None).unwrap();
    assert_eq!(
        (s.total.checked, s.total.checked_len, s.total.kept_len),
        (2, 20, 14)
    );
    assert_eq!(s.total.kept(), Some(0.7));
    assert_eq!(s.by_language[0].1.kept(), Some(1.0));
    assert_eq!(s.by_language[1].1.kept(), Some(0.25));
    let total: Vec<String> = s
        .to_string()
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(total, ["total", "0", "1", "0", "0", "-", "70.0%"]);
    let json = s.to_json();
    assert_eq!(json["total"]["accepted"], 1);
    assert_eq!(json["total"]["kept"], 0.7);
    assert_eq!(json["byLanguage"]["rust"]["checked"], 1);
    assert_eq!(json["inferred"], 0);
}

#[test]
fn inferred_events_are_marked_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Telemetry::Metrics);
    let mut e = event(Kind::Accepted, "python", "high", Trigger::Automatic);
    e.source = Source::Inferred;
    store.record(&e).unwrap();
    store
        .record(&event(Kind::Shown, "python", "high", Trigger::Automatic))
        .unwrap();
    let source: String = store
        .conn
        .query_row(
            "SELECT source FROM events WHERE kind = 'accepted'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(source, "inferred");
    let s = store.stats(None).unwrap();
    assert_eq!(s.inferred, 1);
    assert!(
        s.to_string()
            .contains("1 of the acceptances and rejections inferred"),
        "{s}"
    );
}

#[test]
fn a_version_1_database_is_migrated_with_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE_NAME);
    {
        let conn = Connection::open(&path).unwrap();
        let v1 = SCHEMA.replace(", 'kept'", "").replace(
            ",\n    source TEXT NOT NULL DEFAULT 'client' CHECK (source IN ('client', 'inferred'))",
            "",
        );
        assert!(!v1.contains("source") && !v1.contains("kept"), "{v1}");
        conn.execute_batch(&format!("{v1} PRAGMA user_version = 1;"))
            .unwrap();
        conn.execute(
            "INSERT INTO events (kind, time_ms, language, model, provider, trigger, confidence,
                suggestion_len) VALUES ('accepted', ?1, 'python', 'm', 'local', 'automatic',
                'high', 5)",
            params![unix_ms(SystemTime::now())],
        )
        .unwrap();
    }
    let store = open(dir.path(), Telemetry::Metrics);
    let version: i32 = store
        .conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    assert_eq!(store.len().unwrap(), 1);
    store.record(&Event::new(Kind::Kept)).unwrap();
    let s = store.stats(None).unwrap();
    assert_eq!((s.total.accepted, s.total.checked, s.inferred), (1, 1, 0));
}

#[test]
fn fim_export_uses_the_model_family_tokens_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Telemetry::Full);
    let mut accepted = event(Kind::Accepted, "python", "high", Trigger::Automatic);
    accepted.text.as_mut().unwrap().prefix = "KEY = \"AKIAIOSFODNN7EXAMPLE\"\nx = ".into();
    store.record(&accepted).unwrap();
    let mut pair = event(Kind::Rejected, "python", "low", Trigger::Automatic);
    pair.text.as_mut().unwrap().instead = Some("len(xs)".into());
    store.record(&pair).unwrap();
    store
        .record(&event(Kind::Rejected, "python", "low", Trigger::Automatic))
        .unwrap();
    let mut unknown = event(Kind::Accepted, "python", "high", Trigger::Automatic);
    unknown.model = "smollm2-360m".into();
    store.record(&unknown).unwrap();
    // Text from a file nib must not read is never stored, so never exported.
    let mut denied = event(Kind::Accepted, "python", "high", Trigger::Automatic);
    denied.path = Some("/p/.env".into());
    store.record(&denied).unwrap();

    let mut out = Vec::new();
    let counts = store.export_fim(None, None, &mut out).unwrap();
    assert_eq!(
        counts,
        ExportCounts {
            fim: 1,
            pairs: 1,
            negatives: 1,
            unknown_format: 1,
            redacted: 1,
        }
    );
    let text = String::from_utf8(out).unwrap();
    assert!(!text.contains("AKIA"), "{text}");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{text}");
    let fim = lines[0]["text"].as_str().unwrap();
    assert!(fim.starts_with("<|fim_prefix|>KEY = "), "{fim}");
    assert!(
        fim.ends_with("\nx = <|fim_suffix|>\n<|fim_middle|>sum(xs) * 42<|endoftext|>"),
        "{fim}"
    );
    let prompt = "<|fim_prefix|>def total(xs):\n    return <|fim_suffix|>\n<|fim_middle|>";
    assert_eq!(
        lines[1],
        serde_json::json!({
            "kind": "pair",
            "prompt": prompt,
            "chosen": "len(xs)<|endoftext|>",
            "rejected": "sum(xs) * 42<|endoftext|>",
        })
    );
    assert_eq!(lines[2]["kind"], "negative");
    assert_eq!(lines[2]["label"], false);

    // A family given on the command line wins over the model's name.
    let mut out = Vec::new();
    let counts = store
        .export_fim(None, Some(nib_engine::PromptFormat::CodeLlama), &mut out)
        .unwrap();
    assert_eq!((counts.fim, counts.unknown_format), (2, 0));
    assert!(String::from_utf8(out).unwrap().contains("<PRE> "));

    // At `metrics` there is no text: nothing to export.
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Telemetry::Metrics);
    store.record(&accepted).unwrap();
    let mut out = Vec::new();
    assert_eq!(
        store.export_fim(None, None, &mut out).unwrap(),
        ExportCounts::default()
    );
    assert!(out.is_empty());
}
