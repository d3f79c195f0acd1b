//! The lifecycle of brokers in the metadata, as KRaft's controller runs it:
//! registration (a new incarnation starts fenced), heartbeats that unfence a broker
//! once it has caught up, fencing of a broker whose session expired, controlled
//! shutdown, and the leader elections each of these causes.
//!
//! Until replication lands, a fenced broker leaves the ISR of its partitions (unless
//! it is the last member, so the partition comes back with it) and re-enters it when
//! it is unfenced: there is no follower fetch yet to decide when it has caught up.

use std::collections::{BTreeMap, BTreeSet};

use super::error::ControllerError;
use crate::image::{BrokerRegistration, MetadataImage, PartitionImage};
use crate::records::metadata_record::Record;
use crate::records::{
    BrokerRegistrationChangeRecord, MetadataRecord, PartitionRecord, RegisterBrokerRecord,
};

/// A broker's registration: who it is and where clients reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerRegistrationRequest {
    pub broker_id: i32,
    /// Random per process start: tells a restarted broker from the one before it.
    pub incarnation_id: [u8; 16],
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

impl BrokerRegistrationRequest {
    /// A registration of `broker_id` at `host:port`; the incarnation is all zeros until
    /// [`with_incarnation`](Self::with_incarnation) sets it.
    pub fn new(broker_id: i32, host: &str, port: i32, rack: Option<String>) -> Self {
        Self {
            broker_id,
            incarnation_id: [0; 16],
            host: host.to_string(),
            port,
            rack,
        }
    }

    pub fn with_incarnation(mut self, incarnation_id: [u8; 16]) -> Self {
        self.incarnation_id = incarnation_id;
        self
    }
}

/// A broker's periodic heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    pub broker_id: i32,
    pub incarnation_id: [u8; 16],
    /// The metadata (Raft) index this broker has applied.
    pub applied_index: u64,
    /// The broker is stopping and asks for its leaderships to move (controlled shutdown).
    pub want_shut_down: bool,
}

/// What the controller answers a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatOutcome {
    /// The controller knows this incarnation; `false` means register again.
    pub known: bool,
    /// Clients are not sent to a fenced broker and it leads nothing.
    pub fenced: bool,
    /// Controlled shutdown is done: the broker leads nothing and may exit.
    pub should_shut_down: bool,
}

/// Where a broker is in its lifecycle (Kafka's broker states as the controller sees
/// them; `Offline` is a broker with no registration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerStatus {
    Fenced,
    Online,
    ControlledShutdown,
}

impl BrokerRegistration {
    /// The state to show operators.
    pub fn status(&self) -> BrokerStatus {
        match (self.fenced, self.in_controlled_shutdown) {
            (_, true) => BrokerStatus::ControlledShutdown,
            (true, false) => BrokerStatus::Fenced,
            (false, false) => BrokerStatus::Online,
        }
    }

    /// May lead partitions and be given new replicas.
    pub fn is_usable(&self) -> bool {
        !self.fenced && !self.in_controlled_shutdown
    }
}

impl std::fmt::Display for BrokerStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BrokerStatus::Fenced => "fenced",
            BrokerStatus::Online => "online",
            BrokerStatus::ControlledShutdown => "controlled-shutdown",
        })
    }
}

/// The brokers new replicas may go to: registered, unfenced, not shutting down.
pub fn usable_brokers(image: &MetadataImage) -> Vec<i32> {
    image
        .brokers()
        .filter(|b| b.is_usable())
        .map(|b| b.id)
        .collect()
}

/// The records that register `req`. With `fenced` (a cluster) a new incarnation starts
/// fenced and whatever the previous one led moves now; a single node registers unfenced
/// and writes nothing when only the incarnation changed.
pub fn register_broker(
    image: &MetadataImage,
    req: &BrokerRegistrationRequest,
    fenced: bool,
) -> Result<Vec<MetadataRecord>, ControllerError> {
    let id = req.broker_id;
    if id < 0 {
        return Err(ControllerError::InvalidRequest(format!(
            "Invalid broker id {id}"
        )));
    }
    if !(0..=65535).contains(&req.port) {
        return Err(ControllerError::InvalidRequest(format!(
            "Invalid port {} for broker {id}",
            req.port
        )));
    }
    if let Some(b) = image.broker(id) {
        let same_place = b.host == req.host && b.port == req.port && b.rack == req.rack;
        // A cluster tells lives apart by incarnation; a single node only needs to be
        // registered unfenced.
        let same_life = if fenced {
            b.incarnation_id == req.incarnation_id
        } else {
            b.is_usable()
        };
        if same_place && same_life {
            return Ok(Vec::new());
        }
    }
    let mut out: Vec<MetadataRecord> = vec![Record::RegisterBroker(RegisterBrokerRecord {
        broker_id: id,
        host: req.host.clone(),
        port: req.port,
        rack: req.rack.clone(),
        incarnation_id: req.incarnation_id.to_vec(),
        fenced,
    })
    .into()];
    if fenced {
        out.extend(move_leaders_off(image, id));
    }
    Ok(out)
}

/// The answer to `hb` and the records it causes: unfencing once the broker has applied
/// the metadata up to its registration (`registered_at`, when this controller saw it),
/// or the end of a controlled shutdown.
pub fn heartbeat(
    image: &MetadataImage,
    hb: &Heartbeat,
    registered_at: Option<u64>,
) -> (HeartbeatOutcome, Vec<MetadataRecord>) {
    let unknown = HeartbeatOutcome {
        known: false,
        fenced: true,
        should_shut_down: false,
    };
    let Some(b) = image.broker(hb.broker_id) else {
        return (unknown, Vec::new());
    };
    if b.incarnation_id != hb.incarnation_id {
        return (unknown, Vec::new());
    }
    if hb.want_shut_down {
        let records = if b.fenced {
            Vec::new()
        } else {
            fence_broker(image, hb.broker_id, true)
        };
        let done = HeartbeatOutcome {
            known: true,
            fenced: true,
            should_shut_down: true,
        };
        return (done, records);
    }
    if b.fenced || b.in_controlled_shutdown {
        let caught_up = registered_at.is_none_or(|at| hb.applied_index >= at);
        if caught_up {
            let online = HeartbeatOutcome {
                known: true,
                fenced: false,
                should_shut_down: false,
            };
            return (online, unfence_broker(image, hb.broker_id));
        }
        let waiting = HeartbeatOutcome {
            known: true,
            fenced: true,
            should_shut_down: false,
        };
        return (waiting, Vec::new());
    }
    let online = HeartbeatOutcome {
        known: true,
        fenced: false,
        should_shut_down: false,
    };
    (online, Vec::new())
}

/// Fences `broker` (its session expired, or `controlled` shutdown finished): it leaves
/// the ISR of its partitions and its leaderships move to other usable ISR members, in
/// replica order, or to none.
pub fn fence_broker(image: &MetadataImage, broker: i32, controlled: bool) -> Vec<MetadataRecord> {
    if image.broker(broker).is_none() {
        return Vec::new();
    }
    let mut out: Vec<MetadataRecord> = vec![change(broker, true, controlled)];
    out.extend(move_leaders_off(image, broker));
    out
}

/// Unfences `broker`: it re-enters the ISR of its partitions and leads those that had
/// no leader.
pub fn unfence_broker(image: &MetadataImage, broker: i32) -> Vec<MetadataRecord> {
    if image.broker(broker).is_none() {
        return Vec::new();
    }
    let mut out: Vec<MetadataRecord> = vec![change(broker, false, false)];
    for_partitions(image, &mut out, |p| {
        if !p.replicas.contains(&broker) {
            return None;
        }
        let mut isr = p.isr.clone();
        if !isr.contains(&broker) {
            isr.push(broker);
        }
        let leader = if p.leader == -1 { broker } else { p.leader };
        Some((isr, leader))
    });
    out
}

/// Preferred-leader election (ElectLeaders PREFERRED, `auto.leader.rebalance.enable`):
/// each partition of `which` (every partition when `None`) whose first replica is usable,
/// in the ISR and not leading becomes led by it.
pub fn elect_preferred(
    image: &MetadataImage,
    which: Option<&[(String, i32)]>,
) -> Vec<MetadataRecord> {
    let which: Option<BTreeSet<(&str, i32)>> =
        which.map(|w| w.iter().map(|(n, i)| (n.as_str(), *i)).collect());
    let mut out = Vec::new();
    for t in image.topics() {
        for p in t.partitions.values() {
            if let Some(w) = &which {
                if !w.contains(&(t.name.as_str(), p.partition)) {
                    continue;
                }
            }
            if let Some(r) = preferred_change(image, p) {
                out.push(partition_record(t.id.as_bytes(), p, p.isr.clone(), r));
            }
        }
    }
    out
}

/// Partitions whose preferred (first) replica is a broker over Kafka's imbalance
/// threshold (`auto.leader.rebalance.enable`): of the partitions it is preferred for,
/// more than `percentage` % are led elsewhere. Only those that can move are listed.
pub fn imbalanced(image: &MetadataImage, percentage: i32) -> Vec<(String, i32)> {
    let mut preferred: BTreeMap<i32, (usize, usize)> = BTreeMap::new();
    for t in image.topics() {
        for p in t.partitions.values() {
            if let Some(first) = p.replicas.first() {
                let e = preferred.entry(*first).or_default();
                e.0 += 1;
                if p.leader != *first {
                    e.1 += 1;
                }
            }
        }
    }
    let over: BTreeSet<i32> = preferred
        .into_iter()
        .filter(|(_, (total, elsewhere))| *elsewhere * 100 > *total * percentage.max(0) as usize)
        .map(|(b, _)| b)
        .collect();
    let mut out = Vec::new();
    for t in image.topics() {
        for p in t.partitions.values() {
            let movable = preferred_change(image, p).is_some();
            if movable && p.replicas.first().is_some_and(|f| over.contains(f)) {
                out.push((t.name.clone(), p.partition));
            }
        }
    }
    out
}

/// The preferred replica, if leadership should move to it.
pub fn preferred_change(image: &MetadataImage, p: &PartitionImage) -> Option<i32> {
    let first = *p.replicas.first()?;
    let usable = image.broker(first).is_some_and(|b| b.is_usable());
    (p.leader != first && usable && p.isr.contains(&first)).then_some(first)
}

/// Partitions `broker` leads or is in the ISR of, with it taken out: the ISR shrinks
/// (but never to nothing) and a new leader is chosen among the usable ISR members.
fn move_leaders_off(image: &MetadataImage, broker: i32) -> Vec<MetadataRecord> {
    let mut out = Vec::new();
    for_partitions(image, &mut out, |p| {
        if p.leader != broker && !p.isr.contains(&broker) {
            return None;
        }
        let mut isr: Vec<i32> = p.isr.iter().copied().filter(|r| *r != broker).collect();
        if isr.is_empty() {
            isr = p.isr.clone();
        }
        let leader = if p.leader == broker || p.leader == -1 {
            p.replicas
                .iter()
                .copied()
                .find(|r| {
                    *r != broker
                        && isr.contains(r)
                        && image.broker(*r).is_some_and(|b| b.is_usable())
                })
                .unwrap_or(-1)
        } else {
            p.leader
        };
        Some((isr, leader))
    });
    out
}

/// Runs `f` on every partition; where it returns a new (ISR, leader) that differs,
/// pushes the partition's next record.
fn for_partitions(
    image: &MetadataImage,
    out: &mut Vec<MetadataRecord>,
    mut f: impl FnMut(&PartitionImage) -> Option<(Vec<i32>, i32)>,
) {
    for t in image.topics() {
        for p in t.partitions.values() {
            if let Some((isr, leader)) = f(p) {
                if isr != p.isr || leader != p.leader {
                    out.push(partition_record(t.id.as_bytes(), p, isr, leader));
                }
            }
        }
    }
}

fn partition_record(
    topic_id: &[u8],
    p: &PartitionImage,
    isr: Vec<i32>,
    leader: i32,
) -> MetadataRecord {
    let leader_epoch = if leader != p.leader {
        p.leader_epoch.saturating_add(1)
    } else {
        p.leader_epoch
    };
    Record::Partition(PartitionRecord {
        topic_id: topic_id.to_vec(),
        partition_id: p.partition,
        replicas: p.replicas.clone(),
        isr,
        leader,
        leader_epoch,
        partition_epoch: p.partition_epoch.saturating_add(1),
    })
    .into()
}

fn change(broker: i32, fenced: bool, in_controlled_shutdown: bool) -> MetadataRecord {
    Record::BrokerChange(BrokerRegistrationChangeRecord {
        broker_id: broker,
        fenced: Some(fenced),
        in_controlled_shutdown: Some(in_controlled_shutdown),
    })
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::{create_topic, CreateTopicSpec};

    fn step(image: &mut MetadataImage, f: impl FnOnce(&MetadataImage) -> Vec<MetadataRecord>) {
        let records = f(image);
        apply(image, &records);
    }

    fn apply(image: &mut MetadataImage, records: &[MetadataRecord]) {
        for r in records {
            image.apply(r).expect("record applies");
        }
    }

    /// Three registered, unfenced brokers and a topic of 3 partitions, RF 2.
    fn cluster() -> MetadataImage {
        let mut image = MetadataImage::default();
        for id in 1..=3 {
            let req = BrokerRegistrationRequest::new(id, "h", 9000 + id, None)
                .with_incarnation([id as u8; 16]);
            let records = register_broker(&image, &req, true).expect("register");
            apply(&mut image, &records);
            let records = unfence_broker(&image, id);
            apply(&mut image, &records);
        }
        let spec = CreateTopicSpec {
            name: "t".into(),
            num_partitions: 3,
            replication_factor: 2,
            ..Default::default()
        };
        let (_, records) = create_topic(&image, &spec, (1, 1), &[1, 2, 3]).expect("create");
        apply(&mut image, &records);
        image
    }

    fn partitions(image: &MetadataImage) -> Vec<PartitionImage> {
        image
            .topic("t")
            .expect("topic")
            .partitions
            .values()
            .cloned()
            .collect()
    }

    #[test]
    fn a_new_incarnation_starts_fenced_and_a_heartbeat_unfences_it_once_caught_up() {
        let mut image = MetadataImage::default();
        let req = BrokerRegistrationRequest::new(1, "h", 9092, None).with_incarnation([7; 16]);
        step(&mut image, |image| {
            register_broker(image, &req, true).expect("register")
        });
        assert!(image.broker(1).expect("registered").fenced);
        assert!(usable_brokers(&image).is_empty());
        // The same incarnation registering again writes nothing.
        assert!(register_broker(&image, &req, true)
            .expect("again")
            .is_empty());

        let hb = Heartbeat {
            broker_id: 1,
            incarnation_id: [7; 16],
            applied_index: 4,
            want_shut_down: false,
        };
        let (o, records) = heartbeat(&image, &hb, Some(5));
        assert!(
            o.known && o.fenced && records.is_empty(),
            "not caught up yet"
        );
        let (o, records) = heartbeat(&image, &hb, Some(4));
        assert!(o.known && !o.fenced);
        apply(&mut image, &records);
        assert_eq!(image.broker(1).expect("b").status(), BrokerStatus::Online);

        let stale = Heartbeat {
            incarnation_id: [8; 16],
            ..hb
        };
        assert!(
            !heartbeat(&image, &stale, None).0.known,
            "another incarnation re-registers"
        );
    }

    #[test]
    fn fencing_moves_leaders_to_the_next_in_sync_replica_and_unfencing_restores_the_isr() {
        let mut image = cluster();
        let before = partitions(&image);
        let led_by_1: Vec<_> = before.iter().filter(|p| p.leader == 1).cloned().collect();
        assert!(!led_by_1.is_empty());
        step(&mut image, |image| fence_broker(image, 1, false));
        assert_eq!(image.broker(1).expect("b").status(), BrokerStatus::Fenced);
        for p in partitions(&image) {
            assert_ne!(p.leader, 1, "{p:?}");
            assert!(!p.isr.contains(&1), "{p:?}");
            assert!(p.leader != -1 && p.isr.contains(&p.leader));
            let old = &before[p.partition as usize];
            if old.leader == 1 {
                assert_eq!(p.leader_epoch, old.leader_epoch + 1);
            }
        }
        step(&mut image, |image| unfence_broker(image, 1));
        for p in partitions(&image) {
            assert_eq!(p.isr.len(), 2, "{p:?}");
        }
        // Preferred-leader election gives broker 1 back what it led.
        step(&mut image, |image| elect_preferred(image, None));
        for p in partitions(&image) {
            assert_eq!(Some(&p.leader), p.replicas.first(), "{p:?}");
        }
    }

    #[test]
    fn the_last_in_sync_replica_keeps_the_partition_which_comes_back_with_it() {
        let mut image = cluster();
        for b in [1, 2, 3] {
            step(&mut image, |image| fence_broker(image, b, false));
        }
        for p in partitions(&image) {
            assert_eq!(p.leader, -1, "{p:?}");
            assert_eq!(p.isr.len(), 1, "{p:?}");
        }
        let last = partitions(&image)[0].isr[0];
        step(&mut image, |image| unfence_broker(image, last));
        assert_eq!(partitions(&image)[0].leader, last);
    }

    #[test]
    fn controlled_shutdown_moves_every_leadership_and_lets_the_broker_go() {
        let mut image = cluster();
        let hb = Heartbeat {
            broker_id: 2,
            incarnation_id: [2; 16],
            applied_index: 0,
            want_shut_down: true,
        };
        let (o, records) = heartbeat(&image, &hb, None);
        assert!(o.should_shut_down);
        apply(&mut image, &records);
        assert_eq!(
            image.broker(2).expect("b").status(),
            BrokerStatus::ControlledShutdown
        );
        assert!(partitions(&image).iter().all(|p| p.leader != 2));
        assert!(!usable_brokers(&image).contains(&2));
        // Its next life registers fenced and is unfenced by a heartbeat.
        let req = BrokerRegistrationRequest::new(2, "h", 9002, None).with_incarnation([9; 16]);
        step(&mut image, |image| {
            register_broker(image, &req, true).expect("register")
        });
        let (o, records) = heartbeat(
            &image,
            &Heartbeat {
                incarnation_id: [9; 16],
                want_shut_down: false,
                ..hb
            },
            None,
        );
        assert!(!o.fenced);
        apply(&mut image, &records);
        assert_eq!(image.broker(2).expect("b").status(), BrokerStatus::Online);
    }

    #[test]
    fn a_single_node_re_registers_unfenced_without_a_record_per_start() {
        let mut image = MetadataImage::default();
        let req = BrokerRegistrationRequest::new(1, "h", 9092, None).with_incarnation([1; 16]);
        step(&mut image, |image| {
            register_broker(image, &req, false).expect("register")
        });
        assert!(image.broker(1).expect("b").is_usable());
        let next = req.clone().with_incarnation([2; 16]);
        assert!(register_broker(&image, &next, false)
            .expect("again")
            .is_empty());
    }
}
