//! What a connection reaches: a compute instance, or one node of a training job. Both end in an endpoint the
//! proxy caches and relays to; how that endpoint is found differs (`resolve` for instances, `job` for jobs).

use std::fmt;
use std::str::FromStr;

use crate::azure::job::JobNode;
use crate::azure::resource_id::ComputeId;
use crate::transport::tunnel::GatewayService;

/// A compute instance or a job node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A compute instance, by resource ID.
    Instance(ComputeId),
    /// A node of a training job.
    JobNode(JobNode),
}

/// Text that names neither a compute nor a job node.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidTarget(String);

impl Target {
    /// Its name in messages: the instance's, or `myjob` (`myjob node 1` past the first node).
    pub fn name(&self) -> String {
        match self {
            Target::Instance(id) => id.compute.clone(),
            Target::JobNode(JobNode { job, node: 0 }) => job.name.clone(),
            Target::JobNode(JobNode { job, node }) => format!("{} node {node}", job.name),
        }
    }

    /// What its gateway fronts.
    pub fn service(&self) -> GatewayService {
        match self {
            Target::Instance(_) => GatewayService::Instance,
            Target::JobNode(_) => GatewayService::JobNode,
        }
    }
}

/// A key equal for targets ARM treats as equal: what the endpoint cache files and locks are named by.
pub(crate) trait CacheKey {
    fn cache_key(&self) -> String;

    /// [`Self::cache_key`] as a file-name-safe SHA-256 hex digest.
    fn key_hash(&self) -> String {
        crate::util::state::hashed(&self.cache_key())
    }
}

impl CacheKey for ComputeId {
    fn cache_key(&self) -> String {
        ComputeId::cache_key(self)
    }
}

impl CacheKey for Target {
    fn cache_key(&self) -> String {
        match self {
            Target::Instance(id) => id.cache_key(),
            Target::JobNode(node) => node.cache_key(),
        }
    }
}

/// The compute's resource ID, or the job node's `…/jobs/NAME/nodes/N`.
impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Instance(id) => id.fmt(f),
            Target::JobNode(node) => node.fmt(f),
        }
    }
}

impl FromStr for Target {
    type Err = InvalidTarget;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.parse::<ComputeId>() {
            Ok(id) => Ok(Target::Instance(id)),
            Err(e) if !text.contains("/jobs/") => Err(InvalidTarget(e.to_string())),
            Err(_) => text.parse().map(Target::JobNode).map_err(|e| InvalidTarget(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_round_trip_through_text() {
        let ws = "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws1";
        for text in [format!("{ws}/computes/ci1"), format!("{ws}/jobs/Train_1/nodes/2")] {
            let target: Target = text.parse().unwrap();
            assert_eq!(target.to_string(), text);
        }
        let node: Target = format!("{ws}/jobs/train/nodes/1").parse().unwrap();
        assert_eq!(node.name(), "train node 1");
        assert!(format!("{ws}/jobs/train").parse::<Target>().is_err(), "a job without its node");
        assert!(format!("{ws}/jobs/a b/nodes/1").parse::<Target>().is_err());
    }
}
