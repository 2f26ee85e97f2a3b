//! Reads `state.redis` as one node, a Redis Cluster (`redis+cluster://[auth@]h1:p1,h2:p2`, or
//! `rediss+cluster://`, or several node URLs separated by commas: a YAML list), or a master
//! found through Redis Sentinel (`redis+sentinel://[auth@]s1:p1,s2:p2/mastername[/db]`).

/// Where shared state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Nodes {
    /// One Redis (possibly behind a proxy or Sentinel-managed address).
    Single(String),
    /// Seed nodes of a Redis Cluster; the rest of the topology is discovered from them.
    Cluster(Vec<String>),
    /// A master watched by Sentinels: its address is asked of them at connect and after a
    /// failure (`SENTINEL get-master-addr-by-name`).
    Sentinel {
        /// `redis://host:port` of each Sentinel.
        sentinels: Vec<String>,
        /// The name the Sentinels monitor the master under.
        master: String,
        /// `redis://[auth@]host/db`: the password and database for the master (the host is
        /// a placeholder; the Sentinels say where the master is).
        node: String,
    },
}

/// The nodes `url` names, or what is wrong with it (never echoing the URL: it may hold a
/// password).
pub(crate) fn parse(url: &str) -> Result<Nodes, String> {
    if let Some(rest) = url.strip_prefix("redis+sentinel://") {
        return sentinel(rest);
    }
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

/// `[auth@]s1:p1,s2:p2/mastername[/db]` as the Sentinels' URLs, the master's name and the
/// master's connection settings.
fn sentinel(rest: &str) -> Result<Nodes, String> {
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (auth, hosts) = match authority.rsplit_once('@') {
        Some((auth, hosts)) => (format!("{auth}@"), hosts),
        None => (String::new(), authority),
    };
    let sentinels: Vec<String> = hosts
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| format!("redis://{h}"))
        .collect();
    if sentinels.is_empty() {
        return Err("names no Sentinel (redis+sentinel://host:port,host:port/mastername)".into());
    }
    let mut parts = path.split('/');
    let master = parts.next().unwrap_or_default().trim();
    if master.is_empty() {
        return Err("names no master (redis+sentinel://host:port,host:port/mastername)".into());
    }
    let db = parts.next().filter(|d| !d.is_empty()).unwrap_or("0");
    if db.parse::<u32>().is_err() || parts.next().is_some() {
        return Err("must end in /mastername or /mastername/db (a number)".into());
    }
    for s in &sentinels {
        check(s)?;
    }
    let node = format!("redis://{auth}127.0.0.1/{db}");
    check(&node)?;
    Ok(Nodes::Sentinel {
        sentinels,
        master: master.to_owned(),
        node,
    })
}

fn check(url: &str) -> Result<(), String> {
    if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
        return Err("must be a redis:// or rediss:// URL (or a cluster: redis+cluster://h1:p1,h2:p2, or a list of node URLs; or Sentinels: redis+sentinel://h1:p1,h2:p2/mastername)".into());
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
    fn reads_sentinel_urls() {
        assert_eq!(
            parse("redis+sentinel://:pw@a:26379,b:26380/main/2"),
            Ok(Nodes::Sentinel {
                sentinels: vec!["redis://a:26379".into(), "redis://b:26380".into()],
                master: "main".into(),
                node: "redis://:pw@127.0.0.1/2".into(),
            })
        );
        assert_eq!(
            parse("redis+sentinel://a:26379/main"),
            Ok(Nodes::Sentinel {
                sentinels: vec!["redis://a:26379".into()],
                master: "main".into(),
                node: "redis://127.0.0.1/0".into(),
            })
        );
        for bad in [
            "redis+sentinel://a:1",
            "redis+sentinel:///main",
            "redis+sentinel://a:1/main/x",
            "redis+sentinel://a:1/main/0/more",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
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
