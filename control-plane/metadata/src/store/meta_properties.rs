//! `meta.properties`: the cluster id and node id a metadata directory belongs to.

use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use uuid::Uuid;

use super::files::write_atomically;
use crate::error::MetadataError;

/// File name inside the metadata directory.
pub(crate) const FILE_NAME: &str = "meta.properties";

/// Contents of `meta.properties`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaProperties {
    pub cluster_id: String,
    pub node_id: i32,
}

/// Reads `dir/meta.properties`, or creates it with a new random cluster id.
/// A stored `node.id` other than `node_id` is an error.
pub(crate) fn load_or_create(dir: &Path, node_id: i32) -> Result<MetaProperties, MetadataError> {
    load_or_format(dir, node_id, None)
}

/// [`load_or_create`] for a node of a cluster: a new directory is formatted with
/// `cluster_id` (Kafka's `kafka-storage.sh format -t`), and a directory formatted for
/// another cluster is refused, so nodes of different clusters never mix.
pub fn load_or_format(
    dir: &Path,
    node_id: i32,
    cluster_id: Option<&str>,
) -> Result<MetaProperties, MetadataError> {
    let path = dir.join(FILE_NAME);
    match fs::read_to_string(&path) {
        Ok(text) => {
            let props = parse(&text).map_err(|reason| MetadataError::InvalidMetaProperties {
                path: path.clone(),
                reason,
            })?;
            if props.node_id != node_id {
                return Err(MetadataError::NodeIdMismatch {
                    stored: props.node_id,
                    configured: node_id,
                });
            }
            if let Some(wanted) = cluster_id.filter(|w| *w != props.cluster_id) {
                return Err(MetadataError::ClusterIdMismatch {
                    stored: props.cluster_id,
                    configured: wanted.to_string(),
                });
            }
            Ok(props)
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(|e| MetadataError::io(dir, e))?;
            let props = MetaProperties {
                cluster_id: cluster_id
                    .map(str::to_string)
                    .unwrap_or_else(random_cluster_id),
                node_id,
            };
            write_atomically(dir, FILE_NAME, render(&props).as_bytes())?;
            Ok(props)
        }
        Err(e) => Err(MetadataError::io(path, e)),
    }
}

fn render(props: &MetaProperties) -> String {
    format!(
        "#\n#Written by strata\nversion=1\ncluster.id={}\nnode.id={}\n",
        props.cluster_id, props.node_id
    )
}

fn parse(text: &str) -> Result<MetaProperties, String> {
    let mut kv = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| format!("line without '=': {line:?}"))?;
        kv.insert(k.trim(), v.trim());
    }
    if let Some(v) = kv.get("version") {
        if *v != "0" && *v != "1" {
            return Err(format!("unsupported version {v}"));
        }
    }
    let cluster_id = kv
        .get("cluster.id")
        .filter(|v| !v.is_empty())
        .ok_or("missing cluster.id")?
        .to_string();
    let node_id = kv
        .get("node.id")
        .ok_or("missing node.id")?
        .parse::<i32>()
        .map_err(|e| format!("bad node.id: {e}"))?;
    Ok(MetaProperties {
        cluster_id,
        node_id,
    })
}

/// A random cluster id like Kafka's `Uuid.randomUuid().toString()`: 16
/// random bytes in unpadded base64url (22 chars), never the zero UUID and
/// never starting with '-' (which command lines take for an option).
pub fn random_cluster_id() -> String {
    loop {
        let id = Uuid::new_v4();
        if id.is_nil() {
            continue;
        }
        let text = base64url(id.as_bytes());
        if !text.starts_with('-') {
            return text;
        }
    }
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            let idx = (n >> (18 - 6 * i)) & 0x3f;
            out.push(char::from(ALPHABET[idx as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_known_values() {
        assert_eq!(base64url(b""), "");
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn cluster_id_shape() {
        for _ in 0..100 {
            let id = random_cluster_id();
            assert_eq!(id.len(), 22);
            assert!(!id.starts_with('-'));
            assert!(id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        }
    }

    #[test]
    fn parse_round_trip_and_errors() {
        let p = MetaProperties {
            cluster_id: "abc".into(),
            node_id: 3,
        };
        assert_eq!(parse(&render(&p)).unwrap(), p);
        assert!(parse("node.id=1\n").is_err());
        assert!(parse("cluster.id=x\nnode.id=z\n").is_err());
        assert!(parse("cluster.id=x\nnode.id=1\nversion=7\n").is_err());
    }
}
