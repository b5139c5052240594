//! The operator's own memory: the limit of its cgroup, its resident size, and the guard that
//! stops the controller before the kernel's OOM killer would stop the process. Killed, it would
//! restart, list every app and child again and be killed again: a crash loop that reconciles
//! nothing and says nothing. Stopped by the guard, it stays up, says why (a log line, a
//! metric, `/readyz`), and tries again later.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tracing::warn;

/// Share of the limit past which the operator warns (once per crossing).
pub const WARN_AT: f64 = 0.8;
/// Share of the limit past which the controller stops.
pub const STOP_AT: f64 = 0.9;

/// The memory limit of this process's cgroup in bytes (cgroup v2 `memory.max`, v1
/// `memory.limit_in_bytes`); None when there is none.
pub fn cgroup_limit() -> Option<u64> {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    limit_from(&cgroups, Path::new("/sys/fs/cgroup"))
}

fn limit_from(cgroups: &str, root: &Path) -> Option<u64> {
    let read = |path: PathBuf| -> Option<u64> {
        let text = std::fs::read_to_string(path).ok()?;
        // "max" (v2) or a page-rounded i64::MAX (v1) mean no limit.
        text.trim().parse().ok().filter(|&n: &u64| n < (1 << 62))
    };
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let path = path.trim_start_matches('/');
        let found = if controllers.is_empty() {
            read(root.join(path).join("memory.max"))
        } else if controllers.split(',').any(|c| c == "memory") {
            // In a container the cgroup namespace makes its own cgroup the root.
            read(root.join("memory").join(path).join("memory.limit_in_bytes"))
                .or_else(|| read(root.join("memory/memory.limit_in_bytes")))
        } else {
            None
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

/// The process's resident set size in bytes (`VmRSS`).
pub fn resident() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Resolves once the resident size passes [`STOP_AT`] of `limit`, checking every `period` and
/// calling `observe(resident)` each time (for the metrics). Warns once each time it passes
/// [`WARN_AT`].
pub async fn pressure(limit: u64, period: Duration, observe: impl Fn(u64)) -> u64 {
    let mut warned = false;
    loop {
        if let Some(rss) = resident() {
            observe(rss);
            let share = rss as f64 / limit as f64;
            if share >= STOP_AT {
                return rss;
            }
            if share >= WARN_AT && !warned {
                warn!(
                    resident_mib = rss >> 20,
                    limit_mib = limit >> 20,
                    "memory near the limit: shard the apps (config/shards) or raise the limit"
                );
            }
            warned = share >= WARN_AT;
        }
        tokio::time::sleep(period).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_read_from_cgroup_v1_and_v2() {
        let root = std::env::temp_dir().join(format!("footprint-{}", std::process::id()));
        let v2 = root.join("app.slice/op");
        let v1 = root.join("memory/pods/op");
        std::fs::create_dir_all(&v2).unwrap();
        std::fs::create_dir_all(&v1).unwrap();
        std::fs::write(v2.join("memory.max"), "268435456\n").unwrap();
        std::fs::write(v1.join("memory.limit_in_bytes"), "134217728\n").unwrap();
        assert_eq!(limit_from("0::/app.slice/op\n", &root), Some(256 << 20));
        assert_eq!(
            limit_from("9:name=systemd:/\n4:memory:/pods/op\n0::/\n", &root),
            Some(128 << 20)
        );
        std::fs::write(v2.join("memory.max"), "max\n").unwrap();
        std::fs::write(v1.join("memory.limit_in_bytes"), "9223372036854771712\n").unwrap();
        assert_eq!(limit_from("0::/app.slice/op\n", &root), None);
        assert_eq!(limit_from("4:memory:/pods/op\n", &root), None);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn this_process_has_a_resident_size() {
        assert!(resident().is_some_and(|r| r > 1 << 20));
    }
}
