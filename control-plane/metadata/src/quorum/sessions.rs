//! Broker sessions as the active controller keeps them (Kafka's BrokerHeartbeatManager):
//! in memory only, since a new controller gives every broker a fresh session rather
//! than trusting heartbeats it never saw.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::image::MetadataImage;

#[derive(Debug, Clone, Copy)]
struct Session {
    incarnation_id: [u8; 16],
    last_contact: Instant,
    /// The index at which this incarnation's registration was applied, when this
    /// controller committed it: the broker is caught up once it has applied it.
    registered_at: Option<u64>,
}

#[derive(Debug, Default)]
struct Inner {
    sessions: HashMap<i32, Session>,
    /// When this node last became the active controller.
    leader_since: Option<Instant>,
}

/// Heartbeat deadlines per broker.
#[derive(Debug)]
pub struct BrokerSessions {
    timeout: Duration,
    inner: Mutex<Inner>,
}

impl BrokerSessions {
    /// Sessions that expire `timeout` (`broker.session.timeout.ms`) after the last
    /// heartbeat.
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            inner: Mutex::default(),
        }
    }

    /// Records whether this node leads the quorum; on becoming the leader every broker's
    /// session starts afresh.
    pub fn set_leader(&self, leading: bool, now: Instant) {
        let mut inner = self.inner.lock();
        match (leading, inner.leader_since) {
            (true, None) => {
                inner.leader_since = Some(now);
                inner.sessions.clear();
            }
            (false, Some(_)) => inner.leader_since = None,
            _ => {}
        }
    }

    /// A heartbeat (or registration) from `broker`'s incarnation.
    pub fn touch(&self, broker: i32, incarnation_id: [u8; 16], now: Instant) {
        let mut inner = self.inner.lock();
        let s = inner.sessions.entry(broker).or_insert(Session {
            incarnation_id,
            last_contact: now,
            registered_at: None,
        });
        if s.incarnation_id != incarnation_id {
            *s = Session {
                incarnation_id,
                last_contact: now,
                registered_at: None,
            };
        }
        s.last_contact = now;
    }

    /// `broker`'s registration by `incarnation_id` was applied at `index`.
    pub fn registered(&self, broker: i32, incarnation_id: [u8; 16], index: u64, now: Instant) {
        self.touch(broker, incarnation_id, now);
        if let Some(s) = self.inner.lock().sessions.get_mut(&broker) {
            s.registered_at = Some(index);
        }
    }

    /// Where `broker`'s current incarnation registered, if this controller saw it.
    pub fn registered_at(&self, broker: i32) -> Option<u64> {
        self.inner
            .lock()
            .sessions
            .get(&broker)
            .and_then(|s| s.registered_at)
    }

    /// Another incarnation of `broker` still holds a live session: a second process
    /// with the same `node.id` (Kafka's DUPLICATE_BROKER_REGISTRATION).
    pub fn held_by_other(&self, broker: i32, incarnation_id: [u8; 16], now: Instant) -> bool {
        self.inner.lock().sessions.get(&broker).is_some_and(|s| {
            s.incarnation_id != incarnation_id
                && now.saturating_duration_since(s.last_contact) < self.timeout
        })
    }

    /// The unfenced brokers of `image` whose session has expired: no heartbeat within
    /// the timeout, counted from when this node became the leader at the earliest.
    pub fn expired(&self, image: &MetadataImage, now: Instant) -> Vec<i32> {
        let inner = self.inner.lock();
        let Some(since) = inner.leader_since else {
            return Vec::new();
        };
        image
            .brokers()
            .filter(|b| !b.fenced)
            .filter(|b| {
                let last = inner
                    .sessions
                    .get(&b.id)
                    .filter(|s| s.incarnation_id == b.incarnation_id)
                    .map_or(since, |s| s.last_contact.max(since));
                now.saturating_duration_since(last) >= self.timeout
            })
            .map(|b| b.id)
            .collect()
    }
}
