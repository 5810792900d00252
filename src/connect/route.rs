//! `--resolve HOST:PORT:ADDR[,ADDR…]` and `--connect-to HOST:PORT:HOST2:PORT2`,
//! with curl's meaning: they change where the TCP connection goes, and nothing
//! else. The Host header, TLS SNI and certificate verification keep the URL's
//! name, so a staging address can be reached as the production name. `-4`/`-6`
//! keep only one address family of whatever the name resolved to.

use std::net::{IpAddr, SocketAddr};

/// `--resolve`: these addresses for `host:port`, instead of asking DNS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolve {
    host: String,
    port: u16,
    addrs: Vec<IpAddr>,
}

/// `--connect-to`: connections to `host:port` go to `to_host:to_port` (an empty
/// field on the left matches any, on the right keeps the URL's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectTo {
    host: Option<String>,
    port: Option<u16>,
    to_host: Option<String>,
    to_port: Option<u16>,
}

/// `-4`/`-6`: the address family to connect with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Family {
    #[default]
    Any,
    V4,
    V6,
}

/// Every `--resolve` and `--connect-to` given (the first that matches applies),
/// and the address family.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    pub resolve: Vec<Resolve>,
    pub connect_to: Vec<ConnectTo>,
    pub family: Family,
}

impl Routes {
    /// The addresses of the family asked for; an error names the host and the flag
    /// when none is left.
    pub fn keep_family(
        &self,
        addrs: Vec<SocketAddr>,
        host: &str,
    ) -> Result<Vec<SocketAddr>, String> {
        let (wanted, flag, name) = match self.family {
            Family::Any => return Ok(addrs),
            Family::V4 => (true, "-4", "IPv4"),
            Family::V6 => (false, "-6", "IPv6"),
        };
        let kept: Vec<SocketAddr> = addrs
            .into_iter()
            .filter(|a| a.is_ipv4() == wanted)
            .collect();
        if kept.is_empty() {
            return Err(format!("'{host}' has no {name} address ({flag})"));
        }
        Ok(kept)
    }

    /// Where a connection to the URL's `host:port` goes (curl applies
    /// `--connect-to` first, then `--resolve` to its result).
    pub fn destination(&self, host: &str, port: u16) -> (String, u16) {
        let rule = self.connect_to.iter().find(|r| {
            r.host
                .as_deref()
                .is_none_or(|h| h.eq_ignore_ascii_case(host))
                && r.port.is_none_or(|p| p == port)
        });
        match rule {
            Some(r) => (
                r.to_host.clone().unwrap_or_else(|| host.to_string()),
                r.to_port.unwrap_or(port),
            ),
            None => (host.to_string(), port),
        }
    }

    /// The addresses `--resolve` gives for `host:port`, if it names them.
    pub fn addresses(&self, host: &str, port: u16) -> Option<Vec<SocketAddr>> {
        self.resolve
            .iter()
            .find(|r| r.port == port && r.host.eq_ignore_ascii_case(host))
            .map(|r| {
                r.addrs
                    .iter()
                    .map(|&ip| SocketAddr::new(ip, port))
                    .collect()
            })
    }
}

/// `HOST` or `[V6]` up to the next `:`; returns it (brackets removed) and the rest
/// after the colon.
fn host_field(s: &str) -> Result<(&str, &str), String> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, rest) = rest
            .split_once(']')
            .ok_or_else(|| format!("'[{rest}' has no closing ']'"))?;
        let rest = rest
            .strip_prefix(':')
            .ok_or_else(|| format!("':' expected after '[{host}]'"))?;
        return Ok((host, rest));
    }
    s.split_once(':')
        .ok_or_else(|| "too few ':'-separated fields".to_string())
}

fn port_field(s: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("'{s}' is not a port (1 to 65535)")),
    }
}

fn ip_field(s: &str) -> Result<IpAddr, String> {
    let bare = s
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(s);
    bare.parse()
        .map_err(|_| format!("'{s}' is not an IP address (names are not resolved here)"))
}

/// `HOST:PORT:ADDR[,ADDR…]`.
pub fn parse_resolve(s: &str) -> Result<Resolve, String> {
    let (host, rest) = host_field(s)?;
    let (port, addrs) = rest
        .split_once(':')
        .ok_or_else(|| "expected HOST:PORT:ADDR[,ADDR...]".to_string())?;
    if host.is_empty() {
        return Err("the host is empty (expected HOST:PORT:ADDR[,ADDR...])".into());
    }
    let addrs = addrs
        .split(',')
        .map(|a| ip_field(a.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Resolve {
        host: host.to_string(),
        port: port_field(port)?,
        addrs,
    })
}

/// `HOST:PORT:HOST2:PORT2`, each field may be empty.
pub fn parse_connect_to(s: &str) -> Result<ConnectTo, String> {
    const FORM: &str = "expected HOST:PORT:HOST2:PORT2 (fields may be empty)";
    let (host, rest) = host_field(s).map_err(|e| format!("{e}; {FORM}"))?;
    let (port, rest) = rest.split_once(':').ok_or(FORM)?;
    let (to_host, to_port) = host_field(rest).map_err(|e| format!("{e}; {FORM}"))?;
    if to_port.contains(':') {
        return Err(FORM.into());
    }
    let optional_port = |p: &str| (!p.is_empty()).then(|| port_field(p)).transpose();
    let optional_host = |h: &str| (!h.is_empty()).then(|| h.to_string());
    Ok(ConnectTo {
        host: optional_host(host),
        port: optional_port(port)?,
        to_host: optional_host(to_host),
        to_port: optional_port(to_port)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_takes_v4_and_v6_addresses() {
        let r = parse_resolve("example.com:443:127.0.0.1,[::1],::2").unwrap();
        let routes = Routes {
            resolve: vec![r],
            ..Routes::default()
        };
        let addrs = routes.addresses("EXAMPLE.com", 443).unwrap();
        let shown: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
        assert_eq!(shown, ["127.0.0.1:443", "[::1]:443", "[::2]:443"]);
        assert_eq!(routes.addresses("example.com", 80), None);
        assert!(parse_resolve("[::1]:443:127.0.0.1").is_ok());
    }

    #[test]
    fn family_keeps_one_kind_of_address() {
        let addrs: Vec<SocketAddr> =
            vec!["127.0.0.1:1".parse().unwrap(), "[::1]:1".parse().unwrap()];
        let routes = |family| Routes {
            family,
            ..Routes::default()
        };
        assert_eq!(
            routes(Family::Any)
                .keep_family(addrs.clone(), "h")
                .unwrap()
                .len(),
            2
        );
        assert!(routes(Family::V4).keep_family(addrs.clone(), "h").unwrap()[0].is_ipv4());
        assert!(routes(Family::V6).keep_family(addrs.clone(), "h").unwrap()[0].is_ipv6());
        let only_v4 = vec![addrs[0]];
        assert_eq!(
            routes(Family::V6).keep_family(only_v4, "h").unwrap_err(),
            "'h' has no IPv6 address (-6)"
        );
    }

    #[test]
    fn resolve_errors_say_what_is_wrong() {
        assert!(parse_resolve("example.com:443")
            .unwrap_err()
            .contains("HOST:PORT:ADDR"));
        assert!(parse_resolve("example.com:0:127.0.0.1")
            .unwrap_err()
            .contains("port"));
        assert!(parse_resolve("example.com:443:localhost")
            .unwrap_err()
            .contains("not an IP address"));
        assert!(parse_resolve(":443:127.0.0.1")
            .unwrap_err()
            .contains("empty"));
    }

    #[test]
    fn connect_to_rewrites_the_destination_with_curls_empty_fields() {
        let routes = Routes {
            connect_to: vec![
                parse_connect_to("api.example.com:443:staging.internal:8443").unwrap(),
                parse_connect_to("::[::1]:").unwrap(),
            ],
            ..Routes::default()
        };
        assert_eq!(
            routes.destination("API.example.com", 443),
            ("staging.internal".to_string(), 8443)
        );
        // The catch-all keeps the port and changes the host.
        assert_eq!(routes.destination("other", 80), ("::1".to_string(), 80));
        assert!(parse_connect_to("a:1:b")
            .unwrap_err()
            .contains("HOST2:PORT2"));
        assert!(parse_connect_to("a:1:b:2:3").is_err());
        assert!(parse_connect_to("a:x:b:2").unwrap_err().contains("port"));
    }
}
