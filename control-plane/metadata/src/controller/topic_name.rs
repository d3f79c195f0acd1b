//! Kafka's topic name rules.

use super::error::ControllerError;
use crate::image::MetadataImage;

/// Longest legal topic name (Kafka's `Topic.MAX_NAME_LENGTH`).
pub const MAX_TOPIC_NAME_LENGTH: usize = 249;

/// Checks a topic name with Kafka's rules and messages: non-empty, not "."
/// or "..", at most 249 chars, only ASCII alphanumerics, '.', '_' and '-'.
pub fn validate_topic_name(name: &str) -> Result<(), ControllerError> {
    let invalid = |m: String| Err(ControllerError::InvalidTopic(m));
    if name.is_empty() {
        return invalid("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return invalid("Topic name cannot be \".\" or \"..\"".into());
    }
    if name.len() > MAX_TOPIC_NAME_LENGTH {
        return invalid(format!(
            "Topic name is illegal, it can't be longer than {MAX_TOPIC_NAME_LENGTH} characters, topic name: {name}"
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return invalid(format!(
            "Topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// Rejects a new topic whose name equals an existing one after '.' → '_'
/// (the two would share metric names in Kafka).
pub(super) fn check_collision(image: &MetadataImage, name: &str) -> Result<(), ControllerError> {
    let unified = unify(name);
    match image
        .topics()
        .find(|t| t.name != name && unify(&t.name) == unified)
    {
        Some(existing) => Err(ControllerError::InvalidTopic(format!(
            "Topic '{name}' collides with existing topic: {}",
            existing.name
        ))),
        None => Ok(()),
    }
}

fn unify(name: &str) -> String {
    name.replace('.', "_")
}
