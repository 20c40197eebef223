//! Scale-out on PostgreSQL with real worker processes of the binary: schedules fire in every
//! process but each fire time runs once; a killed worker's run is reclaimed; schedule changes
//! made through the API reach running workers.

use crate::fake_worldbank::{Failure, FakeWorldBank, Vintage};
use crate::support::{Backend, TestApp};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use std::collections::HashSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use techbalance_store::entities::{observation, refresh_run};
use techbalance_store::runs::{RunStatus, RunTrigger};
use techbalance_store::schedules::{NewSchedule, ScheduleChange};

/// A `techbalance worker` process, killed when dropped; its log goes to a file.
struct WorkerProcess {
    child: Child,
    log: PathBuf,
}

impl WorkerProcess {
    fn start(app: &TestApp, name: &str, extra: &[(&str, &str)]) -> Self {
        let log = std::env::temp_dir().join(format!("tb-worker-{}-{name}.log", std::process::id()));
        let file = std::fs::File::create(&log).expect("log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_techbalance"));
        command
            .arg("worker")
            .env("DATABASE_URL", &app.db.url)
            .env("TECHBALANCE_LOG", "techbalance_worker=debug,info")
            .env("TECHBALANCE_WORKER_POLL_MS", "100")
            .env("TECHBALANCE_SCHEDULE_RELOAD_MS", "300")
            .env("TECHBALANCE_WORKER_LEASE_SECS", "2")
            .stdout(Stdio::null())
            .stderr(file);
        for (key, value) in extra {
            command.env(key, value);
        }
        Self {
            child: command.spawn().expect("start worker"),
            log,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn kill(&mut self) {
        // SIGKILL: no chance to clean up.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.log);
    }
}

async fn runs(app: &TestApp, trigger: RunTrigger) -> Vec<refresh_run::Model> {
    refresh_run::Entity::find()
        .filter(refresh_run::Column::Trigger.eq(trigger))
        .order_by_asc(refresh_run::Column::Id)
        .all(app.store.connection())
        .await
        .expect("runs")
}

/// Waits until `check` holds, or fails after `limit` with `what`.
async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn unfinished(app: &TestApp) -> usize {
    refresh_run::Entity::find()
        .filter(refresh_run::Column::Status.is_in(["queued", "running"]))
        .all(app.store.connection())
        .await
        .expect("runs")
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_run_every_fire_time_of_a_schedule_exactly_once() {
    let app = TestApp::builder(Backend::Postgres).start().await;
    let schedule = app
        .store
        .create_schedule(NewSchedule {
            source: "baseline".into(),
            cron: "* * * * * *".into(),
            timezone: "UTC".into(),
            enabled: true,
            created_by: "test".into(),
        })
        .await
        .expect("schedule")
        .0;
    let first = WorkerProcess::start(&app, "first", &[]);
    let second = WorkerProcess::start(&app, "second", &[]);
    tokio::time::sleep(Duration::from_secs(7)).await;
    app.store
        .update_schedule(
            schedule.id,
            ScheduleChange {
                enabled: Some(false),
                ..Default::default()
            },
        )
        .await
        .expect("pause");
    tokio::time::sleep(Duration::from_secs(1)).await;
    eventually(Duration::from_secs(30), "the queue drains", || async {
        unfinished(&app).await == 0
    })
    .await;

    let scheduled = runs(&app, RunTrigger::Schedule).await;
    let logs = format!("--- first\n{}\n--- second\n{}", first.log(), second.log());
    assert!(
        scheduled.len() >= 4,
        "only {} scheduled runs in 7 s\n{logs}",
        scheduled.len()
    );
    let fire_times: HashSet<_> = scheduled.iter().map(|r| r.scheduled_for).collect();
    assert_eq!(
        fire_times.len(),
        scheduled.len(),
        "a fire time was enqueued twice\n{logs}"
    );
    for run in &scheduled {
        assert_eq!(
            (run.status, run.claims),
            (RunStatus::Succeeded, 1),
            "run {} executed other than once: {run:?}",
            run.id
        );
        assert!(
            run.scheduled_for
                .is_some_and(|t| t.timestamp_subsec_nanos() == 0),
            "fire times are whole seconds"
        );
    }
    assert!(
        logs.contains("already queued by another process"),
        "both schedulers fired and the database deduplicated\n{logs}"
    );
    let executors: HashSet<_> = scheduled.iter().filter_map(|r| r.worker.clone()).collect();
    eprintln!(
        "{} scheduled runs, executed by {} worker(s)",
        scheduled.len(),
        executors.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_worker_is_killed_is_reclaimed_and_completes() {
    let app = TestApp::builder(Backend::Postgres).start().await;
    let fake = FakeWorldBank::start(
        Vintage::new("2025-07-01")
            .with("GB.XPD.RSDV.GD.ZS", "USA", 2022, Some(3.58))
            .with("GB.XPD.RSDV.GD.ZS", "CHN", 2022, Some(2.56)),
    )
    .await;
    fake.fail(Failure::Slow);
    let url = fake.url();
    let env = [("TECHBALANCE_WORLDBANK_URL", url.as_str())];
    let (run, _) = app
        .store
        .enqueue_manual("worldbank")
        .await
        .expect("enqueue");

    let mut doomed = WorkerProcess::start(&app, "doomed", &env);
    let doomed_pid = doomed.pid();
    eventually(
        Duration::from_secs(20),
        "the first worker claims the run",
        || async {
            let run = app.store.run(run.id).await.expect("run").expect("exists");
            run.status == RunStatus::Running
                && run
                    .worker
                    .as_deref()
                    .is_some_and(|w| w.contains(&format!(":{doomed_pid}:")))
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    doomed.kill();

    let survivor = WorkerProcess::start(&app, "survivor", &env);
    let survivor_pid = survivor.pid();
    eventually(
        Duration::from_secs(40),
        "the run is reclaimed and completes",
        || async {
            app.store
                .run(run.id)
                .await
                .expect("run")
                .expect("exists")
                .status
                == RunStatus::Succeeded
        },
    )
    .await;
    let done = app.store.run(run.id).await.expect("run").expect("exists");
    assert_eq!(
        done.claims,
        2,
        "claimed by the killed worker, then by the survivor: {done:?}\n{}",
        survivor.log()
    );
    assert!(
        done.worker
            .as_deref()
            .is_some_and(|w| w.contains(&format!(":{survivor_pid}:"))),
        "{done:?}"
    );
    assert_eq!(done.inserted, 2);
    let recorded = observation::Entity::find()
        .filter(observation::Column::Source.eq("worldbank"))
        .all(app.store.connection())
        .await
        .expect("observations");
    assert_eq!(recorded.len(), 2, "each figure recorded once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedule_changes_made_through_the_api_reach_a_running_worker() {
    let app = TestApp::builder(Backend::Postgres).start().await;
    let token = app.token("ops").await;
    let worker = WorkerProcess::start(&app, "listening", &[]);
    tokio::time::sleep(Duration::from_millis(500)).await;

    let created = app
        .post_as(
            &token,
            r#"mutation { createSchedule(source: "baseline", cron: "* * * * * *") { id } }"#,
        )
        .await;
    let id = created["data"]["createSchedule"]["id"]
        .as_str()
        .expect("schedule id")
        .to_owned();
    eventually(
        Duration::from_secs(15),
        "the new schedule fires in the running worker",
        || async {
            runs(&app, RunTrigger::Schedule)
                .await
                .iter()
                .any(|r| r.status == RunStatus::Succeeded)
        },
    )
    .await;

    let paused = app
        .post_as(
            &token,
            &format!(r#"mutation {{ updateSchedule(id: "{id}", enabled: false) {{ enabled }} }}"#),
        )
        .await;
    assert_eq!(paused["data"]["updateSchedule"]["enabled"], false);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after_pause = runs(&app, RunTrigger::Schedule).await.len();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        runs(&app, RunTrigger::Schedule).await.len(),
        after_pause,
        "a paused schedule stopped firing\n{}",
        worker.log()
    );

    app.post_as(
        &token,
        &format!(r#"mutation {{ updateSchedule(id: "{id}", enabled: true) {{ enabled }} }}"#),
    )
    .await;
    eventually(
        Duration::from_secs(15),
        "the resumed schedule fires again",
        || async { runs(&app, RunTrigger::Schedule).await.len() > after_pause },
    )
    .await;
}
