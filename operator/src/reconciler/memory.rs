//! What the operator remembers of each app between its reconciles, in one map so an app that
//! is gone is forgotten in one place. All of it is in memory: a restarted operator starts
//! afresh (one prune scan and one access review per app, no status deferred).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;

use super::caches::Stores;
use crate::api::{ServerlessApp, ServerlessAppStatus};
use crate::children::ChildKind;

type Key = ObjectRef<ServerlessApp>;

#[derive(Default)]
pub(super) struct Memory {
    apps: Mutex<HashMap<Key, AppMemory>>,
    /// The next free slot of the progress-write budget shared by all apps.
    progress_budget: Mutex<Option<tokio::time::Instant>>,
}

#[derive(Default)]
struct AppMemory {
    /// Consecutive failed reconciles, for exponential backoff.
    failures: u32,
    /// What the app's last complete prune saw; see [`super::Context::needs_prune`].
    pruned: Option<PruneMark>,
    /// Its status writes; see [`Memory::current_status`].
    status: Option<StatusWrites>,
    /// When a status was first computed for it, before any write.
    first_status: Option<tokio::time::Instant>,
    /// The uid and generation whose references its namespace's account was last allowed.
    authorized: Option<Generation>,
    /// Its place in the progress-write budget, once it has waited for one.
    progress_slot: Option<tokio::time::Instant>,
    /// Whether the operator changed its children (told in an Event) since it was last Ready.
    changed: bool,
    /// The state of the app and its cached children when all were last found up to date; see
    /// `super::apply`.
    checked: Option<u64>,
}

/// An app's uid and `metadata.generation`: one version of its spec.
pub(super) type Generation = (String, Option<i64>);

/// The status writes of one app.
struct StatusWrites {
    /// When the last one was sent.
    at: tokio::time::Instant,
    /// The last one, while the app cache may not show it yet.
    unseen: Option<UnseenStatus>,
}

struct UnseenStatus {
    /// App versions older than this write: while the cache shows one of them, it has not seen
    /// the write.
    older: Vec<String>,
    /// The version the write produced.
    version: Option<String>,
    status: ServerlessAppStatus,
}

/// The state of an app and of the cluster's kinds when its children were last pruned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct PruneMark {
    uid: String,
    generation: i64,
    /// Which child kinds the cluster served (KEDA's may come later).
    kinds: Vec<bool>,
}

impl PruneMark {
    /// None when the app has no uid or generation (never from a real API server): always prune.
    pub(super) fn of(app: &ServerlessApp, stores: &Stores) -> Option<Self> {
        Some(PruneMark {
            uid: app.uid()?,
            generation: app.metadata.generation?,
            kinds: ChildKind::ALL.iter().map(|&k| stores.serves(k)).collect(),
        })
    }
}

impl Memory {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, AppMemory>> {
        // A panic while holding this lock leaves plain data behind; it is still usable.
        self.apps.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update<R>(&self, app: &ServerlessApp, f: impl FnOnce(&mut AppMemory) -> R) -> R {
        f(self.lock().entry(ObjectRef::from_obj(app)).or_default())
    }

    fn read<R>(&self, app: &ServerlessApp, f: impl FnOnce(&AppMemory) -> R) -> Option<R> {
        self.lock().get(&ObjectRef::from_obj(app)).map(f)
    }

    /// Forget an app that is gone.
    pub(super) fn forget(&self, app: &Key) {
        self.lock().remove(app);
    }

    /// The state in which every child of the app was last found up to date.
    pub(super) fn checked(&self, app: &ServerlessApp) -> Option<u64> {
        self.read(app, |m| m.checked).flatten()
    }

    pub(super) fn mark_checked(&self, app: &ServerlessApp, state: u64) {
        self.update(app, |m| m.checked = Some(state));
    }

    pub(super) fn failures(&self, app: &ServerlessApp) -> u32 {
        self.read(app, |m| m.failures).unwrap_or(0)
    }

    /// Count a failed reconcile; returns how many in a row.
    pub(super) fn failed(&self, app: &ServerlessApp) -> u32 {
        self.update(app, |m| {
            m.failures = m.failures.saturating_add(1);
            m.failures
        })
    }

    pub(super) fn succeeded(&self, app: &ServerlessApp) {
        if let Some(m) = self.lock().get_mut(&ObjectRef::from_obj(app)) {
            m.failures = 0;
        }
    }

    /// Remember that the operator changed the app's children, so its becoming Ready again is
    /// told too.
    pub(super) fn mark_changed(&self, app: &ServerlessApp) {
        self.update(app, |m| m.changed = true);
    }

    /// Whether the children changed since the app was last Ready; with `ready` (it is Ready
    /// now), that change is over and forgotten.
    pub(super) fn changed_since_ready(&self, app: &ServerlessApp, ready: bool) -> bool {
        let mut apps = self.lock();
        let Some(m) = apps.get_mut(&ObjectRef::from_obj(app)) else {
            return false;
        };
        let changed = m.changed;
        m.changed &= !ready;
        changed
    }

    pub(super) fn pruned(&self, app: &ServerlessApp) -> Option<PruneMark> {
        self.read(app, |m| m.pruned.clone()).flatten()
    }

    pub(super) fn mark_pruned(&self, app: &ServerlessApp, mark: PruneMark) {
        self.update(app, |m| m.pruned = Some(mark));
    }

    pub(super) fn authorized(&self, app: &ServerlessApp) -> Option<Generation> {
        self.read(app, |m| m.authorized.clone()).flatten()
    }

    pub(super) fn mark_authorized(&self, app: &ServerlessApp, generation: Generation) {
        self.update(app, |m| m.authorized = Some(generation));
    }

    /// The app's current status: the cached one, unless this operator wrote a newer one the
    /// cache has not caught up with. A reconcile triggered by a child's event often runs before
    /// the app's watch delivers our own last status write; computing against that stale status
    /// re-wrote the same status with a new transition time and repeated the Ready Event.
    pub(super) fn current_status(&self, app: &ServerlessApp) -> Option<ServerlessAppStatus> {
        let mut apps = self.lock();
        let Some(writes) = apps
            .get_mut(&ObjectRef::from_obj(app))
            .and_then(|m| m.status.as_mut())
        else {
            return app.status.clone();
        };
        let cached = app.metadata.resource_version.as_ref();
        match &writes.unseen {
            Some(unseen) if cached.is_some_and(|v| unseen.older.contains(v)) => {
                Some(unseen.status.clone())
            }
            _ => {
                // The cache shows our last write, or something newer than it.
                writes.unseen = None;
                app.status.clone()
            }
        }
    }

    /// How long until the app's status may be written again, if not now: `interval` after the
    /// last write, or after the first status computed when none was written yet (so a new app
    /// that is Ready within it gets one write, not Reconciling and then Ready).
    pub(super) fn status_wait(&self, app: &ServerlessApp, interval: Duration) -> Option<Duration> {
        let now = tokio::time::Instant::now();
        let since = self.update(app, |m| match &m.status {
            Some(writes) => writes.at,
            None => *m.first_status.get_or_insert(now),
        });
        let next = since + interval;
        (next > now).then(|| next - now)
    }

    /// How long a progress-only status write of the app waits for the budget shared by all
    /// apps (`per_second` writes), if not now. An app that has to wait keeps its slot: when it
    /// comes back, it writes then, without queueing again. While thousands of apps converge at
    /// once, most of them become Ready (written at once, outside the budget) before their slot,
    /// and a progress write nobody could read in time is never sent.
    pub(super) fn progress_wait(&self, app: &ServerlessApp, per_second: u32) -> Option<Duration> {
        let now = tokio::time::Instant::now();
        let slot = self.update(app, |m| m.progress_slot).unwrap_or_else(|| {
            let mut next = self
                .progress_budget
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + Duration::from_secs(1) / per_second.max(1));
            self.update(app, |m| m.progress_slot = Some(slot));
            slot
        });
        (slot > now).then(|| slot - now)
    }

    /// Remember a status write computed from `app` (as cached); `result` is the version the
    /// write produced.
    pub(super) fn record_status(
        &self,
        app: &ServerlessApp,
        result: Option<String>,
        status: ServerlessAppStatus,
    ) {
        self.update(app, |m| {
            m.first_status = None;
            m.progress_slot = None;
            let writes = m.status.get_or_insert_with(|| StatusWrites {
                at: tokio::time::Instant::now(),
                unseen: None,
            });
            // Every version up to the one this write produced is stale from now on: the one it
            // was computed from, and those of earlier writes the cache has not shown yet.
            let mut older = writes
                .unseen
                .take()
                .map(|u| {
                    let mut older = u.older;
                    older.extend(u.version);
                    older
                })
                .unwrap_or_default();
            older.extend(app.metadata.resource_version.clone());
            writes.at = tokio::time::Instant::now();
            writes.unseen = Some(UnseenStatus {
                older,
                version: result,
                status,
            });
        });
    }
}
