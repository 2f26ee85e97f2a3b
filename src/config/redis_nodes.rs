//! Reads `state.redis` as one node or a Redis Cluster: `redis+cluster://[auth@]h1:p1,h2:p2`
//! (or `rediss+cluster://`), or several node URLs separated by commas (a YAML list).

/// Where shared state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Nodes {
    /// One Redis (possibly behind a proxy or Sentinel-managed address).
    Single(String),
    /// Seed nodes of a Redis Cluster; the rest of the topology is discovered from them.
    Cluster(Vec<String>),
}

/// The nodes `url` names, or what is wrong with it (never echoing the URL: it may hold a
/// password).
pub(crate) fn parse(url: &str) -> Result<Nodes, String> {
    let nodes = if let Some((scheme, rest)) = url.split_once("+cluster://") {
        expand(scheme, rest)?
    } else if url.contains(',') {
        url.split(',').map(|u| u.trim().to_owned()).collect()
    } else {
        let single = url.to_owned();
        check(&single)?;
        return Ok(Nodes::Single(single));
    };
    if nodes.is_empty() {
        return Err("names no cluster node".into());
    }
    for n in &nodes {
        check(n)?;
    }
    Ok(Nodes::Cluster(nodes))
}

/// `scheme`, `[auth@]h1:p1,h2:p2[/db][#frag]` as one URL per host.
fn expand(scheme: &str, rest: &str) -> Result<Vec<String>, String> {
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (auth, hosts) = match authority.rsplit_once('@') {
        Some((auth, hosts)) => (format!("{auth}@"), hosts),
        None => (String::new(), authority),
    };
    if !matches!(scheme, "redis" | "rediss") {
        return Err("a cluster URL must start with redis+cluster:// or rediss+cluster://".into());
    }
    Ok(hosts
        .split(',')
        .filter(|h| !h.is_empty())
        .map(|h| format!("{scheme}://{auth}{h}{tail}"))
        .collect())
}

fn check(url: &str) -> Result<(), String> {
    if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
        return Err("must be a redis:// or rediss:// URL (or a cluster: redis+cluster://h1:p1,h2:p2, or a list of node URLs)".into());
    }
    redis::Client::open(url)
        .map(drop)
        .map_err(|e| format!("is not a usable Redis URL ({:?})", e.kind()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_single_nodes_cluster_urls_and_lists() {
        assert_eq!(
            parse("redis://127.0.0.1:6379/0"),
            Ok(Nodes::Single("redis://127.0.0.1:6379/0".into()))
        );
        assert_eq!(
            parse("redis+cluster://:pw@a:7000,b:7001/0"),
            Ok(Nodes::Cluster(vec![
                "redis://:pw@a:7000/0".into(),
                "redis://:pw@b:7001/0".into()
            ]))
        );
        assert_eq!(
            parse("rediss+cluster://a:7000"),
            Ok(Nodes::Cluster(vec!["rediss://a:7000".into()]))
        );
        assert_eq!(
            parse("redis://a:7000, redis://b:7001"),
            Ok(Nodes::Cluster(vec![
                "redis://a:7000".into(),
                "redis://b:7001".into()
            ]))
        );
    }

    #[test]
    fn bad_urls_are_named_without_the_password() {
        for bad in [
            "http://a:1",
            "redis://a:1,http://b:2",
            "redis+cluster://",
            "http+cluster://a:1",
        ] {
            let e = parse(bad).expect_err(bad);
            assert!(!e.contains("a:1"), "{e}");
        }
    }
}
