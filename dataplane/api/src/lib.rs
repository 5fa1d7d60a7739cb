//! The control API of vtepd, shared by the daemon and its clients.
//!
//! The wire is JSON lines over a Unix socket: one [`Request`] object per
//! line (tagged by `"cmd"`), one [`Reply`] per line (`{"ok": true, "data":
//! ...}` or `{"ok": false, "error": "..."}`). The `data` of each command is
//! one of the typed views of [`views`]; the keys are the contract of
//! DESIGN.md (`vtepctl --json` prints them as they are). This crate does
//! not depend on DPDK: vtepctl builds without it.
#![forbid(unsafe_code)]

pub mod client;
pub mod counters;
pub mod rates;
pub mod views;

use serde::{Deserialize, Serialize};

pub use views::*;

/// One control request. On the wire: `{"cmd": "fdb_add", "vni": 100, ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    Status,
    Stats,
    FdbShow {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        vni: Option<u32>,
    },
    FdbAdd {
        vni: u32,
        mac: String,
        remote: String,
    },
    FdbDel {
        vni: u32,
        mac: String,
    },
    FdbFlush {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        vni: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        remote: Option<String>,
    },
    VniShow,
    NeighShow,
    /// The ARP/ND suppression bindings (of one VNI, or all).
    ArpShow {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        vni: Option<u32>,
    },
    Reload,
    /// The devices' extended statistics (of one port, or all).
    Xstats {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        port: Option<String>,
    },
}

impl Request {
    /// The command name as spelled on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            Request::Status => "status",
            Request::Stats => "stats",
            Request::FdbShow { .. } => "fdb_show",
            Request::FdbAdd { .. } => "fdb_add",
            Request::FdbDel { .. } => "fdb_del",
            Request::FdbFlush { .. } => "fdb_flush",
            Request::VniShow => "vni_show",
            Request::NeighShow => "neigh_show",
            Request::ArpShow { .. } => "arp_show",
            Request::Reload => "reload",
            Request::Xstats { .. } => "xstats",
        }
    }

    /// Parses one request line; the error says what is wrong with it.
    pub fn parse(line: &str) -> Result<Request, String> {
        let v: serde_json::Value =
            serde_json::from_str(line.trim()).map_err(|e| format!("malformed request: {e}"))?;
        if !v.is_object() {
            return Err("request must be a JSON object".into());
        }
        if !v.get("cmd").is_some_and(serde_json::Value::is_string) {
            return Err("request has no \"cmd\" string".into());
        }
        let req: Request =
            serde_json::from_value(v.clone()).map_err(|e| format!("bad request: {e}"))?;
        // serde ignores extra keys on commands without fields: check them all.
        let known = serde_json::to_value(&req).unwrap_or_default();
        let given = v.as_object().into_iter().flatten();
        if let Some((k, _)) = given
            .filter(|(_, x)| !x.is_null())
            .find(|(k, _)| known.get(k).is_none())
        {
            return Err(format!(
                "bad request: unknown field `{k}` for {}",
                req.name()
            ));
        }
        Ok(req)
    }
}

/// The answer to a successful request; serialized as the reply's `data`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Response {
    Status(Box<Status>),
    Stats(Box<Stats>),
    Fdb(Vec<FdbEntry>),
    Added(Added),
    Deleted(Deleted),
    Flushed(Flushed),
    Vnis(Vec<VniInfo>),
    Neighbors(Vec<NeighEntry>),
    Arp(Vec<ArpEntry>),
    Reloaded(Reloaded),
    Xstats(Vec<PortXstats>),
}

/// One reply line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Reply {
    pub fn from_result(r: Result<Response, String>) -> Reply {
        match r {
            Ok(data) => Reply {
                ok: true,
                data: Some(serde_json::to_value(data).unwrap_or(serde_json::Value::Null)),
                error: None,
            },
            Err(e) => Reply::error(e),
        }
    }

    pub fn error(msg: impl Into<String>) -> Reply {
        Reply {
            ok: false,
            data: None,
            error: Some(msg.into()),
        }
    }

    /// The reply as one line of JSON, without the newline.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self)
            .unwrap_or_else(|_| r#"{"ok":false,"error":"unencodable reply"}"#.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_keep_their_wire_form() {
        let cases = [
            (Request::Status, r#"{"cmd":"status"}"#),
            (Request::FdbShow { vni: None }, r#"{"cmd":"fdb_show"}"#),
            (
                Request::FdbAdd {
                    vni: 100,
                    mac: "02:00:00:00:00:01".into(),
                    remote: "192.0.2.2".into(),
                },
                r#"{"cmd":"fdb_add","vni":100,"mac":"02:00:00:00:00:01","remote":"192.0.2.2"}"#,
            ),
            (
                Request::FdbFlush {
                    vni: Some(7),
                    remote: None,
                },
                r#"{"cmd":"fdb_flush","vni":7}"#,
            ),
            (
                Request::ArpShow { vni: Some(100) },
                r#"{"cmd":"arp_show","vni":100}"#,
            ),
            (Request::Reload, r#"{"cmd":"reload"}"#),
        ];
        for (req, wire) in cases {
            assert_eq!(serde_json::to_string(&req).unwrap(), wire);
            assert_eq!(Request::parse(wire).unwrap(), req);
            assert_eq!(req.name(), wire.split('"').nth(3).unwrap());
        }
        // Clients that send explicit nulls for absent options still work.
        assert_eq!(
            Request::parse(r#"{"cmd":"fdb_show","vni":null}"#).unwrap(),
            Request::FdbShow { vni: None }
        );
    }

    #[test]
    fn bad_requests_say_what_is_wrong() {
        let e = |s: &str| Request::parse(s).unwrap_err();
        assert!(e("this is not json").contains("malformed request"));
        assert!(e("[1]").contains("must be a JSON object"));
        assert!(e(r#"{"vni": 1}"#).contains("no \"cmd\""));
        assert!(e(r#"{"cmd":"nope"}"#).contains("unknown variant `nope`"));
        assert!(e(r#"{"cmd":"fdb_add","vni":1}"#).contains("missing field `mac`"));
        assert!(e(r#"{"cmd":"fdb_del","vni":-1,"mac":"x"}"#).contains("invalid value"));
        assert!(e(r#"{"cmd":"status","extra":1}"#).contains("unknown field"));
    }

    #[test]
    fn replies_carry_data_or_error() {
        let ok = Reply::from_result(Ok(Response::Flushed(Flushed { flushed: 3 })));
        assert_eq!(ok.to_line(), r#"{"ok":true,"data":{"flushed":3}}"#);
        let bad = Reply::from_result(Err("no".into()));
        assert_eq!(bad.to_line(), r#"{"ok":false,"error":"no"}"#);
    }
}
