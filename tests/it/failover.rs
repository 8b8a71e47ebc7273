//! Losing the database server: a Patroni cluster (`deploy/ha/`) whose primary is killed or
//! switched over under load, with two app instances on the multi-host URL.

use std::time::Duration;

use crate::patroni::Cluster;

#[test]
fn a_patroni_cluster_comes_up_with_a_synchronous_standby() {
    let cluster = Cluster::start();
    cluster.wait_replicated();
    let members = cluster.members();
    eprintln!("{members:?}");
    assert!(members.iter().any(|m| m.role == "sync_standby"), "{}", cluster.logs());
    let _ = Duration::from_secs(1);
}
