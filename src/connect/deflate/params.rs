//! permessage-deflate's negotiation (RFC 7692 §7): parsing and formatting the
//! four extension parameters, the client's check of a server's response, and the
//! server's choice from a client's offer. Pure functions on text; the codec gets
//! the outcome as an [`Agreed`].

use std::fmt;

/// The extension's name in Sec-WebSocket-Extensions.
pub const NAME: &str = "permessage-deflate";

/// The smallest and largest LZ77 window, as a base-2 logarithm (§7.1.2).
const MIN_BITS: u8 = 8;
pub const MAX_BITS: u8 = 15;

/// The parameters of one offer or response, as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    pub server_no_context_takeover: bool,
    pub client_no_context_takeover: bool,
    pub server_max_window_bits: Option<u8>,
    /// `Some(None)`: the parameter without a value (only in an offer: "the
    /// client can use any window the server names").
    pub client_max_window_bits: Option<Option<u8>>,
}

/// What both ends use once the handshake is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agreed {
    /// The server resets its compressor after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after each message.
    pub client_no_context_takeover: bool,
    /// The server compresses with at most this window.
    pub server_max_window_bits: u8,
    /// The client compresses with at most this window.
    pub client_max_window_bits: u8,
}

impl Params {
    /// Parse `param; param=value; …` (the part after the extension's name).
    /// `offer`: the value of client_max_window_bits may be left out.
    pub fn parse(text: &str, offer: bool) -> Result<Params, String> {
        let mut params = Params::default();
        for item in text.split(';').map(str::trim) {
            if item.is_empty() {
                continue;
            }
            let (name, value) = match item.split_once('=') {
                Some((n, v)) => (n.trim(), Some(unquote(v.trim()))),
                None => (item, None),
            };
            let duplicate = || format!("the parameter '{name}' appears twice");
            match name.to_ascii_lowercase().as_str() {
                "server_no_context_takeover" | "client_no_context_takeover" => {
                    if value.is_some() {
                        return Err(format!("the parameter '{name}' takes no value"));
                    }
                    let flag = if name.eq_ignore_ascii_case("server_no_context_takeover") {
                        &mut params.server_no_context_takeover
                    } else {
                        &mut params.client_no_context_takeover
                    };
                    if *flag {
                        return Err(duplicate());
                    }
                    *flag = true;
                }
                "server_max_window_bits" => {
                    if params.server_max_window_bits.is_some() {
                        return Err(duplicate());
                    }
                    let value = value.ok_or_else(|| format!("the parameter '{name}' needs a value (8 to 15)"))?;
                    params.server_max_window_bits = Some(window_bits(name, &value)?);
                }
                "client_max_window_bits" => {
                    if params.client_max_window_bits.is_some() {
                        return Err(duplicate());
                    }
                    params.client_max_window_bits = Some(match value {
                        Some(value) => Some(window_bits(name, &value)?),
                        None if offer => None,
                        None => {
                            return Err(format!(
                                "the parameter '{name}' needs a value (8 to 15) in a response"
                            ))
                        }
                    });
                }
                _ => {
                    return Err(format!(
                        "unknown parameter '{}' (known: server_no_context_takeover, client_no_context_takeover, server_max_window_bits, client_max_window_bits)",
                        crate::text::escape(name)
                    ))
                }
            }
        }
        Ok(params)
    }

    /// What the client may accept in a response to the offer `self` (§7.1: a
    /// window larger than offered, or a client window when none was offered,
    /// fails the connection).
    pub fn accept(&self, response: &Params) -> Result<Agreed, String> {
        if let (Some(offered), Some(answered)) =
            (self.server_max_window_bits, response.server_max_window_bits)
        {
            if answered > offered {
                return Err(format!(
                    "server_max_window_bits={answered} is larger than the {offered} offered"
                ));
            }
        }
        if self.server_max_window_bits.is_some() && response.server_max_window_bits.is_none() {
            // §7.1.2.1: a server that accepts an offer with server_max_window_bits
            // must answer with it.
            return Err("it leaves out the server_max_window_bits that was offered".into());
        }
        if self.server_no_context_takeover && !response.server_no_context_takeover {
            return Err("it leaves out the server_no_context_takeover that was offered".into());
        }
        let client_bits = match (self.client_max_window_bits, response.client_max_window_bits) {
            (None, Some(_)) => {
                return Err(
                    "it sets client_max_window_bits, which the offer did not include".into(),
                )
            }
            (Some(Some(offered)), Some(Some(answered))) if answered > offered => {
                return Err(format!(
                    "client_max_window_bits={answered} is larger than the {offered} offered"
                ))
            }
            (_, Some(Some(answered))) => answered,
            (Some(Some(offered)), _) => offered,
            _ => MAX_BITS,
        };
        Ok(Agreed {
            server_no_context_takeover: response.server_no_context_takeover,
            client_no_context_takeover: response.client_no_context_takeover
                || self.client_no_context_takeover,
            server_max_window_bits: response.server_max_window_bits.unwrap_or(MAX_BITS),
            client_max_window_bits: client_bits,
        })
    }

    /// The server's answer to the client's offer `offer`, given the server's own
    /// wishes `self` (from `--listen --deflate=PARAMS`): what the offer asks for
    /// is granted, what the server wishes is added where the RFC allows it.
    pub fn respond_to(&self, offer: &Params) -> (Params, Agreed) {
        let server_bits = match (offer.server_max_window_bits, self.server_max_window_bits) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // The client's window may be limited only when the offer allows it.
        let client_bits = match (offer.client_max_window_bits, self.client_max_window_bits) {
            (Some(offered), Some(Some(wished))) => {
                Some(Some(offered.map_or(wished, |o| o.min(wished))))
            }
            (Some(Some(offered)), _) => Some(Some(offered)),
            _ => None,
        };
        let response = Params {
            server_no_context_takeover: offer.server_no_context_takeover
                || self.server_no_context_takeover,
            client_no_context_takeover: offer.client_no_context_takeover
                || self.client_no_context_takeover,
            server_max_window_bits: server_bits,
            client_max_window_bits: client_bits,
        };
        let agreed = Agreed {
            server_no_context_takeover: response.server_no_context_takeover,
            client_no_context_takeover: response.client_no_context_takeover,
            server_max_window_bits: server_bits.unwrap_or(MAX_BITS),
            client_max_window_bits: client_bits.flatten().unwrap_or(MAX_BITS),
        };
        (response, agreed)
    }
}

/// `permessage-deflate; param; …` as it goes in the header.
impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(NAME)?;
        if self.server_no_context_takeover {
            f.write_str("; server_no_context_takeover")?;
        }
        if self.client_no_context_takeover {
            f.write_str("; client_no_context_takeover")?;
        }
        if let Some(bits) = self.server_max_window_bits {
            write!(f, "; server_max_window_bits={bits}")?;
        }
        match self.client_max_window_bits {
            Some(Some(bits)) => write!(f, "; client_max_window_bits={bits}")?,
            Some(None) => f.write_str("; client_max_window_bits")?,
            None => {}
        }
        Ok(())
    }
}

/// What was agreed, for `-v` and `/info`.
impl fmt::Display for Agreed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let takeover = |no: bool| {
            if no {
                "reset per message"
            } else {
                "context kept"
            }
        };
        write!(
            f,
            "server window 2^{} ({}), client window 2^{} ({})",
            self.server_max_window_bits,
            takeover(self.server_no_context_takeover),
            self.client_max_window_bits,
            takeover(self.client_no_context_takeover),
        )
    }
}

/// A window-bits value: a decimal 8 to 15 without leading zeros (§7.1.2.1).
fn window_bits(name: &str, value: &str) -> Result<u8, String> {
    let bad = || {
        format!(
            "the parameter '{name}' must be 8 to 15, got '{}'",
            crate::text::escape(value)
        )
    };
    if value.starts_with('0') || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match value.parse::<u8>() {
        Ok(bits) if (MIN_BITS..=MAX_BITS).contains(&bits) => Ok(bits),
        _ => Err(bad()),
    }
}

/// A quoted-string value without its quotes and escapes (§7.1: either form).
fn unquote(value: &str) -> String {
    match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => out.extend(chars.next()),
                    c => out.push(c),
                }
            }
            out
        }
        None => value.to_string(),
    }
}

/// The extensions of a Sec-WebSocket-Extensions value: `(name, parameters)` per
/// comma-separated item (commas inside quoted strings do not split).
pub fn extensions(header: &str) -> Vec<(String, String)> {
    let mut items = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in header.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                items.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    items.push(current);
    items
        .into_iter()
        .map(|item| {
            let item = item.trim();
            match item.split_once(';') {
                Some((name, rest)) => (name.trim().to_string(), rest.trim().to_string()),
                None => (item.to_string(), String::new()),
            }
        })
        .filter(|(name, _)| !name.is_empty())
        .collect()
}

/// The client's check of the server's Sec-WebSocket-Extensions values against
/// the offer: `None` when the server declined, the agreement when it accepted,
/// and a message for anything else (another extension, two answers, bad
/// parameters, a window larger than offered).
pub fn check_response(
    offer: &Params,
    values: &[String],
) -> Result<Option<(Params, Agreed)>, String> {
    let mut accepted: Option<(Params, Agreed)> = None;
    for (name, rest) in values.iter().flat_map(|v| extensions(v)) {
        if !name.eq_ignore_ascii_case(NAME) {
            return Err(format!(
                "the server accepted the extension '{}', which was not offered (offered: {NAME})",
                crate::text::escape(&name)
            ));
        }
        if accepted.is_some() {
            return Err(format!("the server accepted {NAME} twice"));
        }
        let response = Params::parse(&rest, false)
            .map_err(|e| format!("the server's {NAME} response is invalid: {e}"))?;
        let agreed = offer
            .accept(&response)
            .map_err(|e| format!("the server's {NAME} response cannot be accepted: {e}"))?;
        accepted = Some((response, agreed));
    }
    Ok(accepted)
}

/// The server's choice among a client's offers (the values of its
/// Sec-WebSocket-Extensions): the first valid permessage-deflate offer, answered
/// per `wishes`; offers with bad parameters are declined, as §7 allows.
pub fn choose(wishes: &Params, values: &[String]) -> Option<(Params, Agreed)> {
    values
        .iter()
        .flat_map(|v| extensions(v))
        .filter(|(name, _)| name.eq_ignore_ascii_case(NAME))
        .find_map(|(_, rest)| Params::parse(&rest, true).ok())
        .map(|offer| wishes.respond_to(&offer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(text: &str) -> Params {
        Params::parse(text, true).unwrap()
    }

    fn response(text: &str) -> Params {
        Params::parse(text, false).unwrap()
    }

    #[test]
    fn parses_and_formats_every_parameter() {
        let p = offer("server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits");
        assert_eq!(
            p,
            Params {
                server_no_context_takeover: true,
                client_no_context_takeover: true,
                server_max_window_bits: Some(10),
                client_max_window_bits: Some(None),
            }
        );
        assert_eq!(
            p.to_string(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits"
        );
        assert_eq!(offer(""), Params::default());
        assert_eq!(Params::default().to_string(), "permessage-deflate");
        assert_eq!(
            offer(" Client_Max_Window_Bits = \"9\" ;").client_max_window_bits,
            Some(Some(9))
        );
        assert_eq!(
            offer("client_max_window_bits=15").to_string(),
            "permessage-deflate; client_max_window_bits=15"
        );
    }

    #[test]
    fn rejects_duplicates_unknown_names_and_bad_values() {
        let err = |text: &str, offer: bool| Params::parse(text, offer).unwrap_err();
        assert!(err(
            "server_no_context_takeover; server_no_context_takeover",
            true
        )
        .contains("appears twice"));
        assert!(
            err("client_max_window_bits; client_max_window_bits=9", true).contains("appears twice")
        );
        assert!(
            err("server_max_window_bits=9; server_max_window_bits=10", true)
                .contains("appears twice")
        );
        assert!(err("x_bits=1", true).contains("unknown parameter 'x_bits'"));
        assert!(err("server_no_context_takeover=1", true).contains("takes no value"));
        assert!(err("server_max_window_bits", true).contains("needs a value"));
        assert!(err("client_max_window_bits", false).contains("needs a value"));
        for bad in ["7", "16", "010", "9a", "", "-9", "300"] {
            assert!(
                err(&format!("server_max_window_bits={bad}"), true).contains("must be 8 to 15"),
                "{bad}"
            );
        }
        assert_eq!(
            offer("server_max_window_bits=8").server_max_window_bits,
            Some(8)
        );
    }

    #[test]
    fn client_accepts_what_the_rfc_allows() {
        let browser = offer("client_max_window_bits");
        let agreed = browser.accept(&response("")).unwrap();
        assert_eq!(
            agreed,
            Agreed {
                server_no_context_takeover: false,
                client_no_context_takeover: false,
                server_max_window_bits: 15,
                client_max_window_bits: 15,
            }
        );
        // The server may limit its own window and ask for resets either way.
        let agreed = browser
            .accept(&response("server_max_window_bits=10; client_max_window_bits=9; server_no_context_takeover; client_no_context_takeover"))
            .unwrap();
        assert_eq!(
            (agreed.server_max_window_bits, agreed.client_max_window_bits),
            (10, 9)
        );
        assert!(agreed.server_no_context_takeover && agreed.client_no_context_takeover);
        // An offered client window holds even when the answer does not repeat it.
        let agreed = offer("client_max_window_bits=10")
            .accept(&response(""))
            .unwrap();
        assert_eq!(agreed.client_max_window_bits, 10);
    }

    #[test]
    fn client_refuses_what_the_rfc_forbids() {
        let refuse = |o: &str, r: &str| offer(o).accept(&response(r)).unwrap_err();
        assert!(refuse("", "client_max_window_bits=10").contains("did not include"));
        assert!(
            refuse("client_max_window_bits=9", "client_max_window_bits=10")
                .contains("larger than the 9")
        );
        assert!(
            refuse("server_max_window_bits=9", "server_max_window_bits=12")
                .contains("larger than the 9")
        );
        assert!(refuse("server_max_window_bits=9", "").contains("leaves out"));
        assert!(refuse("server_no_context_takeover", "").contains("leaves out"));
    }

    #[test]
    fn response_headers_are_checked_whole() {
        let browser = offer("client_max_window_bits");
        let check = |values: &[&str]| {
            let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
            check_response(&browser, &values)
        };
        assert_eq!(check(&[]).unwrap(), None);
        let (params, _) = check(&["permessage-deflate; client_max_window_bits=12"])
            .unwrap()
            .unwrap();
        assert_eq!(params.client_max_window_bits, Some(Some(12)));
        assert!(check(&["x-webkit-deflate-frame"])
            .unwrap_err()
            .contains("was not offered"));
        assert!(check(&["permessage-deflate, permessage-deflate"])
            .unwrap_err()
            .contains("twice"));
        assert!(check(&["permessage-deflate; bogus"])
            .unwrap_err()
            .contains("unknown parameter"));
        assert!(check(&["permessage-deflate; client_max_window_bits"])
            .unwrap_err()
            .contains("needs a value"));
    }

    #[test]
    fn server_chooses_the_first_valid_offer_and_adds_its_wishes() {
        let values = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let none = Params::default();
        // A browser's offer: nothing to limit, nothing to reset.
        let (response, agreed) = choose(
            &none,
            &values(&["permessage-deflate; client_max_window_bits"]),
        )
        .unwrap();
        assert_eq!(response.to_string(), "permessage-deflate");
        assert_eq!(agreed.client_max_window_bits, 15);
        // A bad offer is skipped for the next one; other extensions are ignored.
        let (response, agreed) = choose(
            &none,
            &values(&[
                "foo, permessage-deflate; bogus",
                "permessage-deflate; server_max_window_bits=10; client_no_context_takeover",
            ]),
        )
        .unwrap();
        assert_eq!(
            response.to_string(),
            "permessage-deflate; client_no_context_takeover; server_max_window_bits=10"
        );
        assert_eq!(agreed.server_max_window_bits, 10);
        assert!(agreed.client_no_context_takeover);
        assert_eq!(
            choose(&none, &values(&["foo", "permessage-deflate; x"])),
            None
        );
        // Wishes: the client's window only when it was offered, the smaller window wins.
        let wishes = offer(
            "server_no_context_takeover; server_max_window_bits=9; client_max_window_bits=10",
        );
        let (response, _) = choose(&wishes, &values(&["permessage-deflate"])).unwrap();
        assert_eq!(
            response.to_string(),
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=9"
        );
        let (response, agreed) = choose(
            &wishes,
            &values(&["permessage-deflate; client_max_window_bits=12; server_max_window_bits=12"]),
        )
        .unwrap();
        assert_eq!(response.client_max_window_bits, Some(Some(10)));
        assert_eq!(
            (agreed.server_max_window_bits, agreed.client_max_window_bits),
            (9, 10)
        );
        // The answer passes the client's own check.
        let o = offer("client_max_window_bits=12; server_max_window_bits=12");
        assert_eq!(
            o.accept(&wishes.respond_to(&o).0).unwrap(),
            wishes.respond_to(&o).1
        );
    }

    #[test]
    fn quoted_commas_do_not_split_extensions() {
        assert_eq!(
            extensions("a; x=\"1,2\", permessage-deflate"),
            [
                ("a".to_string(), "x=\"1,2\"".to_string()),
                ("permessage-deflate".to_string(), String::new())
            ]
        );
    }
}
