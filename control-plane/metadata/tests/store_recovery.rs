//! The metadata store: durability, snapshots and recovery of damaged tails.
#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use strata_metadata::records::MetadataRecord;
use strata_metadata::{
    create_topic, register_broker, BrokerRegistrationRequest, CreateTopicSpec, MetadataError,
    MetadataImage, MetadataStore, StoreOptions,
};

fn topic_records(image: &MetadataImage, name: &str) -> Vec<MetadataRecord> {
    let spec = CreateTopicSpec {
        name: name.into(),
        num_partitions: 2,
        replication_factor: 1,
        ..Default::default()
    };
    create_topic(image, &spec, (1, 1), &[1]).unwrap().1
}

fn commit_topic(store: &mut MetadataStore, name: &str) {
    let records = topic_records(store.image(), name);
    store.commit(records).unwrap();
}

fn files_with(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    v.sort();
    v
}

fn only_log(dir: &Path) -> PathBuf {
    let logs = files_with(dir, ".log");
    assert_eq!(logs.len(), 1, "{logs:?}");
    logs[0].clone()
}

#[test]
fn commit_then_reopen_gives_the_same_image() {
    let dir = tempfile::tempdir().unwrap();
    let (cluster_id, image) = {
        let mut store = MetadataStore::open(dir.path(), 1).unwrap();
        let records = register_broker(
            store.image(),
            &BrokerRegistrationRequest::new(1, "localhost", 9092, None),
            false,
        )
        .unwrap();
        store.commit(records).unwrap();
        commit_topic(&mut store, "a");
        commit_topic(&mut store, "b");
        store.commit(Vec::new()).unwrap();
        assert_eq!(store.next_offset(), 7);
        (store.cluster_id().to_string(), store.image().clone())
    };
    assert_eq!(cluster_id.len(), 22);
    let store = MetadataStore::open(dir.path(), 1).unwrap();
    assert_eq!(store.cluster_id(), cluster_id);
    assert_eq!(store.image(), &image);
    assert_eq!(store.next_offset(), 7);
    assert_eq!(store.image().topics().count(), 2);
    assert_eq!(store.image().brokers().count(), 1);
}

#[test]
fn node_id_mismatch_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    drop(MetadataStore::open(dir.path(), 1).unwrap());
    match MetadataStore::open(dir.path(), 2) {
        Err(MetadataError::NodeIdMismatch {
            stored: 1,
            configured: 2,
        }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn invalid_record_leaves_image_and_log_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = MetadataStore::open(dir.path(), 1).unwrap();
    commit_topic(&mut store, "a");
    let image = store.image().clone();
    let len = fs::metadata(only_log(dir.path())).unwrap().len();
    // A valid record followed by one that collides with topic "a".
    let mut records = topic_records(&MetadataImage::default(), "b");
    records.extend(topic_records(&MetadataImage::default(), "a"));
    assert!(matches!(
        store.commit(records),
        Err(MetadataError::InvalidRecord(_))
    ));
    assert_eq!(store.image(), &image);
    assert_eq!(fs::metadata(only_log(dir.path())).unwrap().len(), len);
    drop(store);
    assert_eq!(MetadataStore::open(dir.path(), 1).unwrap().image(), &image);
}

#[test]
fn snapshot_then_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions { snapshot_every: 5 };
    let image = {
        let mut store = MetadataStore::open_with_options(dir.path(), 1, options).unwrap();
        for name in ["a", "b", "c", "d"] {
            commit_topic(&mut store, name); // 3 records each
        }
        let records = strata_metadata::delete_topic(store.image(), "b").unwrap();
        store.commit(records).unwrap();
        store.image().clone()
    };
    // Snapshots at 6 and 12, only the newest kept; logs before it removed.
    let snapshots = files_with(dir.path(), ".snapshot");
    assert_eq!(snapshots.len(), 1);
    assert!(snapshots[0].ends_with("00000000000000000012.snapshot"));
    let log = only_log(dir.path());
    assert!(log.ends_with("00000000000000000012.log"));
    assert!(files_with(dir.path(), ".tmp").is_empty());

    let mut store = MetadataStore::open_with_options(dir.path(), 1, options).unwrap();
    assert_eq!(store.image(), &image);
    assert_eq!(store.next_offset(), 13);
    assert!(store.image().topic("b").is_none());
    commit_topic(&mut store, "e");
    let image = store.image().clone();
    drop(store);
    assert_eq!(MetadataStore::open(dir.path(), 1).unwrap().image(), &image);
}

#[test]
fn snapshot_with_no_later_entries_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let image = {
        let mut store = MetadataStore::open(dir.path(), 1).unwrap();
        commit_topic(&mut store, "a");
        store.snapshot().unwrap();
        store.snapshot().unwrap();
        store.image().clone()
    };
    let store = MetadataStore::open(dir.path(), 1).unwrap();
    assert_eq!(store.image(), &image);
    assert_eq!(store.next_offset(), 3);
}

/// Three commits; returns the image after two, the log length after two, and
/// the log path.
fn three_commits(dir: &Path) -> (MetadataImage, u64, PathBuf) {
    let mut store = MetadataStore::open(dir, 1).unwrap();
    commit_topic(&mut store, "a");
    commit_topic(&mut store, "b");
    let image = store.image().clone();
    let len = fs::metadata(only_log(dir)).unwrap().len();
    commit_topic(&mut store, "c");
    (image, len, only_log(dir))
}

fn check_recovers_to(dir: &Path, image: &MetadataImage, len: u64) {
    let mut store = MetadataStore::open(dir, 1).unwrap();
    assert_eq!(store.image(), image);
    assert_eq!(store.next_offset(), 6);
    assert_eq!(fs::metadata(only_log(dir)).unwrap().len(), len);
    // The store keeps working after truncation.
    commit_topic(&mut store, "d");
    let after = store.image().clone();
    drop(store);
    assert_eq!(MetadataStore::open(dir, 1).unwrap().image(), &after);
}

#[test]
fn torn_tail_at_every_byte_of_the_last_frame_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let (_, good_len, log) = three_commits(dir.path());
    let full_len = fs::metadata(&log).unwrap().len();
    for cut in good_len..full_len {
        let dir = tempfile::tempdir().unwrap();
        let (image, len, log) = three_commits(dir.path());
        assert_eq!(len, good_len);
        let full = fs::read(&log).unwrap();
        assert_eq!(full.len() as u64, full_len);
        fs::write(&log, &full[..cut as usize]).unwrap();
        check_recovers_to(dir.path(), &image, len);
    }
}

#[test]
fn crc_corruption_in_the_last_frame_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let (_, good_len, log) = three_commits(dir.path());
    let full_len = fs::metadata(&log).unwrap().len();
    // Flip a byte in the CRC, in the first and in the last payload byte.
    for at in [good_len + 5, good_len + 8, full_len - 1] {
        let dir = tempfile::tempdir().unwrap();
        let (image, len, log) = three_commits(dir.path());
        let mut bytes = fs::read(&log).unwrap();
        bytes[at as usize] ^= 0x40;
        fs::write(&log, &bytes).unwrap();
        check_recovers_to(dir.path(), &image, len);
    }
}

#[test]
fn zero_filled_tail_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, log) = three_commits(dir.path());
    let mut bytes = fs::read(&log).unwrap();
    let len = bytes.len() as u64;
    bytes.extend_from_slice(&[0u8; 64]);
    fs::write(&log, &bytes).unwrap();
    let store = MetadataStore::open(dir.path(), 1).unwrap();
    assert_eq!(store.next_offset(), 9);
    assert_eq!(fs::metadata(&log).unwrap().len(), len);
}

#[test]
fn corruption_in_a_sealed_log_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = MetadataStore::open(dir.path(), 1).unwrap();
        commit_topic(&mut store, "a");
    }
    // A second log file after the first (as if a roll had failed to remove
    // it): the first is sealed and must not be silently truncated.
    let first = only_log(dir.path());
    fs::write(dir.path().join("00000000000000000003.log"), b"").unwrap();
    let mut bytes = fs::read(&first).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(&first, &bytes).unwrap();
    assert!(matches!(
        MetadataStore::open(dir.path(), 1),
        Err(MetadataError::Corrupt { .. })
    ));
}

#[test]
fn configs_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let image = {
        let mut store = MetadataStore::open(dir.path(), 1).unwrap();
        commit_topic(&mut store, "a");
        let set = BTreeMap::from([("retention.ms".to_string(), "1000".to_string())]);
        let records =
            strata_metadata::alter_topic_configs(store.image(), "a", set, Vec::new(), false)
                .unwrap();
        store.commit(records).unwrap();
        store.image().clone()
    };
    let store = MetadataStore::open(dir.path(), 1).unwrap();
    assert_eq!(store.image(), &image);
    assert_eq!(
        store
            .image()
            .topic("a")
            .unwrap()
            .configs
            .get("retention.ms"),
        Some(&"1000".to_string())
    );
}
