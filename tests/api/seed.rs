//! Loading the baseline: idempotent, and an edit is recorded as a new version, never an overwrite.

use crate::both_backends;
use crate::support::{Backend, TestApp};
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::json;
use techbalance_store::entities::observation;
use techbalance_worker::sources::baseline::BUNDLED;

both_backends!(
    a_source_registered_after_seeding_gets_its_row_on_the_next_start,
    seeding_twice_changes_nothing,
    an_edited_figure_becomes_a_new_version_not_an_overwrite,
    a_figure_removed_from_the_baseline_is_withdrawn_not_deleted,
    a_database_that_has_data_is_not_reseeded_on_start,
);

async fn all_versions(app: &TestApp) -> Vec<observation::Model> {
    observation::Entity::find()
        .order_by_asc(observation::Column::Id)
        .all(app.store.connection())
        .await
        .expect("observations")
}

fn edited_baseline(
    app: &TestApp,
    from: &str,
    to: &str,
) -> (tempfile_path::TempPath, techbalance::config::Config) {
    assert!(
        BUNDLED.contains(from),
        "the bundled baseline no longer contains {from:?}"
    );
    let path = tempfile_path::TempPath::new("baseline.toml", &BUNDLED.replacen(from, to, 1));
    let config = app
        .db
        .config_with(&[("TECHBALANCE_BASELINE", path.as_str())]);
    (path, config)
}

const USA_RD_INTENSITY: &str =
    "metric = \"rd_intensity\"\ncountry = \"USA\"\nyear = 2024\nvalue = 3.5\n";

async fn seeding_twice_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let before = all_versions(&app).await;
    assert_eq!(before.len(), 16);
    let summary = techbalance::seed(&app.store, &app.config)
        .await
        .expect("second seed");
    assert_eq!(summary.versions_written(), 0, "{summary:?}");
    assert_eq!(summary.unchanged, 16);
    assert_eq!(all_versions(&app).await, before);
}

async fn an_edited_figure_becomes_a_new_version_not_an_overwrite(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let before = all_versions(&app).await;
    let (_file, config) = edited_baseline(
        &app,
        USA_RD_INTENSITY,
        &USA_RD_INTENSITY.replace("3.5", "3.6"),
    );

    let summary = techbalance::seed(&app.store, &config)
        .await
        .expect("seed edited");
    assert_eq!(
        (
            summary.inserted,
            summary.revised,
            summary.withdrawn,
            summary.unchanged
        ),
        (0, 1, 0, 15)
    );

    let after = all_versions(&app).await;
    assert_eq!(after.len(), before.len() + 1);
    let history: Vec<&observation::Model> = after
        .iter()
        .filter(|o| o.metric == "rd_intensity" && o.country == "USA")
        .collect();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].value, Some(3.5));
    assert_eq!(
        history[0].recorded_to,
        Some(history[1].recorded_from),
        "old version closed when the new opened"
    );
    assert_eq!(history[1].value, Some(3.6));
    assert_eq!(history[1].recorded_to, None);
    // Every other row is exactly as it was.
    for old in before.iter().filter(|o| o.id != history[0].id) {
        assert!(after.contains(old), "row {} changed", old.id);
    }
    let data = app
        .data(r#"{ metric(slug: "rd_intensity") { latest(country: "USA") { value } } }"#)
        .await;
    assert_eq!(data["metric"]["latest"], json!({ "value": 3.6 }));

    // Loading the edited file again records nothing more.
    let again = techbalance::seed(&app.store, &config)
        .await
        .expect("seed again");
    assert_eq!(again.versions_written(), 0);
}

async fn a_figure_removed_from_the_baseline_is_withdrawn_not_deleted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_file, config) = edited_baseline(
        &app,
        "[[observations]]\nmetric = \"stem_phd_graduates\"",
        "[[observations]]\nmetric = \"stem_phd_graduates\"\nyear_basis = \"stated\"",
    );
    // A broken file changes nothing.
    let err = techbalance::seed(&app.store, &config)
        .await
        .expect_err("duplicate key must fail");
    assert!(format!("{err:#}").contains("year_basis"), "{err:#}");

    let start = BUNDLED
        .find("[[observations]]\nmetric = \"stem_phd_graduates\"")
        .expect("stem block");
    let end = start
        + BUNDLED[start + 1..]
            .find("[[observations]]")
            .expect("next block")
        + 1;
    let (_file, config) = edited_baseline(&app, &BUNDLED[start..end], "");
    let summary = techbalance::seed(&app.store, &config).await.expect("seed");
    assert_eq!((summary.withdrawn, summary.versions_written()), (1, 1));
    let history: Vec<observation::Model> = all_versions(&app)
        .await
        .into_iter()
        .filter(|o| o.metric == "stem_phd_graduates")
        .collect();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].value, Some(45_000.0));
    assert!(history[0].recorded_to.is_some());
    assert_eq!(history[1].value, None);
    let data = app
        .data(r#"{ observations(metric: "stem_phd_graduates") { value } }"#)
        .await;
    assert_eq!(data["observations"], json!([]));
}

async fn a_database_that_has_data_is_not_reseeded_on_start(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let before = all_versions(&app).await;
    let (_file, config) = edited_baseline(
        &app,
        USA_RD_INTENSITY,
        &USA_RD_INTENSITY.replace("3.5", "9.9"),
    );
    techbalance::seed_if_empty(&app.store, &config)
        .await
        .expect("start");
    assert_eq!(all_versions(&app).await, before);
}

async fn a_source_registered_after_seeding_gets_its_row_on_the_next_start(backend: Backend) {
    use sea_orm::{ColumnTrait, QueryFilter};
    use techbalance_store::entities::{schedule, source};
    let app = TestApp::spawn(backend).await;
    let db = app.store.connection();
    // A database seeded before the OECD was registered: no row, no schedule.
    schedule::Entity::delete_many()
        .filter(schedule::Column::Source.eq("oecd-msti"))
        .exec(db)
        .await
        .expect("delete the schedule");
    source::Entity::delete_by_id("oecd-msti")
        .exec(db)
        .await
        .expect("delete the source");
    assert!(app
        .store
        .find_source("oecd-msti")
        .await
        .expect("find")
        .is_none());

    techbalance::seed_if_empty(&app.store, &app.config)
        .await
        .expect("start");

    let row = app.store.find_source("oecd-msti").await.expect("find");
    assert_eq!(
        row.map(|r| r.name).as_deref(),
        Some("OECD Main Science and Technology Indicators")
    );
    let schedules: Vec<String> = app
        .store
        .schedules()
        .await
        .expect("schedules")
        .into_iter()
        .map(|s| s.source)
        .collect();
    assert_eq!(
        schedules,
        ["worldbank"],
        "default schedules only on first start"
    );
}

/// A file in the temporary directory, removed when dropped.
pub(crate) mod tempfile_path {
    pub struct TempPath(std::path::PathBuf);

    impl TempPath {
        pub fn new(name: &str, contents: &str) -> Self {
            static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let path = std::env::temp_dir().join(format!("tb-{}-{n}-{name}", std::process::id()));
            std::fs::write(&path, contents).expect("write temp file");
            TempPath(path)
        }

        pub fn as_str(&self) -> &str {
            self.0.to_str().expect("utf-8 temp path")
        }
    }

    impl Drop for TempPath {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}
