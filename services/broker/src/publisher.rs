//! The metadata publisher: the one place a committed image reaches this node's logs.
//! Admin operations only ask the controller; what their commits mean for the node
//! (open a new topic's logs, grow a topic, apply changed configs, remove a deleted
//! topic's logs and purge its remote data) happens here, by comparing the image the
//! node serves with the controller's latest. With a metadata quorum the same diff
//! runs on every broker for every image the quorum commits.

use std::sync::Arc;

use strata_metadata::{MetadataImage, PartitionImage, TopicImage};
use strata_replication::{Partition, Role, TopicPartition};

use crate::state::{AdminError, BrokerState};

impl BrokerState {
    /// Applies the controller's latest image, if newer than the one served. Images
    /// are published one at a time, so they reach the logs in commit order.
    pub(crate) fn publish(&self) -> Result<(), AdminError> {
        let _one_at_a_time = self.publishing.lock();
        let next = self.controller_image();
        let prev = self.image();
        if Arc::ptr_eq(&prev, &next) {
            return Ok(());
        }
        self.apply_delta(&prev, &next)?;
        *self.image.write() = next;
        Ok(())
    }

    /// At start-up: opens every partition the image names and removes the
    /// directories of partitions it does not (a topic deleted while the node was down).
    pub(crate) fn publish_initial(&self) -> Result<(), AdminError> {
        let _one_at_a_time = self.publishing.lock();
        let image = self.controller_image();
        let now = self.clock.now_ms();
        let mut keep = Vec::new();
        for topic in image.topics() {
            let cfg = self.log_config_for(topic);
            for (p, img) in &topic.partitions {
                if !img.replicas.contains(&self.node_id) {
                    continue;
                }
                let tp = TopicPartition::new(topic.name.clone(), *p);
                let part = self
                    .replicas
                    .ensure_partition(&tp, topic.id, cfg.clone(), now)?;
                self.apply_role(&part, img);
                keep.push(tp);
            }
        }
        self.replicas.logs().remove_strays(&keep)?;
        *self.image.write() = image;
        Ok(())
    }

    fn apply_delta(&self, prev: &MetadataImage, next: &MetadataImage) -> Result<(), AdminError> {
        for gone in prev.topics().filter(|t| next.topic_by_id(&t.id).is_none()) {
            self.remove_topic(gone)?;
        }
        let now = self.clock.now_ms();
        for topic in next.topics() {
            let before = prev.topic_by_id(&topic.id);
            if before == Some(topic) {
                // Nothing of this topic changed: no config parsing, no lookups.
                continue;
            }
            let cfg = self.log_config_for(topic);
            for (p, img) in &topic.partitions {
                // A node hosts only the partitions it is a replica of.
                if !img.replicas.contains(&self.node_id) {
                    continue;
                }
                let part = match self.partition(&topic.name, *p) {
                    Some(part) => part,
                    None => {
                        let tp = TopicPartition::new(topic.name.clone(), *p);
                        self.replicas
                            .ensure_partition(&tp, topic.id, cfg.clone(), now)?
                    }
                };
                self.apply_role(&part, img);
            }
            if before.is_some_and(|b| b.configs != topic.configs) {
                for p in topic.partitions.keys() {
                    if let Some(part) = self.partition(&topic.name, *p) {
                        part.log().set_config(cfg.clone());
                    }
                }
            }
        }
        Ok(())
    }

    /// The partition's role, leader epoch and ISR as the image has them: leader when
    /// the image names this node, else follower of the named leader. Unchanged state
    /// is left alone (no wake-up). The remote log manager tiers only what this node
    /// leads, fenced by the leader epoch.
    fn apply_role(&self, part: &Partition, img: &PartitionImage) {
        let node = self.node_id;
        if img.leader == node {
            let followers: Vec<i32> = img.isr.iter().copied().filter(|b| *b != node).collect();
            let same = part.role() == Role::Leader
                && part.leader_epoch() == img.leader_epoch
                && part.in_sync_followers() == followers;
            if !same {
                part.become_leader(img.leader_epoch, &followers);
            }
            if let Some(tier) = self.tier() {
                tier.on_leader(part.log(), img.leader_epoch);
            }
        } else {
            let same = part.role() == (Role::Follower { leader: img.leader })
                && part.leader_epoch() == img.leader_epoch;
            if !same {
                part.become_follower(img.leader_epoch, img.leader);
            }
            if let Some(tier) = self.tier() {
                tier.on_not_leader(part.topic_partition());
            }
        }
    }

    /// A deleted topic: its logs go, and a tiered one's remote data is purged (the
    /// deletion was recorded durably before the commit, so a crash still purges it).
    fn remove_topic(&self, topic: &TopicImage) -> Result<(), AdminError> {
        let tier = self
            .tier()
            .filter(|_| self.log_config_for(topic).remote_storage_enable());
        for p in topic.partitions.keys() {
            self.replicas
                .remove_partition(&TopicPartition::new(topic.name.clone(), *p))?;
            if let Some(tier) = tier {
                tier.delete_partition(strata_remote::TopicIdPartition::new(
                    topic.id,
                    topic.name.clone(),
                    *p,
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use strata_metadata::CreateTopicSpec;

    use super::*;
    use crate::config::BrokerConfig;

    async fn open(dir: &std::path::Path) -> BrokerState {
        let config = BrokerConfig {
            log_dirs: dir.to_path_buf(),
            offsets_topic_num_partitions: 1,
            ..Default::default()
        };
        BrokerState::open(config, ("127.0.0.1".into(), 9092))
            .await
            .expect("open")
    }

    fn hosted(s: &BrokerState, topic: &str) -> Vec<i32> {
        let mut v: Vec<i32> = s
            .replicas
            .partitions()
            .iter()
            .filter(|p| p.topic_partition().topic == topic)
            .map(|p| p.topic_partition().partition)
            .collect();
        v.sort_unstable();
        v
    }

    /// Every admin change reaches the logs through the publisher, and only there: new
    /// topics and partitions open, configs apply, deleted topics' logs go; a restart
    /// publishes the same state from the metadata log.
    #[tokio::test]
    async fn committed_changes_reach_the_logs() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path()).await;
        let spec = CreateTopicSpec {
            name: "t".into(),
            num_partitions: 2,
            replication_factor: -1,
            ..Default::default()
        };
        s.create_topic(spec.clone(), true).await.unwrap();
        assert!(hosted(&s, "t").is_empty(), "validate_only opens nothing");
        s.create_topic(spec, false).await.unwrap();
        assert_eq!(hosted(&s, "t"), vec![0, 1]);
        s.create_partitions("t", 4, BTreeMap::new(), false)
            .await
            .unwrap();
        assert_eq!(hosted(&s, "t"), vec![0, 1, 2, 3]);
        let set = BTreeMap::from([("retention.ms".to_string(), "1234".to_string())]);
        s.alter_topic_configs("t", set, vec![], false, false)
            .await
            .unwrap();
        let part = s.partition("t", 3).unwrap();
        assert_eq!(part.log().config().retention_ms, 1234);
        assert!(Arc::ptr_eq(&s.image(), &s.controller_image()));
        drop(part);
        drop(s);

        let s = open(dir.path()).await;
        assert_eq!(hosted(&s, "t"), vec![0, 1, 2, 3]);
        assert_eq!(
            s.partition("t", 0).unwrap().log().config().retention_ms,
            1234
        );
        s.delete_topic("t").await.unwrap();
        assert!(hosted(&s, "t").is_empty());
        assert!(!dir.path().join("t-0").exists());
        assert!(s.image().topic("t").is_none());
    }
}
