//! Name resolution without a thread per request.
//!
//! ureq's default resolver runs `getaddrinfo` on a new thread for every request that has a
//! timeout (all of ours do), even when the request then reuses a pooled connection, and even
//! for an IP address. This resolver answers an IP address directly and remembers each host's
//! addresses for the life of the agent, i.e. of one `alert`, `flush` or plugin run (seconds to
//! a minute), so a `flush` of thousands of events resolves each host once. The one lookup that
//! remains goes through ureq's resolver, bounded by the request's timeout as before. Failures
//! are not remembered: the next request tries again.

use std::net::SocketAddr;
use std::sync::Mutex;

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// Resolves IP addresses in place and each host name once per agent.
#[derive(Debug, Default)]
pub(super) struct OncePerHost {
    lookup: DefaultResolver,
    /// `host:port` and its addresses; a handful of hosts at most (ilert, one chat platform).
    known: Mutex<Vec<(String, ResolvedSocketAddrs)>>,
}

impl Resolver for OncePerHost {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) else {
            // Not a full URL: ureq's resolver reports it as such.
            return self.lookup.resolve(uri, config, timeout);
        };
        let Some(host_port) = DefaultResolver::host_and_port(scheme, authority) else {
            return self.lookup.resolve(uri, config, timeout);
        };
        if let Ok(addr) = host_port.parse::<SocketAddr>() {
            let mut addrs = self.empty();
            addrs.push(addr);
            return Ok(addrs);
        }
        if let Some(addrs) = self.remembered(&host_port) {
            return Ok(addrs);
        }
        let addrs = self.lookup.resolve(uri, config, timeout)?;
        if let Ok(mut known) = self.known.lock() {
            known.push((host_port, addrs.clone()));
        }
        Ok(addrs)
    }
}

impl OncePerHost {
    fn remembered(&self, host_port: &str) -> Option<ResolvedSocketAddrs> {
        let known = self.known.lock().ok()?;
        known
            .iter()
            .find(|(k, _)| k == host_port)
            .map(|(_, addrs)| addrs.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn resolve(r: &OncePerHost, url: &str) -> Result<Vec<SocketAddr>, ureq::Error> {
        let uri: Uri = url.parse().unwrap();
        let config = ureq::Agent::config_builder().build();
        let timeout = NextTimeout {
            after: ureq::unversioned::transport::time::Duration::from(Duration::from_secs(2)),
            reason: ureq::Timeout::Resolve,
            ..NextTimeout::default()
        };
        r.resolve(&uri, &config, timeout)
            .map(|a| a.iter().copied().collect())
    }

    #[test]
    fn ip_addresses_are_answered_without_a_lookup() {
        let r = OncePerHost::default();
        assert_eq!(
            resolve(&r, "http://127.0.0.1:8080/v1/events").unwrap(),
            ["127.0.0.1:8080".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(
            resolve(&r, "https://[::1]/x").unwrap(),
            ["[::1]:443".parse::<SocketAddr>().unwrap()]
        );
        assert!(r.known.lock().unwrap().is_empty(), "nothing to remember");
    }

    #[test]
    fn a_host_name_is_looked_up_once_and_remembered() {
        let r = OncePerHost::default();
        let first = resolve(&r, "http://localhost:9/a").unwrap();
        assert!(!first.is_empty());
        assert_eq!(r.known.lock().unwrap().len(), 1);
        assert_eq!(resolve(&r, "http://localhost:9/b").unwrap(), first);
        assert_eq!(
            r.known.lock().unwrap().len(),
            1,
            "second request: no lookup"
        );
    }

    #[test]
    fn a_failed_lookup_is_not_remembered() {
        let r = OncePerHost::default();
        assert!(resolve(&r, "http://no-such-host.invalid/").is_err());
        assert!(r.known.lock().unwrap().is_empty());
    }
}
