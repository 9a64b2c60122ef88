//! The telco's side of every dialect: how a gateway builds each hop's request and how it reads
//! the reply. `njia dial --dialect` walks a menu with it so administrators see the exact wire
//! traffic, and the cross-dialect test walks every dialect with it.

/// One walk through a menu, as a gateway sees it.
pub struct Walk<'a> {
    /// The channel's path (`/ussd/hubtel`).
    pub path: &'a str,
    pub session: &'a str,
    /// The phone in international form without `+` (`254711000111`).
    pub phone: &'a str,
    /// What the citizen dialled (`*384#`, `*384*5#`).
    pub code: &'a str,
    /// The inputs typed so far; hop `k` carries the first `k`.
    pub inputs: &'a [String],
}

impl Walk<'_> {
    /// The code's own digits (`384`) and the digits dialled after it (`["5"]` for `*384*5#`).
    pub fn split_code(&self) -> (&str, Vec<&str>) {
        let inner = self.code.trim_start_matches('*').trim_end_matches('#');
        let mut parts = inner.split('*').filter(|p| !p.is_empty());
        let base = parts.next().unwrap_or("");
        (base, parts.collect())
    }

    /// The base code in dial form (`*384#`).
    pub fn base_code(&self) -> String {
        format!("*{}#", self.split_code().0)
    }

    /// The input typed just before hop `k` (empty on the first hop).
    pub fn last(&self, k: usize) -> &str {
        if k == 0 { "" } else { self.inputs.get(k - 1).map_or("", String::as_str) }
    }

    /// Everything typed up to hop `k` joined with `*`, digits dialled with the code first: the
    /// cumulative input of Africa's Talking and Safaricom.
    pub fn cumulative(&self, k: usize) -> String {
        let (_, extras) = self.split_code();
        let typed = self.inputs.iter().take(k).map(String::as_str);
        extras.into_iter().chain(typed).collect::<Vec<_>>().join("*")
    }
}

/// A request as it goes on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireRequest {
    pub method: &'static str,
    /// Path and query.
    pub target: String,
    pub content_type: &'static str,
    pub body: String,
}

impl WireRequest {
    /// The request line as printed: method and target.
    pub fn method_line(&self) -> String {
        format!("{} {}", self.method, self.target)
    }
}

/// A reply as it came off the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireReply {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl WireReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as JSON, or why it is not.
    pub fn json(&self) -> Result<serde_json::Value, String> {
        serde_json::from_str(&self.body).map_err(|e| format!("reply is not JSON ({e}): {}", self.body))
    }
}

/// What a gateway shows the citizen: the screen and whether the session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Screen {
    pub text: String,
    pub end: bool,
}

/// A dialect's gateway side.
pub struct Telco {
    /// The request for hop `k` of a walk.
    pub request: fn(&Walk<'_>, usize) -> WireRequest,
    /// The screen a reply shows, or why the gateway could not read it.
    pub read: fn(&WireReply) -> Result<Screen, String>,
}

pub const FORM: &str = "application/x-www-form-urlencoded";
pub const JSON: &str = "application/json";

/// Form-encodes pairs.
pub fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// A JSON POST to the channel path (plus `suffix`).
pub fn json_post(w: &Walk<'_>, suffix: &str, body: serde_json::Value) -> WireRequest {
    WireRequest { method: "POST", target: format!("{}{suffix}", w.path), content_type: JSON, body: body.to_string() }
}

/// A GET of the channel path with a query.
pub fn get(w: &Walk<'_>, pairs: &[(&str, &str)]) -> WireRequest {
    WireRequest {
        method: "GET",
        target: format!("{}?{}", w.path, form(pairs)),
        content_type: FORM,
        body: String::new(),
    }
}

/// Reads a `CON `/`END ` plain-text reply (Africa's Talking, Safaricom).
pub fn read_con_end(r: &WireReply) -> Result<Screen, String> {
    ok(r)?;
    match (r.body.strip_prefix("CON "), r.body.strip_prefix("END ")) {
        (Some(t), _) => Ok(Screen { text: t.to_owned(), end: false }),
        (_, Some(t)) => Ok(Screen { text: t.to_owned(), end: true }),
        _ => Err(format!("reply starts with neither CON nor END: {}", r.body)),
    }
}

/// A gateway treats anything but 200 as a failed session.
pub fn ok(r: &WireReply) -> Result<(), String> {
    if r.status == 200 { Ok(()) } else { Err(format!("HTTP {}: {}", r.status, r.body)) }
}

/// The string at `pointer` in a JSON reply.
pub fn json_str(v: &serde_json::Value, pointer: &str) -> Result<String, String> {
    v.pointer(pointer).and_then(|m| m.as_str()).map(str::to_owned).ok_or_else(|| format!("reply has no {pointer}: {v}"))
}
