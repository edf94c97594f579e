//! The moka caches behind a region's lookups: per-entry lifetimes (shorter
//! for "nothing there"), and one function that answers from a cache or
//! fetches, sharing one call among concurrent misses.

use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::future::Cache;

use super::{Lookups, ResolveError, Source};
use crate::config::CacheConfig;
use crate::ec2::{AwsError, InstanceInfo};

/// Answers that say "nothing there"; they expire sooner.
pub(super) trait Emptiness {
    fn is_empty_answer(&self) -> bool;
}

impl Emptiness for Option<Arc<InstanceInfo>> {
    fn is_empty_answer(&self) -> bool {
        self.is_none()
    }
}

impl<T> Emptiness for Arc<Vec<T>> {
    fn is_empty_answer(&self) -> bool {
        self.is_empty()
    }
}

/// Per-entry lifetime: positive answers `found`, empty ones `missing`.
struct Ttl {
    found: Duration,
    missing: Duration,
}

impl<K, V: Emptiness> Expiry<K, V> for Ttl {
    fn expire_after_create(&self, _key: &K, value: &V, _created_at: Instant) -> Option<Duration> {
        Some(if value.is_empty_answer() {
            self.missing
        } else {
            self.found
        })
    }
}

/// A cache whose found answers live `found_secs`, empty ones `negative_ttl`.
pub(super) fn cache<K, V>(found_secs: u64, config: &CacheConfig) -> Cache<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Emptiness + Clone + Send + Sync + 'static,
{
    Cache::builder()
        .max_capacity(10_000)
        .expire_after(Ttl {
            found: Duration::from_secs(found_secs),
            missing: Duration::from_secs(config.negative_ttl),
        })
        .build()
}

/// The value for `key`: from `cache`, else from `fetch` (concurrent misses
/// for one key share one call), which says who answered it (the EC2 API or
/// the route cache on disk); `what` and who answered are recorded in
/// `lookups`. An error is not cached.
pub(super) async fn cached<K, V>(
    cache: &Cache<K, V>,
    key: K,
    what: &'static str,
    lookups: &mut Lookups,
    fetch: impl Future<Output = Result<(V, Source), AwsError>>,
) -> Result<V, ResolveError>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    let answered = Mutex::new(Source::Api);
    let entry = cache
        .entry(key)
        .or_try_insert_with(async {
            let (value, source) = fetch.await?;
            *answered.lock().expect("not poisoned") = source;
            Ok(value)
        })
        .await
        .map_err(|e: Arc<AwsError>| ResolveError::Aws((*e).clone()))?;
    let source = if entry.is_fresh() {
        *answered.lock().expect("not poisoned")
    } else {
        Source::Cache
    };
    lookups.push((what, source));
    Ok(entry.into_value())
}
