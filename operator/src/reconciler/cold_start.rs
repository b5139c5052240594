//! Cold starts: how long a component takes from its first replica being wanted (its
//! Deployment's `spec.replicas` leaving 0) to its first ready pod (`status.readyReplicas`
//! reaching 1). Timed on the Deployment watch, as each event arrives, not in reconciles: a
//! reconcile may run well after the event, while both ends reach the watch with the same
//! latency. Whatever scaled the Deployment (KEDA, the HTTP add-on, an HPA, a person) is timed
//! the same way. Kept in memory: a cold start under way while the operator restarts is not
//! timed, and the status keeps the last one it wrote.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};

use super::caches::Cached;

/// Measurements of one Deployment not yet counted in the metrics, at most: a reconcile takes
/// them soon after each one, so more means reconciles are failing; the oldest go first.
const UNREPORTED_KEPT: usize = 16;

/// One measured cold start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Measured {
    /// When the first pod was seen ready, to the second (as the API stores times: a finer one
    /// would differ from the status read back, and be written again).
    pub ready_at: jiff::Timestamp,
    pub took: Duration,
}

/// The cold starts of every cached Deployment: under way, last measured, and measured but not
/// yet counted in the metrics. Only Deployments that scaled from zero have an entry.
#[derive(Default)]
pub struct ColdStarts {
    deployments: Mutex<HashMap<(String, String), Track>>,
}

#[derive(Default)]
struct Track {
    /// Which Deployment: a new one under the same name starts afresh.
    uid: String,
    /// When the first replica was wanted, while no pod is ready yet.
    wanted: Option<Instant>,
    last: Option<Measured>,
    unreported: Vec<Duration>,
}

/// Replicas wanted and ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scale {
    pub desired: i32,
    pub ready: i32,
}

impl ColdStarts {
    /// Time a watch event of a child kind, before the cache applies it (`cache` still holds the
    /// previous version). Kinds without replicas pass through.
    pub fn watch_event<K>(&self, event: &watcher::Event<K>, cache: &Store<K>)
    where
        K: Cached + Resource<DynamicType = ()> + Clone + 'static,
    {
        if !K::TRACKS_REPLICAS {
            return;
        }
        match event {
            watcher::Event::Apply(obj) | watcher::Event::InitApply(obj) => {
                let before = cache.get(&ObjectRef::from_obj(obj)).and_then(|o| o.scale());
                if let Some(now) = obj.scale() {
                    self.observe(key(obj), &obj.uid().unwrap_or_default(), before, now);
                }
            }
            watcher::Event::Delete(obj) => self.forget(&key(obj)),
            watcher::Event::Init | watcher::Event::InitDone => {}
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Track>> {
        // Plain data: still usable after a panic elsewhere.
        self.deployments.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn observe(&self, key: (String, String), uid: &str, before: Option<Scale>, now: Scale) {
        self.observe_at(
            key,
            uid,
            before,
            now,
            Instant::now(),
            jiff::Timestamp::now(),
        );
    }

    fn observe_at(
        &self,
        key: (String, String),
        uid: &str,
        before: Option<Scale>,
        now: Scale,
        at: Instant,
        wall: jiff::Timestamp,
    ) {
        let mut deployments = self.lock();
        let leaving_zero = before.is_some_and(|b| b.desired == 0) && now.desired > 0;
        if leaving_zero && now.ready == 0 {
            let track = deployments.entry(key).or_default();
            if track.uid != uid {
                *track = Track {
                    uid: uid.to_string(),
                    ..Track::default()
                };
            }
            track.wanted.get_or_insert(at);
            return;
        }
        let Some(track) = deployments.get_mut(&key) else {
            return;
        };
        if track.uid != uid {
            deployments.remove(&key);
            return;
        }
        let Some(wanted) = track.wanted else {
            return;
        };
        if now.ready > 0 {
            let took = at.saturating_duration_since(wanted);
            track.last = Some(Measured {
                ready_at: jiff::Timestamp::from_second(wall.as_second()).unwrap_or(wall),
                took,
            });
            if track.unreported.len() == UNREPORTED_KEPT {
                track.unreported.remove(0);
            }
            track.unreported.push(took);
            track.wanted = None;
        } else if now.desired == 0 {
            // Back to zero before any pod was ready: not a cold start that finished.
            track.wanted = None;
        }
    }

    fn forget(&self, key: &(String, String)) {
        self.lock().remove(key);
    }

    /// The last cold start of Deployment `name` in `ns`, if one was measured.
    pub fn last(&self, ns: &str, name: &str) -> Option<Measured> {
        self.lock()
            .get(&(ns.to_string(), name.to_string()))
            .and_then(|t| t.last)
    }

    /// The cold starts of Deployment `name` in `ns` measured since the last call: each is
    /// counted once.
    pub fn take_unreported(&self, ns: &str, name: &str) -> Vec<Duration> {
        self.lock()
            .get_mut(&(ns.to_string(), name.to_string()))
            .map(|t| std::mem::take(&mut t.unreported))
            .unwrap_or_default()
    }
}

fn key<K: Resource>(obj: &K) -> (String, String) {
    (obj.namespace().unwrap_or_default(), obj.name_any())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scale(desired: i32, ready: i32) -> Option<Scale> {
        Some(Scale { desired, ready })
    }

    struct Clock {
        starts: ColdStarts,
        t0: Instant,
    }

    impl Clock {
        fn new() -> Self {
            Clock {
                starts: ColdStarts::default(),
                t0: Instant::now(),
            }
        }
        /// The Deployment went from `before` to `now`, `ms` after the clock's start.
        fn see(&self, uid: &str, before: Option<Scale>, now: Option<Scale>, ms: u64) {
            let wall = jiff::Timestamp::from_second(1_800_000_000).unwrap()
                + jiff::SignedDuration::from_millis(ms as i64);
            self.starts.observe_at(
                ("ns".into(), "app-w".into()),
                uid,
                before,
                now.unwrap(),
                self.t0 + Duration::from_millis(ms),
                wall,
            );
        }
        fn last_ms(&self) -> Option<u128> {
            self.starts.last("ns", "app-w").map(|m| m.took.as_millis())
        }
    }

    #[test]
    fn a_scale_from_zero_is_timed_from_the_replica_wanted_to_the_first_ready_pod() {
        let c = Clock::new();
        c.see("u1", scale(0, 0), scale(1, 0), 1_000);
        // Pod created, not ready yet; then more replicas wanted: still the same cold start.
        c.see("u1", scale(1, 0), scale(3, 0), 1_500);
        assert_eq!(c.last_ms(), None);
        c.see("u1", scale(3, 0), scale(3, 1), 3_400);
        assert_eq!(c.last_ms(), Some(2_400));
        let measured = c.starts.last("ns", "app-w").unwrap();
        assert_eq!(
            measured.ready_at,
            jiff::Timestamp::from_second(1_800_000_003).unwrap()
        );
        // Each is counted once.
        assert_eq!(
            c.starts.take_unreported("ns", "app-w"),
            vec![Duration::from_millis(2_400)]
        );
        assert!(c.starts.take_unreported("ns", "app-w").is_empty());
        // More pods becoming ready is not another cold start.
        c.see("u1", scale(3, 1), scale(3, 3), 5_000);
        assert_eq!(c.last_ms(), Some(2_400));
        assert!(c.starts.take_unreported("ns", "app-w").is_empty());
    }

    #[test]
    fn only_a_start_from_zero_counts() {
        let c = Clock::new();
        // First seen (created, or a relist): nothing to time it from.
        c.see("u1", None, scale(1, 0), 0);
        c.see("u1", scale(1, 0), scale(1, 1), 900);
        // Scaling up from one replica.
        c.see("u1", scale(1, 1), scale(2, 1), 1_000);
        c.see("u1", scale(2, 1), scale(2, 2), 2_000);
        assert_eq!(c.last_ms(), None);
    }

    #[test]
    fn a_start_called_off_before_a_pod_is_ready_is_not_timed() {
        let c = Clock::new();
        c.see("u1", scale(0, 0), scale(1, 0), 0);
        c.see("u1", scale(1, 0), scale(0, 0), 500);
        c.see("u1", scale(0, 0), scale(0, 1), 600); // a pod being removed, still ready
        assert_eq!(c.last_ms(), None);
        // The next start is timed from its own beginning.
        c.see("u1", scale(0, 1), scale(1, 0), 10_000);
        c.see("u1", scale(1, 0), scale(1, 1), 10_700);
        assert_eq!(c.last_ms(), Some(700));
    }

    #[test]
    fn a_new_deployment_under_the_same_name_starts_afresh() {
        let c = Clock::new();
        c.see("u1", scale(0, 0), scale(1, 0), 0);
        c.see("u2", scale(1, 0), scale(1, 1), 5_000);
        assert_eq!(c.last_ms(), None);
        c.see("u2", scale(0, 0), scale(1, 0), 6_000);
        c.see("u2", scale(1, 0), scale(1, 1), 6_250);
        assert_eq!(c.last_ms(), Some(250));
        c.starts.forget(&("ns".into(), "app-w".into()));
        assert_eq!(c.last_ms(), None);
    }

    #[test]
    fn unreported_measurements_are_bounded() {
        let c = Clock::new();
        for i in 0..(UNREPORTED_KEPT as u64 + 4) {
            let t = i * 10_000;
            c.see("u1", scale(0, 0), scale(1, 0), t);
            c.see("u1", scale(1, 0), scale(1, 1), t + 100 + i);
            c.see("u1", scale(1, 1), scale(0, 0), t + 5_000);
        }
        let kept = c.starts.take_unreported("ns", "app-w");
        assert_eq!(kept.len(), UNREPORTED_KEPT);
        // The newest are kept.
        assert_eq!(
            kept.last(),
            Some(&Duration::from_millis(100 + UNREPORTED_KEPT as u64 + 3))
        );
    }
}
